"""Reviewing a whole shoot: scan a folder, critique every frame (resumable), rank, group bursts, cull,
and hand the ratings to Lightroom, Capture One or darktable through XMP sidecars."""
