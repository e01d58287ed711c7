"""The engine's allocation room."""
