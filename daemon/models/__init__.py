"""Models: the demo checkpoint, discovery, the loader, the lazy/offloading manager and GPU status.

Nothing here imports torch at package import; each module imports what it needs.
"""
