"""The languages the server speaks: the one table that settings, voices and text all read."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Language:
    code: str  # what Wyoming clients and voice folders use ("de")
    name: str  # in English, for voice descriptions
    model_prefix: str  # pocket-tts model names of this language start with it ("german_24l")


LANGUAGES: dict[str, Language] = {
    language.code: language
    for language in (
        Language("en", "English", "english"),
        Language("fr", "French", "french"),
        Language("de", "German", "german"),
        Language("es", "Spanish", "spanish"),
        Language("it", "Italian", "italian"),
        Language("pt", "Portuguese", "portuguese"),
        Language("nl", "Dutch", "dutch"),
    )
}
CODES = frozenset(LANGUAGES)


def language_of_model(stem: str) -> str | None:
    """The language of a pocket-tts model name or config stem, None when it names none."""
    for language in LANGUAGES.values():
        if stem.startswith(language.model_prefix):
            return language.code
    return None


def language_name(code: str) -> str:
    language = LANGUAGES.get(code)
    return language.name if language is not None else code
