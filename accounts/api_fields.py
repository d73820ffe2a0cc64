"""The one API input field for money, prices, quantities and ratios: `AmountField`.

Every amount the API takes goes through it, so hostile input meets the same rules everywhere
(issue 10). An amount is a plain decimal string, "1234.56"; the field refuses, each with its
own rule code (the 400 body carries it as extra["rule"] and names the field in extra["field"]
and at the start of the message, see accounts.api_errors):

    not_a_string  a JSON float, boolean, list or object (floats never carry money)
    too_long      more than MAX_LENGTH characters
    invalid       not a number at all ("abc", "1_000", "١٢", "0x10", "")
    not_finite    NaN, sNaN, Infinity, -Infinity
    exponent      exponent notation ("1e999", "1E+2", "5e-3")
    negative      below zero, where the field says positive or non-negative
    zero          zero, where the field says positive
    too_precise   more decimal places than the field keeps (trailing zeros are fine)
    not_whole     a fraction where the field counts whole units (shares)
    too_large     more digits before the point than the column holds

Integers in JSON (1000) are accepted: they are exact. The value comes back as a Decimal
quantized to the field's places. Domain ranges (leverage >= 1, a drop <= 1, the credit limit)
are rules, so the services check them, not this field.

The presets below mirror the database columns (lending.models MONEY, PRICE, QTY and
compliance.models MONEY; tests/test_hostile_input.py checks they agree): accounts is the one
app every other app may import, so the field lives here.
"""

import re
from decimal import Decimal, InvalidOperation
from typing import Literal

from django.utils.translation import gettext_lazy as _
from drf_spectacular.extensions import OpenApiSerializerFieldExtension
from rest_framework import serializers

from accounts.precision import MONEY, PRICE, QUANTITY, RATIO

Sign = Literal["positive", "non_negative", "any"]
POSITIVE: Sign = "positive"
NON_NEGATIVE: Sign = "non_negative"
ANY: Sign = "any"

# The digits come from accounts.precision, like the columns behind these fields.
MONEY_DIGITS, MONEY_PLACES = MONEY.digits, MONEY.places
PRICE_DIGITS, PRICE_PLACES = PRICE.digits, PRICE.places
QUANTITY_DIGITS, QUANTITY_PLACES = QUANTITY.whole_digits, 0  # whole shares
RATIO_DIGITS, RATIO_PLACES = RATIO.digits, RATIO.places

MAX_LENGTH = 64
_PLAIN = re.compile(r"-?[0-9]+(?:\.[0-9]+)?", re.ASCII)


