from decimal import Decimal

from django.utils.safestring import mark_safe
from django.views.generic import TemplateView

from accounts.api_errors import validation_body
from accounts.errors import ValidationFailed

from . import simulator
from .api_simulator import LeverageInputSerializer

DEFAULTS = {
    "own_capital": "100000",
    "leverage": "2",
    "asset_return": "0.10",
    "fee_rate": "0.001",
    "borrow_rate": "0.07",
    "price_drop": "0.20",
}


def _checked(values: dict[str, str]) -> dict:
    """The page's query string passes the same field rules as the API body (finite, plain
    decimals within the columns' digits), so a value like 1e999 is named, never a 500."""
    body = LeverageInputSerializer(data={f: v for f, v in values.items() if v != ""})
    if not body.is_valid():
        error = validation_body(body.errors)
        raise ValidationFailed(error["message"], extra=error["extra"])
    return dict(body.validated_data)


class LeverageSimulatorView(TemplateView):
    """Open to everyone, signed in or not: education before borrowing."""

    template_name = "lending/simulator.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        values = {f: self.request.GET.get(f, DEFAULTS[f]).strip() for f in DEFAULTS}
        context["values"] = values
        try:
            result = simulator.simulate(_checked(values))
        except ValidationFailed as exc:
            context["error"] = exc.message
            context["error_field"] = exc.extra.get("field")
            fee, borrow = Decimal(DEFAULTS["fee_rate"]), Decimal(DEFAULTS["borrow_rate"])
        else:
            context["result"] = result.as_dict()
            context["leverage"] = f"{result.inputs.leverage.normalize():f}"
            context["percent"] = {
                "equity_return": f"{result.outcome.equity_return * 100:.2f}%",
                "wipeout_drop": f"{result.outcome.wipeout_drop * 100:.2f}%",
            }
            fee, borrow = result.inputs.fee_rate, result.inputs.borrow_rate
        returns_svg, drops_svg = simulator.chart_markup(fee_rate=fee, borrow_rate=borrow)
        context["returns_svg"] = mark_safe(returns_svg)  # noqa: S308  (generated, escaped SVG)
        context["drops_svg"] = mark_safe(drops_svg)  # noqa: S308
        return context
