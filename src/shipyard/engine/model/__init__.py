"""The engine's model room."""
