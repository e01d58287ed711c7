"""The engine's api room."""
