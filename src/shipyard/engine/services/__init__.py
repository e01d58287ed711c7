"""The engine's services room."""
