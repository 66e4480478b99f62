"""Importers, image decoding and validation, thumbnails (no Qt, no torch)."""
