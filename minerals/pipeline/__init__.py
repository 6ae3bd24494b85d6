"""Notebook runs: registry of notebooks, the Session, papermill reproduction, the book."""
