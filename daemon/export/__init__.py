"""Merging adapters into the DiT and exporting them for other loaders (SM-4, SM-5)."""
