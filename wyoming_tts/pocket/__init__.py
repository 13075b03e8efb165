"""The Pocket TTS side: load, generate, encode voices, random-weight test models.

pocket-tts is imported here first, without the modules a server never runs (see `lean`).
"""

from wyoming_tts.pocket.lean import import_pocket_tts

import_pocket_tts()
