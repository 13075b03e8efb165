"""Cleanup of what LLMs and automations send: markdown, HTML, emoji, URLs, stray symbols."""

from __future__ import annotations

import html
import re

import regex

from wyoming_tts.text.lang import Words

_EMOJI = regex.compile(
    r"[\p{Extended_Pictographic}\p{Regional_Indicator}\u200d\ufe0e\ufe0f\u20e3"
    r"\U0001F3FB-\U0001F3FF]+"
)
_URL = re.compile(r"\b(?:https?://|www\.)[^\s<>\"']+", re.IGNORECASE)
_EMAIL = re.compile(r"\b([\w.+-]+)@([\w-]+(?:\.[\w-]+)+)\b")
_TERMINAL = ".!?…:;,"


def cleanup(text: str, words: Words) -> str:
    """Turn markup and symbols into plain sentences; apostrophes and punctuation stay."""
    text = html.unescape(text)
    text = re.sub(r"```.*?(?:```|$)", " ", text, flags=re.DOTALL)  # code blocks are not read
    text = re.sub(r"`([^`]*)`", r"\1", text)
    text = re.sub(r"!\[([^\]]*)\]\([^)]*\)", r"\1", text)  # images: their alt text
    text = re.sub(r"\[([^\]]+)\]\([^)]*\)", r"\1", text)  # links: their text
    text = re.sub(r"</?[A-Za-z][^<>]*>", " ", text)  # HTML tags
    text = _lines(text)
    text = re.sub(r"(\*\*|__)(?=\S)(.+?)(?<=\S)\1", r"\2", text)  # bold
    text = re.sub(r"(?<![\w*])\*(?=\S)([^*]+?)(?<=\S)\*(?![\w*])", r"\1", text)  # italics
    text = re.sub(r"(?<![\w_])_(?=\S)([^_]+?)(?<=\S)_(?![\w_])", r"\1", text)
    text = re.sub(r"~~(.+?)~~", r"\1", text)
    text = _EMAIL.sub(lambda m: f"{_host(m[1], words)} {words.at} {_host(m[2], words)}", text)
    text = _URL.sub(lambda m: _url(m[0], words), text)
    text = _EMOJI.sub(" ", text)
    text = re.sub(r"([!?])[!?]+", r"\1", text)  # "!!!" and "?!" read once
    text = re.sub(r"\.{4,}|…", "...", text)
    text = re.sub(r"([,;:])\1+", r"\1", text)
    text = re.sub(r"\s+[-–—]{2,}\s+|\s[–—]\s", ", ", text)  # dashes as a pause
    text = re.sub(r"[*#|~^_=<>{}\[\]\\•·]+", " ", text)  # stray symbols
    text = re.sub(r"\s+([,.!?;:])", r"\1", text)
    text = re.sub(r"([,;:])(?:\s*[,;:])+", r"\1", text)
    return " ".join(text.split())


def _lines(text: str) -> str:
    """Headings, list items, quotes and table rows each become a sentence of their own."""
    out = []
    for line in text.splitlines():
        stripped = line.strip()
        if re.fullmatch(r"\|?[\s:|-]*-{3,}[\s:|-]*\|?", stripped):
            continue  # table separator row
        heading = re.match(r"#{1,6}\s+(.*)", stripped)
        item = re.match(r"(?:[-*+•]|\d{1,2}[.)])\s+(.*)", stripped)
        quote = re.match(r">\s?(.*)", stripped)
        if "|" in stripped and stripped.count("|") >= 2:
            stripped = ", ".join(c.strip() for c in stripped.strip("|").split("|") if c.strip())
            stripped = _end_sentence(stripped)
        elif heading:
            stripped = _end_sentence(heading[1])
        elif item:
            stripped = _end_sentence(item[1])
        elif quote:
            stripped = quote[1]
        out.append(stripped)
    return "\n".join(out)


def _end_sentence(text: str) -> str:
    text = text.strip()
    return text if not text or text[-1] in _TERMINAL or text.endswith("**") else f"{text}."


def _host(host: str, words: Words) -> str:
    return f" {words.dot} ".join(p for p in host.split(".") if p)


def _url(url: str, words: Words) -> str:
    """A URL is read as its host name ("home-assistant dot io"), the rest is not read."""
    trailing = ""
    while url and url[-1] in ".,;:!?)":
        trailing = url[-1] + trailing
        url = url[:-1]
    host = re.sub(r"^(?:https?://)?(?:www\.)?", "", url, flags=re.IGNORECASE)
    host = re.split(r"[/:?#]", host, maxsplit=1)[0]
    if not re.fullmatch(r"[\w-]+(?:\.[\w-]+)+", host):
        return words.link + trailing
    return _host(host.lower(), words) + trailing
