"""Numbers as words, per language: dates, times, money, units, ordinals, ranges, digits.

Every number is spelled by num2words; the passes below only decide what a run of digits is
(a date, a time, a phone number, an amount, ...) and in which order to read it.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

from num2words import CONVERTER_CLASSES, num2words

from wyoming_tts.text.dates import dates_and_times
from wyoming_tts.text.lang import Words, before_noun, cardinal, ordinal, year

_NUM = r"\d+(?:[.,]\d+)*"
_NOT_BEFORE = r"(?<![\w.,])"
_NOT_AFTER = r"(?![\w]|[.,]\d)"
_CURRENCIES = {"€": "EUR", "$": "USD", "£": "GBP", "EUR": "EUR", "USD": "USD", "GBP": "GBP"}


def normalize_numbers(text: str, words: Words) -> str:
    """Replace every number in TEXT by the words LANGUAGE says for it."""
    for step in _STEPS:
        text = step(text, words)
    return text


def digits(text: str, words: Words) -> str:
    """Read a run of digits one by one."""
    return " ".join(cardinal(int(d), words) for d in text if d.isdigit())


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
        if re.fullmatch(rf"\d{{1,3}}(?:{re.escape(sep)}\d{{3}})+", token) and (
            sep != words.decimal or token.count(sep) > 1
        ):
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
    value = parse_number(body, words)
    if value is None:
        spoken = ", ".join(spell(part, words) for part in re.split(r"[.,]", body) if part)
    elif body.isdigit() and (len(body) >= 7 or (len(body) > 1 and body.startswith("0"))):
        spoken = digits(body, words)  # codes and long numbers: digit by digit
    else:
        spoken = cardinal(value, words)
    return f"{_minus(words)} {spoken}" if negative else spoken


def _phones(text: str, words: Words) -> str:
    def repl(m: re.Match[str]) -> str:
        groups = [g for g in re.split(r"[\s()/-]+", m[0].lstrip("+")) if g]
        spoken = ", ".join(digits(g, words) for g in groups)
        return f"{words.plus} {spoken}" if m[0].startswith("+") else spoken

    text = re.sub(r"(?<![\w+])\+\d{1,3}(?:[ -]?\(?\d{1,5}\)?){2,}(?![\w])", repl, text)
    text = re.sub(r"(?<![\w.,-])0\d{1,4}[ /-]\d{3,}(?:[ -]\d{2,})*(?![\w.,-])", repl, text)
    return re.sub(r"(?<![\w.,-])\d{3}-\d{3}-\d{4}(?![\w-])", repl, text)


def _ips_and_versions(text: str, words: Words) -> str:
    def ip(m: re.Match[str]) -> str:
        return f" {words.dot} ".join(cardinal(int(p), words) for p in m[0].split("."))

    text = re.sub(r"(?<![\w.])\d{1,3}(?:\.\d{1,3}){3}(?![\w]|\.\d)", ip, text)

    def version(m: re.Match[str]) -> str:
        body = m[2]
        if not m[1] and re.fullmatch(r"\d{1,3}(?:\.\d{3})+", body) and words.decimal == ",":
            return m[0]  # 1.000.000 is a number in German
        spoken = f" {words.point} ".join(cardinal(int(p), words) for p in body.split("."))
        return f"{words.version} {spoken}" if m[1] else spoken

    text = re.sub(r"(?<![\w.])([vV])(\d+(?:\.\d+)+)(?![\w]|\.\d)", version, text)
    return re.sub(r"(?<![\w.])()(\d+\.\d+(?:\.\d+)+)(?![\w]|\.\d)", version, text)


def _money(amount: Decimal, code: str, words: Words) -> str:
    converter = CONVERTER_CLASSES[words.code]
    forms = converter.CURRENCY_FORMS.get(code)
    if forms is None:
        return f"{cardinal(amount, words)} {code}"
    whole = int(amount)
    cents = int((amount - whole) * 100)
    parts = []
    if whole or not cents:
        spoken = before_noun(cardinal(whole, words), words)
        parts.append(f"{spoken} {converter.pluralize(whole, forms[0])}")
    if cents:
        parts.append(f"{cardinal(cents, words)} {converter.pluralize(cents, forms[1])}")
    return f" {words.and_} ".join(parts)


def _currency(text: str, words: Words) -> str:
    def say(token: str, symbol: str, original: str) -> str:
        amount = parse_number(token.lstrip("-"), words)
        if amount is None:
            return original
        spoken = _money(amount, _CURRENCIES[symbol], words)
        return f"{_minus(words)} {spoken}" if token.startswith("-") else spoken

    text = re.sub(
        rf"{_NOT_BEFORE}([€$£])\s?(-?{_NUM})(?!\w)", lambda m: say(m[2], m[1], m[0]), text
    )
    return re.sub(
        rf"{_NOT_BEFORE}(-?{_NUM})\s?([€£$]|EUR|USD|GBP)(?!\w)",
        lambda m: say(m[1], m[2], m[0]),
        text,
    )


def _minus(words: Words) -> str:
    return str(num2words(-1, lang=words.code)).split()[0]


def _ordinals(text: str, words: Words) -> str:
    code = words.code
    if code == "en":
        return re.sub(
            r"(?<![\w.,])(\d+)(?:st|nd|rd|th)\b", lambda m: ordinal(int(m[1]), words), text
        )
    if code == "fr":

        def fr(m: re.Match[str]) -> str:
            value = int(m[1])
            if value == 1:
                return "première" if m[2] in ("re", "ère") else "premier"
            return ordinal(value, words)

        return re.sub(r"(?<![\w.,])(\d+)(er|re|ère|ème|eme|e)\b", fr, text)
    if code == "nl":
        return re.sub(r"(?<![\w.,])(\d+)(?:ste|de|e)\b", lambda m: ordinal(int(m[1]), words), text)
    if code in ("es", "it", "pt"):
        return re.sub(r"(?<![\w.,])(\d+)\.?[ºª]", lambda m: ordinal(int(m[1]), words), text)
    if code == "de":
        return re.sub(
            r"(?<![\w.,])(\d{1,2})\.(?=\s+[A-Za-zÄÖÜäöüß])",
            lambda m: ordinal(int(m[1]), words),
            text,
        )
    return text


_BETWEEN = r"(?:between|zwischen|entre|tra|fra|tussen)"


def _ranges(text: str, words: Words) -> str:
    """'10-20' is 'ten to twenty'; 'between 10-20' is 'between ten and twenty'."""

    def repl(m: re.Match[str]) -> str:
        joiner = words.and_ if m[1] else words.to
        return f"{m[1] or ''}{m[2]} {joiner} {m[3]}"

    return re.sub(
        rf"(\b{_BETWEEN}\s+)?{_NOT_BEFORE}({_NUM})\s?[-–]\s?({_NUM}){_NOT_AFTER}",
        repl,
        text,
        flags=re.IGNORECASE,
    )


def _letters_and_digits(text: str, words: Words) -> str:
    """'PM2.5' and 'CO2' are read as letters then a number."""
    return re.sub(r"\b([A-Z]{1,3})(\d+(?:[.,]\d+)?)\b", r"\1 \2", text)


def _units(text: str, words: Words) -> str:
    symbols = "|".join(re.escape(s) for s in words.units)

    def repl(m: re.Match[str]) -> str:
        token = m[1]
        value = parse_number(token.lstrip("-"), words)
        singular, plural = words.units[m[2]]
        one = value is not None and (abs(value) < 2 if words.code == "fr" else abs(value) == 1)
        return f"{before_noun(spell(token, words), words)} {singular if one else plural}"

    return re.sub(rf"{_NOT_BEFORE}(-?{_NUM})\s?({symbols})(?![\w/²³])", repl, text)


def _plain_numbers(text: str, words: Words) -> str:
    def repl(m: re.Match[str]) -> str:
        token = m[2]
        if re.fullmatch(r"1[1-9]\d\d|20\d\d", token):
            spoken = year(int(token), words)
        else:
            spoken = spell(token, words)
        if m[1]:
            spoken = f"{_minus(words)} {spoken}"
        return spoken

    return re.sub(rf"(?<![\w.,])(-(?=\d))?({_NUM})(?!\w)", repl, text)


def _german_case(text: str, words: Words) -> str:
    """'am erste Mai' -> 'am ersten Mai': the dative after am, vom, zum, ..."""
    if words.code != "de":
        return text
    return re.sub(
        r"\b((?:[Aa]m|[Vv]om|[Zz]um|[Bb]eim|[Ii]m|[Dd]em|[Dd]en|[Ss]eit dem)\s+\w+?(?:ste|te))\b",
        r"\1n",
        text,
    )


def _symbols(text: str, words: Words) -> str:
    text = re.sub(r"\s&\s", f" {words.and_} ", text)
    return re.sub(r"(?<=\s)\+(?=\s)", words.plus, text)


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
