"""The Pocket TTS side: load, generate, encode voices, random-weight test models.

Importing this package imports nothing heavy: pocket-tts (and torch) come in with
`upstream`, the one module that names pocket-tts's parts, through `lean`.
"""
