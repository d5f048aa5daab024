"""Reusable dashboard pieces, one panel or helper per file."""
