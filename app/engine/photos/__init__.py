"""Reading photos safely and preparing them once for measuring and for the model."""
