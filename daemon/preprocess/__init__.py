"""Preprocessing: audio and labels to training tensors (the `preprocess` job and the tensor folder)."""
