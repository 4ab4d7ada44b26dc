"""The resident model: its thread (host), where it comes from (source), constrained decoding, cancel."""
