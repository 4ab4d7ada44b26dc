"""Asking the advisor about a photo and its critique: the thread, its worker tasks, its export."""
