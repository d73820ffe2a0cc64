"""Formatting of snapshot values (strings of Decimals) for filings, statements and pages.
Locale-independent on purpose: a filing prints the same digits in both languages."""

from decimal import Decimal, InvalidOperation

from django import template

register = template.Library()

DASH = "—"


def _decimal(value) -> Decimal | None:
    if value is None or value == "":
        return None
    try:
        return value if isinstance(value, Decimal) else Decimal(str(value))
    except InvalidOperation:
        return None


@register.filter
def amount(value, places: int = 2) -> str:
    """'1234567.5' -> '1,234,567.50'; None -> '—'."""
    number = _decimal(value)
    if number is None:
        return DASH
    return f"{number.quantize(Decimal(1).scaleb(-int(places))):,f}"


@register.filter
def count(value) -> str:
    number = _decimal(value)
    return DASH if number is None else f"{int(number):,}"


@register.filter
def percent(value, places: int = 2) -> str:
    """A ratio as a percentage: '1.5' -> '150.00%'; None (no debt) -> '—'."""
    number = _decimal(value)
    if number is None:
        return DASH
    return f"{(number * 100).quantize(Decimal(1).scaleb(-int(places))):,f}%"


@register.filter
def lookup(mapping, key):
    return mapping.get(key, "") if hasattr(mapping, "get") else ""
