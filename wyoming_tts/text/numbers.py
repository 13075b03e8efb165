"""Numbers as words, per language: dates, times, money, units, ordinals, ranges, digits.

Every number is spelled by num2words; the passes below only decide what a run of digits is
(a date, a time, a phone number, an amount, ...) and in which order to read it.
"""

from __future__ import annotations

import re
import time
from decimal import Decimal, InvalidOperation

from num2words import num2words

from wyoming_tts.text.dates import dates_and_times
from wyoming_tts.text.lang import WORDS, Words, before_noun, cardinal, ordinal, year

# Every pattern is compiled here, at module level, so that a test can drive each of them with
# hostile input. Runs of digits and separators use possessive quantifiers: once matched they
# are never given back, so no pattern backtracks over a long run.
_NUM = r"\d++(?:[.,]\d++)*+"
_NOT_BEFORE = r"(?<![\w.,])"
_NOT_AFTER = r"(?![\w]|[.,]\d)"
_CURRENCIES = {"€": "EUR", "$": "USD", "£": "GBP", "EUR": "EUR", "USD": "USD", "GBP": "GBP"}
# A number with more digits than this is read in groups of digits, not as one number.
MAX_NUMBER_DIGITS = 15
_GROUP_DIGITS = 3
# All number passes of one piece of text together get this long; past it the piece is spoken
# as written (patterns are linear, so only a bug could reach it).
BUDGET_SECONDS = 0.5

_THOUSANDS = {sep: re.compile(rf"\d{{1,3}}+(?:{re.escape(sep)}\d{{3}})++") for sep in ",."}
_SEPARATORS = re.compile(r"[.,]")
_PHONE_INTL = re.compile(r"(?<![\w+])\+\d{1,3}+(?:[ -]?+\(?+\d{1,5}+\)?+){2,}+(?![\w])")
_PHONE_LOCAL = re.compile(r"(?<![\w.,-])0\d{1,4}+[ /-]\d{3,}+(?:[ -]\d{2,}+)*+(?![\w.,-])")
_PHONE_US = re.compile(r"(?<![\w.,-])\d{3}-\d{3}-\d{4}(?![\w-])")
_PHONE_GROUPS = re.compile(r"[\s()/-]+")
_IP = re.compile(r"(?<![\w.])\d{1,3}+(?:\.\d{1,3}+){3}(?![\w]|\.\d)")
_GERMAN_MILLIONS = re.compile(r"\d{1,3}+(?:\.\d{3})++")
_VERSION_V = re.compile(r"(?<![\w.])([vV])(\d++(?:\.\d++)++)(?![\w]|\.\d)")
_VERSION = re.compile(r"(?<![\w.])()(\d++\.\d++(?:\.\d++)++)(?![\w]|\.\d)")
_CURRENCY_BEFORE = re.compile(rf"{_NOT_BEFORE}([€$£])\s?+(-?{_NUM})(?!\w)")
_CURRENCY_AFTER = re.compile(rf"{_NOT_BEFORE}(-?{_NUM})\s?+([€£$]|EUR|USD|GBP)(?!\w)")
_ORDINALS = {
    "en": re.compile(r"(?<![\w.,])(\d++)(?:st|nd|rd|th)\b"),
    "fr": re.compile(r"(?<![\w.,])(\d++)(er|re|ère|ème|eme|e)\b"),
    "nl": re.compile(r"(?<![\w.,])(\d++)(?:ste|de|e)\b"),
    "es": re.compile(r"(?<![\w.,])(\d++)\.?+[ºª]"),
    "de": re.compile(r"(?<![\w.,])(\d{1,2}+)\.(?=\s+[A-Za-zÄÖÜäöüß])"),
}
_ORDINALS["it"] = _ORDINALS["pt"] = _ORDINALS["es"]
_BETWEEN = r"(?:between|zwischen|entre|tra|fra|tussen)"
_RANGE = re.compile(
    rf"(\b{_BETWEEN}\s++)?{_NOT_BEFORE}({_NUM})\s?+[-–]\s?+({_NUM}){_NOT_AFTER}", re.I
)
_LETTERS_DIGITS = re.compile(r"\b([A-Z]{1,3}+)(\d++(?:[.,]\d++)?+)\b")
_UNITS = {
    code: re.compile(
        rf"{_NOT_BEFORE}(-?{_NUM})\s?+({'|'.join(re.escape(s) for s in words.units)})(?![\w/²³])"
    )
    for code, words in WORDS.items()
}
_YEAR = re.compile(r"1[1-9]\d\d|20\d\d")
_PLAIN = re.compile(rf"(?<![\w.,])(-(?=\d))?({_NUM})(?!\w)")
_GERMAN_DATIVE = re.compile(
    r"\b((?:[Aa]m|[Vv]om|[Zz]um|[Bb]eim|[Ii]m|[Dd]em|[Dd]en|[Ss]eit dem)\s++\w{1,30}?(?:ste|te))\b"
)
_AMPERSAND = re.compile(r"\s&\s")
_PLUS = re.compile(r"(?<=\s)\+(?=\s)")


