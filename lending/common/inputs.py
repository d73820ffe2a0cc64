"""Parsing what a caller typed into the services' arguments: decimal strings (never floats,
never beyond MAGNITUDE_LIMIT, places and sign checked), whole share quantities, fractions,
the reason every change needs and the idempotency key of money movements. Each refusal is a
ValidationFailed naming the field and the rule, in the request's language (the field name and
the code stay as the API spells them)."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from django.utils.translation import gettext as _

from accounts.errors import ValidationFailed

# --- helpers ---------------------------------------------------------------------------------


def reason_required(reason: str, *, required: bool = True) -> str:
    text = (reason or "").strip()
    if required and not text:
        raise ValidationFailed(
            _("reason: say why (a reason is required)"), extra={"field": "reason"}
        )
    return text


def idempotency_key_required(idempotency_key: str) -> str:
    key = (idempotency_key or "").strip()
    if not key:
        raise ValidationFailed(
            _("idempotency_key: money movements need an idempotency key"),
            extra={"field": "idempotency_key"},
        )
    return key[:160]


#: No amount, price or quantity a desk handles reaches 10^15 (money columns hold 18 digits).
MAGNITUDE_LIMIT = Decimal(10) ** 15


def decimal_parsed(
    value, field: str, *, places: int | None = None, positive: bool = True
) -> Decimal:
    if isinstance(value, bool | float):
        raise ValidationFailed(
            _("%(field)s: decimal strings, never floats (got %(value)s)")
            % {"field": field, "value": repr(value)},
            extra={"field": field},
        )
    try:
        result = value if isinstance(value, Decimal) else Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        raise ValidationFailed(
            _("%(field)s: %(value)s is not a number") % {"field": field, "value": repr(value)},
            extra={"field": field},
        ) from None
    if not result.is_finite():
        raise ValidationFailed(
            _("%(field)s: %(value)s is not finite") % {"field": field, "value": repr(value)},
            extra={"field": field},
        )
    if result.copy_abs() >= MAGNITUDE_LIMIT:
        raise ValidationFailed(
            _("%(field)s: %(value)s is too large (at most 15 digits before the decimal point)")
            % {"field": field, "value": repr(value)},
            extra={"field": field},
        )
    if positive and result <= 0:
        raise ValidationFailed(
            _("%(field)s: %(value)s must be above zero") % {"field": field, "value": result},
            extra={"field": field},
        )
    if places is not None and result != result.quantize(Decimal(1).scaleb(-places)):
        raise ValidationFailed(
            _("%(field)s: %(value)s has more than %(places)s decimal places")
            % {"field": field, "value": result, "places": places},
            extra={"field": field},
        )
    return result


def shares_parsed(value, field: str = "quantity") -> Decimal:
    qty = decimal_parsed(value, field)
    if qty != qty.to_integral_value():
        raise ValidationFailed(
            _("%(field)s: %(value)s is not a whole number of shares")
            % {"field": field, "value": qty},
            extra={"field": field},
        )
    return qty.quantize(Decimal(1))


def fraction_parsed(value, field: str, *, allow_zero: bool = True) -> Decimal:
    result = decimal_parsed(value, field, places=4, positive=False)
    if result < 0 or result > 1 or (result == 0 and not allow_zero):
        raise ValidationFailed(
            _("%(field)s: %(value)s must be a fraction in [0, 1]")
            % {"field": field, "value": result},
            extra={"field": field},
        )
    return result
