"""Follow-up questions about a critique, and a suggested crop, in the advisor's voice."""
