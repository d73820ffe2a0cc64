"""Money and units. The one Django import translates the refusals: their text follows the
reader's language, the field name in them stays as the API spells it.

Amounts are `Decimal`, never float. A ledger unit is either an ISO 4217 currency ("CNY") or an
instrument code ("SSE:600519"): securities in custody are units in the same ledger, so a
client's holdings reconcile against the custodian exactly like cash.

The database columns hold LEDGER_DIGITS digits with LEDGER_PLACES decimals; money is
entered with MONEY_PLACES decimals and security quantities with QUANTITY_PLACES.
"""

import re
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from django.utils.translation import gettext as _

from accounts.errors import ValidationFailed
from accounts.precision import LEDGER, MONEY, QUANTITY, RATIO

LEDGER_DIGITS, LEDGER_PLACES = LEDGER.digits, LEDGER.places
MONEY_PLACES = MONEY.places
QUANTITY_PLACES = QUANTITY.places
RATIO_PLACES = RATIO.places
MONEY_QUANTUM = Decimal(1).scaleb(-MONEY_PLACES)  # 0.01
QUANTITY_QUANTUM = Decimal(1).scaleb(-QUANTITY_PLACES)
ZERO = Decimal(0)
MAX_AMOUNT = Decimal(10) ** (LEDGER_DIGITS - LEDGER_PLACES) - 1

CURRENCY_RE = re.compile(r"^[A-Z]{3}$")
INSTRUMENT_RE = re.compile(r"^[A-Z]{2,6}:[A-Z0-9][A-Z0-9.\-]{0,19}$")
# Currencies the desk books; anything else is refused rather than silently accepted.
CURRENCIES = frozenset({"CNY", "HKD", "USD"})


def is_currency(unit: str) -> bool:
    return unit in CURRENCIES


def is_instrument(unit: str) -> bool:
    return bool(INSTRUMENT_RE.match(unit))


def unit_parse(value: object, *, field: str = "unit") -> str:
    """A currency code or an instrument code; anything else is ValidationFailed."""
    if not isinstance(value, str):
        raise ValidationFailed(
            _("%(field)s: a unit is text, got %(value)s") % {"field": field, "value": repr(value)},
            extra={"field": field},
        )
    unit = value.strip().upper()
    if is_currency(unit) or is_instrument(unit):
        return unit
    if CURRENCY_RE.match(unit):
        raise ValidationFailed(
            _("%(field)s: currency %(unit)s is not booked by the desk (booked: %(booked)s)")
            % {"field": field, "unit": unit, "booked": ", ".join(sorted(CURRENCIES))},
            extra={"field": field},
        )
    raise ValidationFailed(
        _("%(field)s: %(value)s is neither a currency (CNY) nor an instrument code (SSE:600519)")
        % {"field": field, "value": repr(value)},
        extra={"field": field},
    )


def currency_parse(value: object, *, field: str = "currency") -> str:
    unit = unit_parse(value, field=field)
    if not is_currency(unit):
        raise ValidationFailed(
            _("%(field)s: %(unit)s is not a currency") % {"field": field, "unit": unit},
            extra={"field": field},
        )
    return unit


def places_for(unit: str) -> int:
    return MONEY_PLACES if is_currency(unit) else QUANTITY_PLACES


def amount_parse(
    value: object,
    *,
    field: str,
    places: int = MONEY_PLACES,
    allow_zero: bool = False,
    allow_negative: bool = False,
) -> Decimal:
    """Parse an amount from str/int/Decimal. Refuses float, NaN, infinity, negatives (unless
    allowed), zero (unless allowed), more than `places` decimals and more than the ledger holds.
    Every refusal is a ValidationFailed whose message and extra["field"] name the field."""
    if isinstance(value, (bool, float)):
        raise ValidationFailed(
            _("%(field)s: amounts are decimal strings, never floats (got %(value)s)")
            % {"field": field, "value": repr(value)},
            extra={"field": field},
        )
    try:
        amount = value if isinstance(value, Decimal) else Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        raise ValidationFailed(
            _("%(field)s: %(value)s is not a decimal amount")
            % {"field": field, "value": repr(value)},
            extra={"field": field},
        ) from None
    if not amount.is_finite():
        raise ValidationFailed(
            _("%(field)s: %(value)s is not a finite amount")
            % {"field": field, "value": repr(value)},
            extra={"field": field},
        )
    if amount < 0 and not allow_negative:
        raise ValidationFailed(
            _("%(field)s: %(value)s is negative") % {"field": field, "value": amount},
            extra={"field": field},
        )
    if amount == 0 and not allow_zero:
        raise ValidationFailed(
            _("%(field)s: the amount must not be zero") % {"field": field},
            extra={"field": field},
        )
    if amount.as_tuple().exponent < -places and amount != amount.quantize(
        Decimal(1).scaleb(-places)
    ):
        raise ValidationFailed(
            _("%(field)s: %(value)s has more than %(places)s decimal places")
            % {"field": field, "value": amount, "places": places},
            extra={"field": field},
        )
    if abs(amount) > MAX_AMOUNT:
        raise ValidationFailed(
            _("%(field)s: %(value)s is too large") % {"field": field, "value": amount},
            extra={"field": field},
        )
    return amount.quantize(Decimal(1).scaleb(-places))


def money_parse(value: object, *, field: str = "amount", **kwargs) -> Decimal:
    return amount_parse(value, field=field, places=MONEY_PLACES, **kwargs)


def round_money(value: Decimal, places: int = MONEY_PLACES) -> Decimal:
    """Explicit rounding (half up) for computed amounts such as interest."""
    return value.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)


def ratio(numerator: Decimal, denominator: Decimal) -> Decimal | None:
    """numerator / denominator to RATIO_PLACES, or None when the denominator is zero."""
    if denominator == 0:
        return None
    return (numerator / denominator).quantize(Decimal(1).scaleb(-RATIO_PLACES), ROUND_HALF_UP)


def fmt(amount: Decimal, unit: str) -> str:
    """Human form used in messages: '1,234.50 CNY', '300 SSE:600519'."""
    places = places_for(unit)
    q = amount.quantize(Decimal(1).scaleb(-places))
    if not is_currency(unit):
        q = q.normalize() if q == q.to_integral() else q
        return f"{q:,f} {unit}"
    return f"{q:,.{places}f} {unit}"


def signed(amount: Decimal, sign: int) -> Decimal:
    """amount on one side (sign +1 or -1) without ever producing a negative zero."""
    return amount if sign == 1 else ZERO - amount
