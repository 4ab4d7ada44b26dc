"""The Critique tab: pickers, live stream, report, comparison, blind A/B, exports."""