class NormalizeOverrun(Exception):
    """The number passes took longer than BUDGET_SECONDS on one piece of text."""


def normalize_numbers(text: str, words: Words) -> str:
    """Replace every number in TEXT by the words LANGUAGE says for it."""
    deadline = time.monotonic() + BUDGET_SECONDS
    for step in _STEPS:
        text = step(text, words)
        if time.monotonic() > deadline:
            raise NormalizeOverrun(f"number passes over {BUDGET_SECONDS} s at {step.__name__}")
    return text


def digits(text: str, words: Words) -> str:
    """Read a run of digits one by one."""
    return " ".join(cardinal(int(d), words) for d in text if d.isdigit())


def digit_groups(text: str, words: Words) -> str:
    """Read a number too long to say as one: its digits in groups ("one two three, ...")."""
    groups: list[str] = []
    for written in _SEPARATORS.split(text):  # the groups as written, long ones cut in threes
        run = "".join(c for c in written if c.isdigit())
        groups.extend(run[i : i + _GROUP_DIGITS] for i in range(0, len(run), _GROUP_DIGITS))
    return ", ".join(digits(group, words) for group in groups if group)


def parse_number(token: str, words: Words) -> Decimal | None:
    """The value of a written number in this language, or None when it is not one number."""
    token = token.strip()
    if "." in token and "," in token:
        decimal = "." if token.rfind(".") > token.rfind(",") else ","
        thousands = "," if decimal == "." else "."
        if token.count(decimal) > 1:
            return None
        token = token.replace(thousands, "").replace(decimal, ".")
    elif "," in token or "." in token:
        sep = "," if "," in token else "."
        if _THOUSANDS[sep].fullmatch(token) and (sep != words.decimal or token.count(sep) > 1):
            token = token.replace(sep, "")  # thousands: 1,000 in English, 1.000 in German
        elif token.count(sep) == 1 and (sep == words.decimal or sep == "."):
            token = token.replace(sep, ".")
        else:
            return None
    try:
        return Decimal(token)
    except InvalidOperation:
        return None


def spell(token: str, words: Words) -> str:
    """Words for one written number (decimals, thousands separators, a leading minus)."""
    negative = token.startswith("-")
    body = token.lstrip("-")
    if sum(c.isdigit() for c in body) > MAX_NUMBER_DIGITS:
        spoken = digit_groups(body, words)
        return f"{_minus(words)} {spoken}" if negative else spoken
    value = parse_number(body, words)
    if value is None:
        spoken = ", ".join(spell(part, words) for part in _SEPARATORS.split(body) if part)
    elif body.isdigit() and (len(body) >= 7 or (len(body) > 1 and body.startswith("0"))):
        spoken = digits(body, words)  # codes and long numbers: digit by digit
    else:
        spoken = cardinal(value, words)
    return f"{_minus(words)} {spoken}" if negative else spoken


def _phones(text: str, words: Words) -> str:
    def repl(m: re.Match[str]) -> str:
        groups = [g for g in _PHONE_GROUPS.split(m[0].lstrip("+")) if g]
        spoken = ", ".join(digits(g, words) for g in groups)
        return f"{words.plus} {spoken}" if m[0].startswith("+") else spoken

    text = _PHONE_INTL.sub(repl, text)
    text = _PHONE_LOCAL.sub(repl, text)
    return _PHONE_US.sub(repl, text)


def _ips_and_versions(text: str, words: Words) -> str:
    def ip(m: re.Match[str]) -> str:
        return f" {words.dot} ".join(cardinal(int(p), words) for p in m[0].split("."))

    text = _IP.sub(ip, text)

    def version(m: re.Match[str]) -> str:
        body = m[2]
        if not m[1] and _GERMAN_MILLIONS.fullmatch(body) and words.decimal == ",":
            return m[0]  # 1.000.000 is a number in German
        spoken = f" {words.point} ".join(_whole(p, words) for p in body.split("."))
        return f"{words.version} {spoken}" if m[1] else spoken

    text = _VERSION_V.sub(version, text)
    return _VERSION.sub(version, text)


