"""The `info` event, built from the voice catalogue."""

from __future__ import annotations

from collections.abc import Iterable

from wyoming.info import Attribution, Info, TtsProgram, TtsVoice

from wyoming_tts import __version__
from wyoming_tts.voices import Voice

KYUTAI = Attribution(name="Kyutai", url="https://github.com/kyutai-labs/pocket-tts")
PROGRAM_NAME = "pocket-tts"


def build_info(voices: Iterable[Voice], library_version: str) -> Info:
    """One installed TTS program whose voices each carry their own language."""
    tts_voices = [
        TtsVoice(
            name=voice.name,
            description=voice.description,
            attribution=Attribution(
                name="Kyutai" if voice.kind == "builtin" else "Custom voice",
                url=_voice_url(voice),
            ),
            installed=True,
            version=library_version,
            languages=[voice.language],
        )
        for voice in voices
    ]
    program = TtsProgram(
        name=PROGRAM_NAME,
        description=f"Kyutai Pocket TTS {library_version} (wyoming-tts {__version__})",
        attribution=KYUTAI,
        installed=True,
        version=__version__,
        voices=tts_voices,
        supports_synthesize_streaming=True,
    )
    return Info(tts=[program])


def _voice_url(voice: Voice) -> str:
    if voice.origin and voice.origin.startswith("hf://"):
        repo = "/".join(voice.origin.removeprefix("hf://").split("/")[:2])
        return f"https://huggingface.co/{repo}"
    return voice.origin or KYUTAI.url
