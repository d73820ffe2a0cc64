"""Test data: the lines and the financing margin ratio of DOMAIN.md ("Formulas", "Credit
contracts"), built explicitly. The product has no such constants: it reads them from the
contract or from the dated parameter table (lending.credit.selectors.lines_in_force)."""

from decimal import Decimal

from lending.domain import margin

#: warning 140%, call 130%, target 150%, withdrawal 300%
LINES = margin.MarginLines(
    warning=Decimal("1.40"),
    call=Decimal("1.30"),
    target=Decimal("1.50"),
    withdrawal=Decimal("3.00"),
)

#: the financing margin ratio in force from 2026-01-19 (100%)
FMR = Decimal("1.00")
