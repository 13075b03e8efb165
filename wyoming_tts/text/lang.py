"""The words each language needs around numbers: units, months, time and date patterns.

Numbers themselves are always spelled by num2words; these tables only hold the words that
num2words does not know (unit names, "to" in a range, "percent", month names).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from num2words import num2words

from wyoming_tts.languages import CODES

_MONTHS = {
    "en": "January February March April May June July August September October November December",
    "de": "Januar Februar März April Mai Juni Juli August September Oktober November Dezember",
    "fr": "janvier février mars avril mai juin juillet août septembre octobre novembre décembre",
    "es": "enero febrero marzo abril mayo junio julio agosto septiembre octubre noviembre "
    "diciembre",
    "it": "gennaio febbraio marzo aprile maggio giugno luglio agosto settembre ottobre novembre "
    "dicembre",
    "pt": "janeiro fevereiro março abril maio junho julho agosto setembro outubro novembro "
    "dezembro",
    "nl": "januari februari maart april mei juni juli augustus september oktober november december",
}

# Unit symbol -> (singular, plural) per language. Longest symbols are matched first.
_UNITS: dict[str, dict[str, tuple[str, str]]] = {
    "en": {
        "°C": ("degree Celsius", "degrees Celsius"),
        "°F": ("degree Fahrenheit", "degrees Fahrenheit"),
        "°": ("degree", "degrees"),
        "%": ("percent", "percent"),
        "kWh": ("kilowatt hour", "kilowatt hours"),
        "Wh": ("watt hour", "watt hours"),
        "kW": ("kilowatt", "kilowatts"),
        "W": ("watt", "watts"),
        "V": ("volt", "volts"),
        "mA": ("milliampere", "milliamperes"),
        "A": ("ampere", "amperes"),
        "km/h": ("kilometer per hour", "kilometers per hour"),
        "mph": ("mile per hour", "miles per hour"),
        "m/s": ("meter per second", "meters per second"),
        "hPa": ("hectopascal", "hectopascals"),
        "mbar": ("millibar", "millibars"),
        "mm": ("millimeter", "millimeters"),
        "cm": ("centimeter", "centimeters"),
        "km": ("kilometer", "kilometers"),
        "m": ("meter", "meters"),
        "kg": ("kilogram", "kilograms"),
        "g": ("gram", "grams"),
        "mL": ("milliliter", "milliliters"),
        "ml": ("milliliter", "milliliters"),
        "L": ("liter", "liters"),
        "l": ("liter", "liters"),
        "lx": ("lux", "lux"),
        "ppm": ("part per million", "parts per million"),
        "µg/m³": ("microgram per cubic meter", "micrograms per cubic meter"),
        "dB": ("decibel", "decibels"),
        "min": ("minute", "minutes"),
        "h": ("hour", "hours"),
        "s": ("second", "seconds"),
    },
    "de": {
        "°C": ("Grad Celsius", "Grad Celsius"),
        "°F": ("Grad Fahrenheit", "Grad Fahrenheit"),
        "°": ("Grad", "Grad"),
        "%": ("Prozent", "Prozent"),
        "kWh": ("Kilowattstunde", "Kilowattstunden"),
        "Wh": ("Wattstunde", "Wattstunden"),
        "kW": ("Kilowatt", "Kilowatt"),
        "W": ("Watt", "Watt"),
        "V": ("Volt", "Volt"),
        "mA": ("Milliampere", "Milliampere"),
        "A": ("Ampere", "Ampere"),
        "km/h": ("Kilometer pro Stunde", "Kilometer pro Stunde"),
        "mph": ("Meile pro Stunde", "Meilen pro Stunde"),
        "m/s": ("Meter pro Sekunde", "Meter pro Sekunde"),
        "hPa": ("Hektopascal", "Hektopascal"),
        "mbar": ("Millibar", "Millibar"),
        "mm": ("Millimeter", "Millimeter"),
        "cm": ("Zentimeter", "Zentimeter"),
        "km": ("Kilometer", "Kilometer"),
        "m": ("Meter", "Meter"),
        "kg": ("Kilogramm", "Kilogramm"),
        "g": ("Gramm", "Gramm"),
        "mL": ("Milliliter", "Milliliter"),
        "ml": ("Milliliter", "Milliliter"),
        "L": ("Liter", "Liter"),
        "l": ("Liter", "Liter"),
        "lx": ("Lux", "Lux"),
        "ppm": ("ppm", "ppm"),
        "µg/m³": ("Mikrogramm pro Kubikmeter", "Mikrogramm pro Kubikmeter"),
        "dB": ("Dezibel", "Dezibel"),
        "min": ("Minute", "Minuten"),
        "h": ("Stunde", "Stunden"),
        "s": ("Sekunde", "Sekunden"),
    },
    "fr": {
        "°C": ("degré Celsius", "degrés Celsius"),
        "°F": ("degré Fahrenheit", "degrés Fahrenheit"),
        "°": ("degré", "degrés"),
        "%": ("pour cent", "pour cent"),
        "kWh": ("kilowattheure", "kilowattheures"),
        "Wh": ("wattheure", "wattheures"),
        "kW": ("kilowatt", "kilowatts"),
        "W": ("watt", "watts"),
        "V": ("volt", "volts"),
        "mA": ("milliampère", "milliampères"),
        "A": ("ampère", "ampères"),
        "km/h": ("kilomètre par heure", "kilomètres par heure"),
        "mph": ("mile par heure", "miles par heure"),
        "m/s": ("mètre par seconde", "mètres par seconde"),
        "hPa": ("hectopascal", "hectopascals"),
        "mbar": ("millibar", "millibars"),
        "mm": ("millimètre", "millimètres"),
        "cm": ("centimètre", "centimètres"),
        "km": ("kilomètre", "kilomètres"),
        "m": ("mètre", "mètres"),
        "kg": ("kilogramme", "kilogrammes"),
        "g": ("gramme", "grammes"),
        "mL": ("millilitre", "millilitres"),
        "ml": ("millilitre", "millilitres"),
        "L": ("litre", "litres"),
        "l": ("litre", "litres"),
        "lx": ("lux", "lux"),
        "ppm": ("partie par million", "parties par million"),
        "µg/m³": ("microgramme par mètre cube", "microgrammes par mètre cube"),
        "dB": ("décibel", "décibels"),
        "min": ("minute", "minutes"),
        "s": ("seconde", "secondes"),
    },
    "es": {
        "°C": ("grado Celsius", "grados Celsius"),
        "°F": ("grado Fahrenheit", "grados Fahrenheit"),
        "°": ("grado", "grados"),
        "%": ("por ciento", "por ciento"),
        "kWh": ("kilovatio hora", "kilovatios hora"),
        "kW": ("kilovatio", "kilovatios"),
        "W": ("vatio", "vatios"),
        "V": ("voltio", "voltios"),
        "A": ("amperio", "amperios"),
        "km/h": ("kilómetro por hora", "kilómetros por hora"),
        "m/s": ("metro por segundo", "metros por segundo"),
        "hPa": ("hectopascal", "hectopascales"),
        "mm": ("milímetro", "milímetros"),
        "cm": ("centímetro", "centímetros"),
        "km": ("kilómetro", "kilómetros"),
        "m": ("metro", "metros"),
        "kg": ("kilogramo", "kilogramos"),
        "g": ("gramo", "gramos"),
        "L": ("litro", "litros"),
        "l": ("litro", "litros"),
        "µg/m³": ("microgramo por metro cúbico", "microgramos por metro cúbico"),
        "dB": ("decibelio", "decibelios"),
        "min": ("minuto", "minutos"),
    },
    "it": {
        "°C": ("grado Celsius", "gradi Celsius"),
        "°F": ("grado Fahrenheit", "gradi Fahrenheit"),
        "°": ("grado", "gradi"),
        "%": ("per cento", "per cento"),
        "kWh": ("chilowattora", "chilowattora"),
        "kW": ("chilowatt", "chilowatt"),
        "W": ("watt", "watt"),
        "V": ("volt", "volt"),
        "A": ("ampere", "ampere"),
        "km/h": ("chilometro orario", "chilometri orari"),
        "m/s": ("metro al secondo", "metri al secondo"),
        "hPa": ("ettopascal", "ettopascal"),
        "mm": ("millimetro", "millimetri"),
        "cm": ("centimetro", "centimetri"),
        "km": ("chilometro", "chilometri"),
        "m": ("metro", "metri"),
        "kg": ("chilogrammo", "chilogrammi"),
        "g": ("grammo", "grammi"),
        "L": ("litro", "litri"),
        "l": ("litro", "litri"),
        "µg/m³": ("microgrammo per metro cubo", "microgrammi per metro cubo"),
        "dB": ("decibel", "decibel"),
        "min": ("minuto", "minuti"),
    },
    "pt": {
        "°C": ("grau Celsius", "graus Celsius"),
        "°F": ("grau Fahrenheit", "graus Fahrenheit"),
        "°": ("grau", "graus"),
        "%": ("por cento", "por cento"),
        "kWh": ("quilowatt-hora", "quilowatts-hora"),
        "kW": ("quilowatt", "quilowatts"),
        "W": ("watt", "watts"),
        "V": ("volt", "volts"),
        "A": ("ampere", "amperes"),
        "km/h": ("quilómetro por hora", "quilómetros por hora"),
        "m/s": ("metro por segundo", "metros por segundo"),
        "hPa": ("hectopascal", "hectopascais"),
        "mm": ("milímetro", "milímetros"),
        "cm": ("centímetro", "centímetros"),
        "km": ("quilómetro", "quilómetros"),
        "m": ("metro", "metros"),
        "kg": ("quilograma", "quilogramas"),
        "g": ("grama", "gramas"),
        "L": ("litro", "litros"),
        "l": ("litro", "litros"),
        "µg/m³": ("micrograma por metro cúbico", "microgramas por metro cúbico"),
        "dB": ("decibel", "decibéis"),
        "min": ("minuto", "minutos"),
    },
    "nl": {
        "°C": ("graden Celsius", "graden Celsius"),
        "°F": ("graden Fahrenheit", "graden Fahrenheit"),
        "°": ("graden", "graden"),
        "%": ("procent", "procent"),
        "kWh": ("kilowattuur", "kilowattuur"),
        "kW": ("kilowatt", "kilowatt"),
        "W": ("watt", "watt"),
        "V": ("volt", "volt"),
        "A": ("ampère", "ampère"),
        "km/h": ("kilometer per uur", "kilometer per uur"),
        "m/s": ("meter per seconde", "meter per seconde"),
        "hPa": ("hectopascal", "hectopascal"),
        "mm": ("millimeter", "millimeter"),
        "cm": ("centimeter", "centimeter"),
        "km": ("kilometer", "kilometer"),
        "m": ("meter", "meter"),
        "kg": ("kilogram", "kilogram"),
        "g": ("gram", "gram"),
        "L": ("liter", "liter"),
        "l": ("liter", "liter"),
        "µg/m³": ("microgram per kubieke meter", "microgram per kubieke meter"),
        "dB": ("decibel", "decibel"),
        "min": ("minuut", "minuten"),
    },
}


@dataclass(frozen=True)
class Words:
    """What one language says around numbers."""

    code: str
    decimal: str  # the decimal separator people write
    to: str  # "10-20" is "ten to twenty"
    dot: str  # in host names and IP addresses
    point: str  # in version numbers
    version: str
    link: str  # what a URL with no readable host becomes
    plus: str
    and_: str
    at: str
    hours: tuple[str, str]  # hour word (singular, plural) for times, "" when not said
    oclock: str  # said after a full hour ("seven o'clock"), "" when `hours` says it
    date_order: str  # "mdy" or "dmy": how people write 11/22/2026
    months: list[str] = field(default_factory=list)
    units: dict[str, tuple[str, str]] = field(default_factory=dict)


WORDS: dict[str, Words] = {
    "en": Words("en", ".", "to", "dot", "point", "version", "link", "plus", "and", "at",
                ("", ""), "o'clock", "mdy"),
    "de": Words("de", ",", "bis", "Punkt", "Punkt", "Version", "Link", "plus", "und", "at",
                ("Uhr", "Uhr"), "", "dmy"),
    "fr": Words("fr", ",", "à", "point", "point", "version", "lien", "plus", "et", "arobase",
                ("heure", "heures"), "", "dmy"),
    "es": Words("es", ",", "a", "punto", "punto", "versión", "enlace", "más", "y", "arroba",
                ("", ""), "en punto", "dmy"),
    "it": Words("it", ",", "a", "punto", "punto", "versione", "link", "più", "e", "chiocciola",
                ("", ""), "in punto", "dmy"),
    "pt": Words("pt", ",", "a", "ponto", "ponto", "versão", "link", "mais", "e", "arroba",
                ("hora", "horas"), "", "dmy"),
    "nl": Words("nl", ",", "tot", "punt", "punt", "versie", "link", "plus", "en", "at",
                ("uur", "uur"), "", "dmy"),
}  # fmt: skip

for _code, _words in WORDS.items():
    _words.months.extend(_MONTHS[_code].split())
    _words.units.update(sorted(_UNITS[_code].items(), key=lambda kv: -len(kv[0])))

assert set(WORDS) == CODES, "every language needs its words, and only those"


def words_for(language: str) -> Words:
    """The table of LANGUAGE (a code such as "de" or "de-DE"), English when unknown."""
    return WORDS.get(language.split("-")[0].lower(), WORDS["en"])


def cardinal(value: int | Decimal, words: Words) -> str:
    if isinstance(value, Decimal):
        if value == value.to_integral_value():
            value = int(value)
        else:  # some num2words languages drop the decimals of a Decimal; a float keeps them
            spoken = str(num2words(float(value), lang=words.code))
            return spoken.replace(" punto ", " coma ") if words.code == "es" else spoken
    return str(num2words(value, lang=words.code))


def before_noun(spoken: str, words: Words) -> str:
    """German says 'ein Kilogramm', not 'eins Kilogramm'."""
    return spoken[:-1] if words.code == "de" and spoken.endswith("eins") else spoken


def ordinal(value: int, words: Words) -> str:
    return str(num2words(value, lang=words.code, to="ordinal"))


def year(value: int, words: Words) -> str:
    return str(num2words(value, lang=words.code, to="year"))
