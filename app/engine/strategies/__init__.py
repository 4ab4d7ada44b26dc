"""Analysis strategies (modes): how a critique is produced from a photo and an advisor."""
