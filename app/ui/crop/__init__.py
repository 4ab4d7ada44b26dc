"""The suggested crop: its geometry (no Qt), the overlay with handles, the card with the export."""
