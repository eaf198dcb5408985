"""Data: sources, the uint8 cache, user images, batch transforms, the pixel permutation, the task modules.
Imports nothing from the rest of core except config and errors."""
