"""The Review view: the grid of a folder's frames, culled with Lightroom's keys, and the loupe."""
