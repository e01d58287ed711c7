"""The engine's agent room."""
