"""The Panel view: every chosen advisor's report on one photo, side by side."""
