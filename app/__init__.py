"""Mondrian: private, offline photo critique from a local vision-language model."""

__version__ = "0.1.0"
