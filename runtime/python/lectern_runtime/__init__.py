"""Lectern's content-side Python runners (one module per framework)."""