def _money(amount: Decimal, code: str, words: Words) -> str:
    if amount >= 10**MAX_NUMBER_DIGITS:
        return f"{digit_groups(str(int(amount)), words)} {code}"
    amount = amount.quantize(Decimal("0.01"))
    try:
        # A separator no word contains, to tell the whole part from the cents.
        spoken = str(
            num2words(amount, lang=words.code, to="currency", currency=code, separator="|")
        )
    except NotImplementedError:  # a currency this language's converter does not know
        return f"{cardinal(amount, words)} {code}"
    whole, _, cents = (part.strip() for part in str(spoken).partition("|"))
    parts = []
    if amount >= 1 or amount % 1 == 0:
        parts.append(whole)
    if amount % 1:
        parts.append(cents)
    return f" {words.and_} ".join(parts)


def _currency(text: str, words: Words) -> str:
    def say(token: str, symbol: str, original: str) -> str:
        amount = parse_number(token.lstrip("-"), words)
        if amount is None:
            return original
        spoken = _money(amount, _CURRENCIES[symbol], words)
        return f"{_minus(words)} {spoken}" if token.startswith("-") else spoken

    text = _CURRENCY_BEFORE.sub(lambda m: say(m[2], m[1], m[0]), text)
    return _CURRENCY_AFTER.sub(lambda m: say(m[1], m[2], m[0]), text)


def _minus(words: Words) -> str:
    return str(num2words(-1, lang=words.code)).split()[0]


def _ordinals(text: str, words: Words) -> str:
    pattern = _ORDINALS.get(words.code)
    if pattern is None:
        return text
    if words.code == "fr":

        def fr(m: re.Match[str]) -> str:
            value = int(m[1])
            if value == 1:
                return "première" if m[2] in ("re", "ère") else "premier"
            return _ordinal(m[1], words)

        return pattern.sub(fr, text)
    return pattern.sub(lambda m: _ordinal(m[1], words), text)


def _whole(token: str, words: Words) -> str:
    """A run of digits said as one number, or in digit groups when it is too long."""
    if len(token) > MAX_NUMBER_DIGITS:
        return digit_groups(token, words)
    return cardinal(int(token), words)


def _ordinal(token: str, words: Words) -> str:
    if len(token) > MAX_NUMBER_DIGITS:
        return digit_groups(token, words)
    return ordinal(int(token), words)


_BETWEEN = r"(?:between|zwischen|entre|tra|fra|tussen)"


def _ranges(text: str, words: Words) -> str:
    """'10-20' is 'ten to twenty'; 'between 10-20' is 'between ten and twenty'."""

    def repl(m: re.Match[str]) -> str:
        joiner = words.and_ if m[1] else words.to
        return f"{m[1] or ''}{m[2]} {joiner} {m[3]}"

    return _RANGE.sub(repl, text)


def _letters_and_digits(text: str, words: Words) -> str:
    """'PM2.5' and 'CO2' are read as letters then a number."""
    return _LETTERS_DIGITS.sub(r"\1 \2", text)


def _units(text: str, words: Words) -> str:
    def repl(m: re.Match[str]) -> str:
        token = m[1]
        value = parse_number(token.lstrip("-"), words)
        singular, plural = words.units[m[2]]
        one = value is not None and (abs(value) < 2 if words.code == "fr" else abs(value) == 1)
        return f"{before_noun(spell(token, words), words)} {singular if one else plural}"

    return _UNITS[words.code].sub(repl, text)


def _plain_numbers(text: str, words: Words) -> str:
    def repl(m: re.Match[str]) -> str:
        token = m[2]
        if _YEAR.fullmatch(token):
            spoken = year(int(token), words)
        else:
            spoken = spell(token, words)
        if m[1]:
            spoken = f"{_minus(words)} {spoken}"
        return spoken

    return _PLAIN.sub(repl, text)


def _german_case(text: str, words: Words) -> str:
    """'am erste Mai' -> 'am ersten Mai': the dative after am, vom, zum, ..."""
    if words.code != "de":
        return text
    return _GERMAN_DATIVE.sub(r"\1n", text)


def _symbols(text: str, words: Words) -> str:
    text = _AMPERSAND.sub(f" {words.and_} ", text)
    return _PLUS.sub(words.plus, text)


_STEPS = (
    _letters_and_digits,
    dates_and_times,
    _phones,
    _ips_and_versions,
    _currency,
    _ordinals,
    _ranges,
    _units,
    _plain_numbers,
    _german_case,
    _symbols,
)
