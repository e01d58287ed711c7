"""The engine's scheduling room."""
