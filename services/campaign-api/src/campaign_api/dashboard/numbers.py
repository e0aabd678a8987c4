"""Counts as people read them, with Babel: thousands separators and CLDR plural rules.

One Jinja filter, `number`, for every count the dashboard shows:
`{{ n|number }}` is "12,345"; `{{ n|number("email") }}` is "1 email" or "12,345 emails";
`{{ n|number("person", "people") }}` names an irregular plural.
"""

from __future__ import annotations

from babel import Locale
from babel.numbers import format_decimal

LOCALE = Locale.parse("en")


def number(value: int | float, one: str = "", other: str = "") -> str:
    number = format_decimal(value, locale=LOCALE)
    if not one:
        return str(number)
    word = one if LOCALE.plural_form(abs(value)) == "one" else (other or one + "s")
    return f"{number} {word}"
