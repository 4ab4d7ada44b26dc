"""The shared base of the window: Qt work-arounds, theme, previews, the inference bridge and
its worker tasks, and small widgets every view uses. Imports no other part of ``app.ui``."""
