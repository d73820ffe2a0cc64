"""The desk's one set of number filters, for every page, filing and statement (a builtin of
the template engine: config/settings.py TEMPLATES, no {% load %} needed):

- `amount`: money, thousands separators and 2 places ('1202560' -> '1,202,560.00');
- `count`: whole numbers and share quantities with separators ('30000.0000' -> '30,000');
- `percent`: a ratio (a fraction) as a percentage with 2 places ('4.0616' -> '406.16%');
- `rate`: an annual or daily rate (a fraction) as a percentage, 2 places or more when the
  rate needs them ('0.065000' -> '6.50%', '0.0005' -> '0.05%', '0.000137' -> '0.0137%').
None or '' show '—' (no debt: no ratio). Locale-independent on purpose: a desk reads
1,202,560.00 in both languages, and a filing prints the same digits in both. The API keeps
fractions and decimal strings (the API description, config/settings.py SPECTACULAR_SETTINGS)."""

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
def rate(value) -> str:
    """A rate as a percentage: at least 2 places, up to 6 when the rate has them."""
    number = _decimal(value)
    if number is None:
        return DASH
    shown = (number * 100).normalize()
    places = max(2, -shown.as_tuple().exponent if shown.as_tuple().exponent < 0 else 0)
    return f"{shown.quantize(Decimal(1).scaleb(-min(places, 6))):,f}%"


@register.filter
def lookup(mapping, key):
    return mapping.get(key, "") if hasattr(mapping, "get") else ""
