"""The leverage simulator for investor education: parses input, maps the pure module's
SimulatorInputError onto the project's ValidationFailed (naming the field), and builds the
chart markup. The arithmetic itself lives in lending.domain.analytics (DOMAIN.md formulas)."""

from dataclasses import dataclass
from decimal import Decimal

from django.utils.translation import gettext as _

from accounts.errors import ValidationFailed
from accounts.precision import RATIO
from lending.domain import analytics, charts

SIMULATOR_FIELDS = (
    "own_capital",
    "leverage",
    "asset_return",
    "fee_rate",
    "borrow_rate",
    "price_drop",
)


@dataclass(frozen=True)
class SimulatorResult:
    inputs: analytics.SimulatorInputs
    outcome: analytics.LeverageOutcome

    def as_dict(self) -> dict[str, str | bool]:
        o = self.outcome
        return {
            "total_assets": str(o.total_assets),
            "borrowed": str(o.borrowed),
            "equity_return": str(o.equity_return.quantize(RATIO.quantum)),
            "equity_after_drop": str(o.equity_after_drop),
            "wipeout_drop": str(o.wipeout_drop.quantize(RATIO.quantum)),
            "wiped_out": o.wiped_out,
        }


def simulate(data: dict) -> SimulatorResult:
    """Inputs as decimal strings (or numbers); own_capital and leverage are required."""
    for field in ("own_capital", "leverage"):
        if data.get(field) in (None, ""):
            raise ValidationFailed(f"{field}: this field is required", extra={"field": field})
    values = {f: data.get(f) if data.get(f) not in (None, "") else "0" for f in SIMULATOR_FIELDS}
    try:
        inputs = analytics.validate_simulator_inputs(**values)
        outcome = analytics.leverage_outcome(**values)
    except analytics.SimulatorInputError as exc:
        raise ValidationFailed(str(exc), extra={"field": exc.field, "rule": exc.rule}) from exc
    return SimulatorResult(inputs=inputs, outcome=outcome)


def chart_markup(*, fee_rate: Decimal, borrow_rate: Decimal) -> tuple[str, str]:
    """(equity return vs asset return, equity vs price drop) for several leverages."""
    series = analytics.chart_series(own_capital=100_000, fee_rate=fee_rate, borrow_rate=borrow_rate)
    returns = {f"{lev.normalize():f}×": pts for lev, pts in series.equity_return.items()}
    drops = {
        f"{lev.normalize():f}×": [(d, e / Decimal(100_000)) for d, e in pts]
        for lev, pts in series.equity_after_drop.items()
    }
    return (
        charts.line_chart(
            returns,
            title=_("Equity return against asset return"),
            x_label=_("Asset return"),
            y_label=_("Equity return"),
        ),
        charts.line_chart(
            drops,
            title=_("Equity left after a price drop"),
            x_label=_("Price drop"),
            y_label=_("Equity left"),
        ),
    )
