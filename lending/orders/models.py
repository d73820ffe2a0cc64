"""Orders sent to the market, their fills, and the execution reports they came from.

- `Order`: one day limit order of a credit account (client order id = FIX ClOrdID). Its
  `filled_quantity` is kept by PostgreSQL (a trigger adds each fill's quantity) and a check
  constraint keeps it within the order's quantity. `reserved_amount` is what a working buy
  holds back (a financed buy: the purchase amount it may still finance, counted against the
  credit limit and the available margin; an own-cash buy: the cash it may still spend); it
  falls to zero when the order is filled, cancelled, rejected or expired.
- `Fill`: one execution (FIX ExecID, unique) at the market's price, with its fees and the
  journal entry that booked it.
- `ExecutionReportRecord`: every execution report as the FIX session received it, stored before
  anything is booked (the inbox); applied once, in the order received, by a Celery task.
"""

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _
from simple_history.models import HistoricalRecords

from accounts.precision import MONEY, PRICE, QUANTITY
from lending.instruments.models import Instrument


class OrderSide(models.TextChoices):
    BUY = "buy", _("Buy")
    SELL = "sell", _("Sell")


class OrderPurpose(models.TextChoices):
    FINANCED_BUY = "financed_buy", _("Financed buy")
    CASH_BUY = "cash_buy", _("Own-cash buy")
    SELL = "sell", _("Sell")
    SELL_TO_REPAY = "sell_to_repay", _("Sell to repay")
    LIQUIDATION = "liquidation", _("Liquidation sale")
    SHORT_SALE = "short_sale", _("Short sale")
    BUY_TO_COVER = "buy_to_cover", _("Buy to cover")
    BUY_IN = "buy_in", _("Forced buy-in")


#: The side of each purpose.
PURPOSE_SIDES = {
    OrderPurpose.FINANCED_BUY: OrderSide.BUY,
    OrderPurpose.CASH_BUY: OrderSide.BUY,
    OrderPurpose.SELL: OrderSide.SELL,
    OrderPurpose.SELL_TO_REPAY: OrderSide.SELL,
    OrderPurpose.LIQUIDATION: OrderSide.SELL,
    OrderPurpose.SHORT_SALE: OrderSide.SELL,
    OrderPurpose.BUY_TO_COVER: OrderSide.BUY,
    OrderPurpose.BUY_IN: OrderSide.BUY,
}

#: Purposes that close short positions (their fills return shares to the lending inventory).
COVER_PURPOSES = (OrderPurpose.BUY_TO_COVER, OrderPurpose.BUY_IN)


class OrderStatus(models.TextChoices):
    NEW = "new", _("New")
    PARTIALLY_FILLED = "partially_filled", _("Partially filled")
    FILLED = "filled", _("Filled")
    CANCELLED = "cancelled", _("Cancelled")
    REJECTED = "rejected", _("Rejected")
    EXPIRED = "expired", _("Expired")


#: An order in one of these may still fill (it is working at the exchange or on its way).
WORKING = (OrderStatus.NEW, OrderStatus.PARTIALLY_FILLED)


class TimeInForce(models.TextChoices):
    DAY = "day", _("Day")


class Order(models.Model):
    client_order_id = models.CharField(_("client order id"), max_length=24, unique=True)
    credit_account = models.ForeignKey(
        "lending.CreditAccount", on_delete=models.PROTECT, related_name="orders"
    )
    contract = models.ForeignKey(
        "lending.CreditContract", on_delete=models.PROTECT, related_name="orders"
    )
    instrument = models.ForeignKey(Instrument, on_delete=models.PROTECT, related_name="+")
    side = models.CharField(_("side"), max_length=4, choices=OrderSide.choices)
    purpose = models.CharField(_("purpose"), max_length=16, choices=OrderPurpose.choices)
    quantity = models.DecimalField(_("quantity"), **QUANTITY.fields)
    limit_price = models.DecimalField(_("limit price"), **PRICE.fields)
    time_in_force = models.CharField(
        _("time in force"), max_length=4, choices=TimeInForce.choices, default=TimeInForce.DAY
    )
    status = models.CharField(
        _("status"), max_length=16, choices=OrderStatus.choices, default=OrderStatus.NEW
    )
    filled_quantity = models.DecimalField(_("filled quantity"), **QUANTITY.fields, default=0)
    reserved_amount = models.DecimalField(_("reserved amount"), **MONEY.fields, default=0)
    # a short sale: the lending inventory it holds (reserved at placement, lent as it fills,
    # released when it ends unfilled)
    short_reservation = models.OneToOneField(
        "lending.ShortReservation",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="order",
    )
    trade_date = models.DateField(_("trade date"))
    exchange_order_id = models.CharField(_("exchange order id"), max_length=64, blank=True)
    status_text = models.CharField(_("exchange's text"), max_length=300, blank=True)
    sent_at = models.DateTimeField(_("sent at"), null=True, blank=True)
    cancel_requested_at = models.DateTimeField(_("cancel requested at"), null=True, blank=True)
    cancel_sent_at = models.DateTimeField(_("cancel sent at"), null=True, blank=True)
    idempotency_key = models.CharField(_("idempotency key"), max_length=200, unique=True)
    placed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, related_name="+"
    )
    reason = models.CharField(_("reason"), max_length=300, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    history = HistoricalRecords()

    class Meta:
        verbose_name = _("order")
        verbose_name_plural = _("orders")
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.CheckConstraint(
                condition=Q(quantity__gt=0)
                & Q(limit_price__gt=0)
                & Q(filled_quantity__gte=0)
                & Q(filled_quantity__lte=F("quantity"))
                & Q(reserved_amount__gte=0),
                name="lending_order_quantities",
            ),
            models.CheckConstraint(
                condition=(
                    Q(side="buy")
                    & Q(purpose__in=["financed_buy", "cash_buy", "buy_to_cover", "buy_in"])
                )
                | (
                    Q(side="sell")
                    & Q(purpose__in=["sell", "sell_to_repay", "liquidation", "short_sale"])
                ),
                name="lending_order_side_of_purpose",
            ),
        ]
        indexes = [
            models.Index(fields=["credit_account", "status"]),
            models.Index(
                fields=["status", "sent_at"],
                name="lending_order_to_send",
                condition=Q(sent_at__isnull=True),
            ),
        ]

    def __str__(self) -> str:
        return (
            f"{self.client_order_id} {self.get_side_display()} {self.quantity} {self.instrument_id}"
        )

    @property
    def working(self) -> bool:
        return self.status in WORKING

    @property
    def leaves_quantity(self):
        return self.quantity - self.filled_quantity if self.working else 0


