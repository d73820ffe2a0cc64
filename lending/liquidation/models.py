"""Liquidation of overdue margin calls.

Design overview
- `LiquidationPlan` (+ lines): the minimal whole-lot sale of margin.plan_liquidation (with short
  rows: margin.plan_liquidation_long_short, lines selling longs and buying back shorts, each
  line's `side`), with the ordering rule used and ratio before/after; prepared by one officer and
  approved by another (CHECK approved_by <> prepared_by). One plan per call in a non-final state
  (partial unique).
- `LiquidationOrder`: the plan's link to one `lending.Order` (purpose liquidation for a sale,
  buy_in for a buy-back) placed for a line, with the order's status and filled quantity mirrored
  (lending.orders' ORDER_HOOKS). An order is "working" until it is filled or the exchange cancels,
  rejects or expires its remainder; the unfilled part of a working order still rests at the
  exchange and counts as being sold. Orders are sent and booked by lending.orders (FIX gateway,
  execution reports).
- `LiquidationFill`: the plan's record of each fill of its orders (one per `lending.Fill`, which
  the order lifecycle booked), with what its proceeds repaid (reports read it); a buy-in's fill
  repays nothing and records its cost as a negative `cash_credited`. Rows of the retired
  synchronous broker adapter have no order / fill link.
- `DefaultRecord`: the shortfall left after selling everything, covered from the reserve fund by
  a custody entry; one per call."""

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _
from simple_history.models import HistoricalRecords

from accounts.constraints import four_eyes
from accounts.precision import MONEY, PRICE, QUANTITY, RATIO
from lending.credit.models import CreditAccount
from lending.margin_calls.models import MarginCall


class LiquidationPlanStatus(models.TextChoices):
    PREPARED = "prepared", _("Prepared")
    APPROVED = "approved", _("Approved")
    REJECTED = "rejected", _("Rejected")
    EXECUTING = "executing", _("Partially executed")
    EXECUTED = "executed", _("Executed")
    STOPPED = "stopped", _("Stopped with a remainder (re-planned)")


UNFINISHED_PLAN_STATUSES = ("prepared", "approved", "executing")


#: The documented ordering rules of a plan (lending.domain.margin.ORDER_RULES), named for people.
ORDER_RULE_LABELS = {
    "zero_haircut_first": _("Zero-haircut first, then largest market value"),
    "largest_mv_first": _("Largest market value first"),
    "as_given": _("As held"),
}


class LiquidationPlan(models.Model):
    call = models.ForeignKey(MarginCall, on_delete=models.PROTECT, related_name="plans")
    status = models.CharField(
        _("status"), max_length=12, choices=LiquidationPlanStatus.choices, default="prepared"
    )
    order_rule = models.CharField(_("ordering rule"), max_length=40)
    target_line = models.DecimalField(_("target line"), **RATIO.fields)
    ratio_before = models.DecimalField(_("ratio before"), **RATIO.fields, null=True, blank=True)
    ratio_after = models.DecimalField(_("ratio after"), **RATIO.fields, null=True, blank=True)
    restores_target = models.BooleanField(_("restores the target"))
    assets_before = models.DecimalField(_("total assets before"), **MONEY.fields)
    liabilities_before = models.DecimalField(_("total liabilities before"), **MONEY.fields)
    expected_proceeds = models.DecimalField(_("expected proceeds"), **MONEY.fields)
    expected_shortfall = models.DecimalField(_("expected shortfall"), **MONEY.fields)
    # suspended holdings left out of the sale (DOMAIN.md): their units, as sized
    suspended_left_out = models.JSONField(_("suspended, left out"), default=list, blank=True)
    prepared_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        related_name="+",
        verbose_name=_("prepared by"),
    )
    prepared_at = models.DateTimeField(_("prepared at"))
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("decided by"),
    )
    decided_at = models.DateTimeField(_("decided at"), null=True, blank=True)
    decision_reason = models.TextField(_("reason for the decision"), blank=True)
    executed_at = models.DateTimeField(_("executed at"), null=True, blank=True)

    history = HistoricalRecords()

    class Meta:
        verbose_name = _("liquidation plan")
        verbose_name_plural = _("liquidation plans")
        ordering = ["-prepared_at", "-pk"]
        permissions = [
            ("approve_liquidationplan", _("Can approve or reject a liquidation plan")),
        ]
        constraints = [
            four_eyes(
                checker="approved_by", maker="prepared_by", name="lending_liquidation_four_eyes"
            ),
            models.UniqueConstraint(
                fields=["call"],
                condition=Q(status__in=UNFINISHED_PLAN_STATUSES),
                name="lending_one_unfinished_plan_per_call",
            ),
        ]

    def __str__(self) -> str:
        return f"plan #{self.pk} for call #{self.call_id}"

    @property
    def order_rule_label(self) -> str:
        return str(ORDER_RULE_LABELS.get(self.order_rule, self.order_rule))

    @property
    def buy_back_cost(self):
        """What the buy-back lines are expected to pay (their turnover at the limit prices);
        None for a plan that only sells."""
        costs = [x.expected_proceeds for x in self.lines.all() if x.side == PlanLineSide.BUY_BACK]
        return sum(costs) if costs else None


