"""Tiny JSON helpers."""
__version__ = "0.4.0"
