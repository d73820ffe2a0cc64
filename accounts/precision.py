"""The desk's decimal precisions, declared once (no Django imports).

Every model column, serializer and form field and every SQL cast of an amount takes its digits
from here, so a price is the same number in the table, the API and a report:

| kind | digits, places | holds |
|---|---|---|
| MONEY | 20, 2 | yuan amounts: limits, principal, interest, assets, losses |
| PRICE | 20, 4 | prices per share |
| QUANTITY | 20, 4 | share quantities (whole shares in the API: 16 digits, no places) |
| RATIO | 20, 6 | maintenance ratios, margin lines, margin ratios, parameters |
| RATE | 8, 6 | annual interest and fee rates |
| FRACTION | 7, 4 | policy fractions: haircuts, daily price limits, shareholdings |
| LEDGER | 24, 4 | ledger amounts (money and shares share one column) |
"""

from dataclasses import dataclass
from decimal import Decimal


@dataclass(frozen=True)
class Precision:
    digits: int
    places: int

    @property
    def fields(self) -> dict[str, int]:
        """`max_digits` and `decimal_places` for a Django or DRF DecimalField."""
        return {"max_digits": self.digits, "decimal_places": self.places}

    @property
    def whole_digits(self) -> int:
        return self.digits - self.places

    @property
    def quantum(self) -> Decimal:
        """The smallest step: 0.01 for MONEY."""
        return Decimal(1).scaleb(-self.places)

    @property
    def largest(self) -> Decimal:
        """The largest value the column holds (999...9.99 for MONEY)."""
        return Decimal(10) ** self.whole_digits - self.quantum

    @property
    def sql(self) -> str:
        """The PostgreSQL type, for casts: numeric(20,2)."""
        return f"numeric({self.digits},{self.places})"


MONEY = Precision(20, 2)
PRICE = Precision(20, 4)
QUANTITY = Precision(20, 4)
RATIO = Precision(20, 6)
RATE = Precision(8, 6)
FRACTION = Precision(7, 4)
LEDGER = Precision(24, 4)