class PlanLineSide(models.TextChoices):
    """What a plan line does: sell a long row, or buy back a short row (a forced buy-in,
    买券还券 by the desk)."""

    SELL = "sell", _("Sell")
    BUY_BACK = "buy_back", _("Buy back")


class LiquidationPlanLine(models.Model):
    """One line of a plan. A sale (side "sell"): `limit_price` the sale limit, never below
    `lower_limit_price`; `expected_proceeds` and `proceeds` its turnover. A buy-back (side
    "buy_back", from margin.plan_liquidation_long_short's covers): `limit_price` the buy limit,
    never above the day's upper limit; `expected_proceeds` and `proceeds` the turnover it pays;
    `market_value` the short liability it removes; no lower limit."""

    plan = models.ForeignKey(LiquidationPlan, on_delete=models.PROTECT, related_name="lines")
    sequence = models.PositiveSmallIntegerField(_("sequence"))
    side = models.CharField(
        _("side"), max_length=8, choices=PlanLineSide.choices, default=PlanLineSide.SELL
    )
    instrument_code = models.CharField(_("instrument"), max_length=32)
    quantity = models.DecimalField(_("quantity"), **QUANTITY.fields)
    limit_price = models.DecimalField(_("limit price"), **PRICE.fields)
    lower_limit_price = models.DecimalField(
        _("lower price limit"), **PRICE.fields, null=True, blank=True
    )
    mark_price = models.DecimalField(_("mark price"), **PRICE.fields)
    expected_proceeds = models.DecimalField(_("expected proceeds"), **MONEY.fields)
    market_value = models.DecimalField(_("market value"), **MONEY.fields)
    filled_quantity = models.DecimalField(_("filled quantity"), **QUANTITY.fields, default=0)
    proceeds = models.DecimalField(_("proceeds"), **MONEY.fields, default=0)

    class Meta:
        verbose_name = _("liquidation plan line")
        verbose_name_plural = _("liquidation plan lines")
        ordering = ["plan_id", "sequence"]
        constraints = [
            models.UniqueConstraint(
                fields=["plan", "sequence"], name="lending_plan_line_sequence_unique"
            ),
            models.CheckConstraint(
                condition=Q(quantity__gt=0) & Q(filled_quantity__gte=0),
                name="lending_plan_line_quantity_positive",
            ),
            models.CheckConstraint(
                condition=Q(filled_quantity__lte=F("quantity")),
                name="lending_plan_line_not_overfilled",
            ),
            models.CheckConstraint(
                condition=Q(lower_limit_price__isnull=True)
                | Q(limit_price__gte=F("lower_limit_price")),
                name="lending_plan_line_limit_in_band",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.instrument_code} x {self.quantity} @ {self.limit_price}"

    @property
    def remaining_quantity(self):
        return self.quantity - self.filled_quantity


class LiquidationOrderStatus(models.TextChoices):
    WORKING = "working", _("Working")
    FILLED = "filled", _("Filled")
    CANCELLED = "cancelled", _("Cancelled")
    REJECTED = "rejected", _("Rejected")
    EXPIRED = "expired", _("Expired")


class LiquidationOrder(models.Model):
    line = models.ForeignKey(LiquidationPlanLine, on_delete=models.PROTECT, related_name="orders")
    order = models.OneToOneField(
        "lending.Order",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="liquidation_order",
        verbose_name=_("order"),
    )
    status = models.CharField(
        _("status"),
        max_length=12,
        choices=LiquidationOrderStatus.choices,
        default=LiquidationOrderStatus.WORKING,
    )
    quantity = models.DecimalField(_("quantity"), **QUANTITY.fields)
    limit_price = models.DecimalField(_("limit price"), **PRICE.fields)
    placed_at = models.DateTimeField(_("placed at"))
    placed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    filled_quantity = models.DecimalField(_("filled quantity"), **QUANTITY.fields, default=0)

    class Meta:
        verbose_name = _("liquidation order")
        verbose_name_plural = _("liquidation orders")
        ordering = ["placed_at", "pk"]

    def __str__(self) -> str:
        return f"order #{self.pk} {self.line.instrument_code} x {self.quantity}"

    @property
    def working_quantity(self):
        """What still rests at the exchange: the unfilled part of a working order."""
        if self.status != LiquidationOrderStatus.WORKING:
            return 0
        return max(self.quantity - self.filled_quantity, 0)


class LiquidationFill(models.Model):
    order = models.ForeignKey(LiquidationOrder, on_delete=models.PROTECT, related_name="fills")
    fill = models.OneToOneField(
        "lending.Fill",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="liquidation_fill",
        verbose_name=_("fill"),
    )
    quantity = models.DecimalField(_("quantity"), **QUANTITY.fields)
    price = models.DecimalField(_("price"), **PRICE.fields)
    amount = models.DecimalField(_("amount"), **MONEY.fields)
    filled_at = models.DateTimeField(_("filled at"))
    interest_repaid = models.DecimalField(
        _("interest repaid"), **MONEY.fields, null=True, blank=True
    )
    principal_repaid = models.DecimalField(
        _("principal repaid"), **MONEY.fields, null=True, blank=True
    )
    cash_credited = models.DecimalField(_("cash credited"), **MONEY.fields, null=True, blank=True)

    class Meta:
        verbose_name = _("liquidation fill")
        verbose_name_plural = _("liquidation fills")
        ordering = ["filled_at", "pk"]
        constraints = [
            models.CheckConstraint(
                condition=Q(quantity__gt=0), name="lending_fill_quantity_positive"
            ),
        ]

    def __str__(self) -> str:
        return f"liquidation fill #{self.pk} {self.quantity} @ {self.price}"


class DefaultRecord(models.Model):
    call = models.OneToOneField(MarginCall, on_delete=models.PROTECT, related_name="default")
    credit_account = models.ForeignKey(
        CreditAccount, on_delete=models.PROTECT, related_name="defaults"
    )
    plan = models.ForeignKey(
        LiquidationPlan, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    currency = models.CharField(_("currency"), max_length=3, default="CNY")
    shortfall = models.DecimalField(_("shortfall"), **MONEY.fields)
    occurred_at = models.DateTimeField(_("occurred at"))
    reserve_entry = models.ForeignKey(
        "custody.JournalEntry",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("reserve fund entry"),
    )
    covered_at = models.DateTimeField(_("covered at"), null=True, blank=True)
    recovered_amount = models.DecimalField(_("recovered amount"), **MONEY.fields, default=0)
    recovered_at = models.DateTimeField(_("recovered at"), null=True, blank=True)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )

    history = HistoricalRecords()

    class Meta:
        verbose_name = _("default")
        verbose_name_plural = _("defaults")
        ordering = ["-occurred_at", "-pk"]
        constraints = [
            models.CheckConstraint(
                condition=Q(shortfall__gt=0), name="lending_default_shortfall_positive"
            ),
            models.CheckConstraint(
                condition=Q(recovered_amount__gte=0) & Q(recovered_amount__lte=F("shortfall")),
                name="lending_default_recovery_in_range",
            ),
        ]

    def __str__(self) -> str:
        return f"default #{self.pk} {self.credit_account} {self.shortfall}"

    @property
    def recovery_time(self):
        """From the default to the last recovery (None while nothing is recovered)."""
        return None if self.recovered_at is None else self.recovered_at - self.occurred_at


__all__ = [
    "UNFINISHED_PLAN_STATUSES",
    "DefaultRecord",
    "LiquidationFill",
    "LiquidationOrder",
    "LiquidationOrderStatus",
    "LiquidationPlan",
    "LiquidationPlanLine",
    "LiquidationPlanStatus",
    "PlanLineSide",
]
