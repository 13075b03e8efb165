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
_URL = re.compile(r"\b(?:https?://|www\.)[^\s<>\"']++", re.IGNORECASE)
_EMAIL = re.compile(r"\b([\w.+-]{1,64}+)@([\w-]{1,63}+(?:\.[\w-]{1,63}+){1,8}+)\b")
_TERMINAL = ".!?…:;,"
_TABLE_RULE_CHARS = " \t:|-"  # a markdown table's separator row has only these
# Every pattern is compiled here so a test can drive each with hostile input. Each is linear:
# lazy runs stop at a character the run cannot contain, or are bounded.
_CODE_BLOCK = re.compile(r"```.*?(?:```|$)", re.DOTALL)
_INLINE_CODE = re.compile(r"`([^`]*+)`")
_IMAGE = re.compile(r"!\[([^\]\[]*+)\]\([^()]*+\)")
_LINK = re.compile(r"\[([^\]\[]++)\]\([^()]*+\)")
_TAG = re.compile(r"</?[A-Za-z][^<>]*+>")
_BOLD = re.compile(r"(\*\*|__)(?=\S)(.{1,400}?)(?<=\S)\1")
_ITALIC_STAR = re.compile(r"(?<![\w*])\*(?=\S)([^*]{1,400}?)(?<=\S)\*(?![\w*])")
_ITALIC_UNDERSCORE = re.compile(r"(?<![\w_])_(?=\S)([^_]{1,400}?)(?<=\S)_(?![\w_])")
_STRIKE = re.compile(r"~~(.{1,400}?)~~")
_REPEATED_MARKS = re.compile(r"([!?])[!?]++")
_ELLIPSIS = re.compile(r"\.{4,}+|…")
_REPEATED_CLAUSE = re.compile(r"([,;:])\1++")
_DASH_PAUSE = re.compile(r"(?<!\s)\s++[-–—]{2,}+\s++|\s[–—]\s")
_STRAY = re.compile(r"[*#|~^_=<>{}\[\]\\•·]++")
_SPACE_BEFORE_MARK = re.compile(r"(?<!\s)\s++([,.!?;:])")
_CLAUSE_RUN = re.compile(r"([,;:])(?:\s*+[,;:])++")
_HEADING = re.compile(r"#{1,6}+\s++(.*)")
_ITEM = re.compile(r"(?:[-*+•]|\d{1,2}+[.)])\s++(.*)")
_QUOTE = re.compile(r">\s?(.*)")
_SCHEME = re.compile(r"^(?:https?://)?+(?:www\.)?+", re.IGNORECASE)
_HOST_END = re.compile(r"[/:?#]")
_HOST = re.compile(r"(?<![\w-])[\w-]++(?:\.[\w-]++)++")


def cleanup(text: str, words: Words) -> str:
    """Turn markup and symbols into plain sentences; apostrophes and punctuation stay."""
    text = html.unescape(text)
    text = _CODE_BLOCK.sub(" ", text)  # code blocks are not read
    text = _INLINE_CODE.sub(r"\1", text)
    text = _IMAGE.sub(r"\1", text)  # images: their alt text
    text = _LINK.sub(r"\1", text)  # links: their text
    text = _TAG.sub(" ", text)  # HTML tags
    text = _lines(text)
    text = _BOLD.sub(r"\2", text)
    text = _ITALIC_STAR.sub(r"\1", text)
    text = _ITALIC_UNDERSCORE.sub(r"\1", text)
    text = _STRIKE.sub(r"\1", text)
    text = _EMAIL.sub(lambda m: f"{_host(m[1], words)} {words.at} {_host(m[2], words)}", text)
    text = _URL.sub(lambda m: _url(m[0], words), text)
    text = _EMOJI.sub(" ", text)
    text = _REPEATED_MARKS.sub(r"\1", text)  # "!!!" and "?!" read once
    text = _ELLIPSIS.sub("...", text)
    text = _REPEATED_CLAUSE.sub(r"\1", text)
    text = _DASH_PAUSE.sub(", ", text)  # dashes as a pause
    text = _STRAY.sub(" ", text)  # stray symbols
    text = _SPACE_BEFORE_MARK.sub(r"\1", text)
    text = _CLAUSE_RUN.sub(r"\1", text)
    return " ".join(text.split())


def _lines(text: str) -> str:
    """Headings, list items, quotes and table rows each become a sentence of their own."""
    out = []
    for line in text.splitlines():
        stripped = line.strip()
        if "---" in stripped and not stripped.strip(_TABLE_RULE_CHARS):
            continue  # table separator row
        heading = _HEADING.match(stripped)
        item = _ITEM.match(stripped)
        quote = _QUOTE.match(stripped)
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
    host = _SCHEME.sub("", url, count=1)
    host = _HOST_END.split(host, maxsplit=1)[0]
    if not _HOST.fullmatch(host):
        return words.link + trailing
    return _host(host.lower(), words) + trailing