class AmountField(serializers.DecimalField):
    """A decimal string with `max_digits` digits, `decimal_places` of them after the point,
    and a sign rule (positive, non_negative or any); see the module docstring."""

    default_error_messages = {
        "not_a_string": _('send the amount as a decimal string such as "1234.56"'),
        "too_long": _("at most {max_length} characters"),
        "invalid": _("a decimal number such as 1234.56 is expected"),
        "not_finite": _("must be a finite number (NaN and Infinity are refused)"),
        "exponent": _("write the number without an exponent (1234.56, not 1.23456e3)"),
        "negative": _("must not be negative"),
        "zero": _("must be greater than zero"),
        "too_precise": _("at most {places} decimal places"),
        "not_whole": _("must be a whole number"),
        "too_large": _("at most {whole_digits} digits before the decimal point"),
    }

    def __init__(self, *, max_digits: int, decimal_places: int, sign: Sign = POSITIVE, **kwargs):
        if sign not in (POSITIVE, NON_NEGATIVE, ANY):
            raise ValueError(f"sign: {sign!r}")
        self.sign = sign
        super().__init__(max_digits=max_digits, decimal_places=decimal_places, **kwargs)

    @property
    def whole_digits(self) -> int:
        return self.max_digits - self.decimal_places

    def to_internal_value(self, data) -> Decimal:
        if isinstance(data, bool) or not isinstance(data, str | int):
            self.fail("not_a_string")
        text = str(data).strip()
        if len(text) > MAX_LENGTH:
            self.fail("too_long", max_length=MAX_LENGTH)
        try:
            value = Decimal(text)
        except (InvalidOperation, ValueError):
            self.fail("invalid")
        if not value.is_finite():
            self.fail("not_finite")
        if not _PLAIN.fullmatch(text):
            self.fail("exponent" if "e" in text.lower() else "invalid")
        if value < 0 and self.sign != ANY:
            self.fail("negative")
        if value == 0 and self.sign == POSITIVE:
            self.fail("zero")
        # digits first: quantize() below needs the result within the context's 28 digits
        if value != 0 and value.adjusted() + 1 > self.whole_digits:
            self.fail("too_large", whole_digits=self.whole_digits)
        quantum = Decimal(1).scaleb(-self.decimal_places)
        if value.as_tuple().exponent < -self.decimal_places and value != value.quantize(quantum):
            if self.decimal_places == 0:
                self.fail("not_whole")
            self.fail("too_precise", places=self.decimal_places)
        return value.quantize(quantum) + 0  # "+ 0" turns -0 into 0

    @property
    def pattern(self) -> str:
        sign = "-?" if self.sign == ANY else ""
        # positive: not all zeros (a lookahead; JSON Schema patterns are ECMA 262 regexes)
        not_zero = "(?!0*(?:\\.0*)?$)" if self.sign == POSITIVE else ""
        whole = f"[0-9]{{1,{self.whole_digits}}}"
        fraction = f"(?:\\.[0-9]{{1,{self.decimal_places}}})?" if self.decimal_places else ""
        return f"^{not_zero}{sign}{whole}{fraction}$"


def money_field(*, sign: Sign = POSITIVE, **kwargs) -> AmountField:
    """Yuan amounts: 2 decimal places, the MONEY column's 18 whole digits."""
    return AmountField(max_digits=MONEY_DIGITS, decimal_places=MONEY_PLACES, sign=sign, **kwargs)


def price_field(*, sign: Sign = POSITIVE, **kwargs) -> AmountField:
    """Prices per share: 4 decimal places, the PRICE column's 14 whole digits."""
    return AmountField(max_digits=PRICE_DIGITS, decimal_places=PRICE_PLACES, sign=sign, **kwargs)


def quantity_field(*, sign: Sign = POSITIVE, **kwargs) -> AmountField:
    """Share quantities: whole shares, the QTY column's 16 whole digits."""
    return AmountField(
        max_digits=QUANTITY_DIGITS, decimal_places=QUANTITY_PLACES, sign=sign, **kwargs
    )


def ratio_field(*, sign: Sign = ANY, **kwargs) -> AmountField:
    """Fractions and multiples (leverage, rates, a price drop): 6 places, 6 whole digits."""
    return AmountField(max_digits=RATIO_DIGITS, decimal_places=RATIO_PLACES, sign=sign, **kwargs)


class AmountFieldExtension(OpenApiSerializerFieldExtension):
    """OpenAPI: a string whose pattern is exactly what the field accepts in plain form, so
    generated clients (and schemathesis) produce amounts the API can take."""

    target_class = AmountField
    match_subclasses = True

    def map_serializer_field(self, auto_schema, direction):
        field: AmountField = self.target
        rule = {
            POSITIVE: "greater than zero",
            NON_NEGATIVE: "zero or more",
            ANY: "any sign",
        }[field.sign]
        schema = {
            "type": "string",
            "format": "decimal",
            "pattern": field.pattern,
            "maxLength": MAX_LENGTH,
            "x-decimal-places": field.decimal_places,
            "x-sign": field.sign,
        }
        if not field.help_text:  # drf-spectacular writes help_text as the description
            schema["description"] = (
                f"Decimal string, {rule}, at most {field.whole_digits} digits before the point "
                f"and {field.decimal_places} after it."
            )
        if field.default is not serializers.empty and field.default is not None:
            schema["default"] = str(field.default)
        return schema
