"""The Pocket TTS side: load, generate, encode voices, random-weight test models."""