class Fill(models.Model):
    order = models.ForeignKey(Order, on_delete=models.PROTECT, related_name="fills")
    exec_id = models.CharField(_("exec id"), max_length=64, unique=True)
    price = models.DecimalField(_("price"), **PRICE.fields)
    quantity = models.DecimalField(_("quantity"), **QUANTITY.fields)
    turnover = models.DecimalField(_("turnover"), **MONEY.fields)
    commission = models.DecimalField(_("commission"), **MONEY.fields)
    stamp_duty = models.DecimalField(_("stamp duty"), **MONEY.fields)
    transfer_fee = models.DecimalField(_("transfer fee"), **MONEY.fields)
    executed_at = models.DateTimeField(_("executed at"))
    entry = models.ForeignKey("custody.JournalEntry", on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(_("booked at"), auto_now_add=True)

    class Meta:
        verbose_name = _("fill")
        verbose_name_plural = _("fills")
        ordering = ["executed_at", "pk"]
        constraints = [
            models.CheckConstraint(
                condition=Q(quantity__gt=0)
                & Q(price__gt=0)
                & Q(turnover__gt=0)
                & Q(commission__gte=0)
                & Q(stamp_duty__gte=0)
                & Q(transfer_fee__gte=0),
                name="lending_fill_amounts",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.exec_id} {self.quantity} @ {self.price}"


class ExecutionReportRecord(models.Model):
    """An ExecutionReport as received, before it is applied (its pk is the order received)."""

    exec_id = models.CharField(_("exec id"), max_length=64, unique=True)
    cl_ord_id = models.CharField(_("client order id"), max_length=64, db_index=True)
    order = models.ForeignKey(
        Order, on_delete=models.PROTECT, null=True, blank=True, related_name="reports"
    )
    exchange_order_id = models.CharField(_("exchange order id"), max_length=64, blank=True)
    exec_type = models.CharField(_("exec type"), max_length=1)
    ord_status = models.CharField(_("order status"), max_length=1)
    last_qty = models.DecimalField(_("last quantity"), **QUANTITY.fields)
    last_px = models.DecimalField(_("last price"), **PRICE.fields)
    cum_qty = models.DecimalField(_("cumulative quantity"), **QUANTITY.fields)
    leaves_qty = models.DecimalField(_("leaves quantity"), **QUANTITY.fields)
    text = models.CharField(_("text"), max_length=300, blank=True)
    transact_time = models.DateTimeField(_("transaction time"), null=True, blank=True)
    possible_duplicate = models.BooleanField(_("possible duplicate"), default=False)
    received_at = models.DateTimeField(_("received at"), auto_now_add=True)
    applied_at = models.DateTimeField(_("applied at"), null=True, blank=True)
    outcome = models.CharField(_("outcome"), max_length=300, blank=True)

    class Meta:
        verbose_name = _("execution report")
        verbose_name_plural = _("execution reports")
        ordering = ["pk"]
        indexes = [
            models.Index(
                fields=["order", "id"],
                name="lending_report_unapplied",
                condition=Q(applied_at__isnull=True),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.exec_id} {self.cl_ord_id} {self.exec_type}/{self.ord_status}"


__all__ = [
    "COVER_PURPOSES",
    "PURPOSE_SIDES",
    "WORKING",
    "ExecutionReportRecord",
    "Fill",
    "Order",
    "OrderPurpose",
    "OrderSide",
    "OrderStatus",
    "TimeInForce",
]
