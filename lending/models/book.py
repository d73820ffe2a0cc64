"""The book: instruments, collateral policy, prices, financings (drawdowns) and interest.

Design overview
- `Instrument`: a listed security (SSE or SZSE) with its category, flags (ST, suspended,
  delisting period), daily price-limit band, tradable float and lot size. Its ledger unit is
  "SSE:600519": holdings live in custody as `client_securities` accounts of that unit.
  Collateral policy sits on the instrument: on the eligible list or not, the haircut (capped by
  the dated regulator cap of its category; forced to 0 while ST, suspended or delisting, which
  PostgreSQL checks too), whether it may be bought on margin, and the desk-wide financing stop
  (hysteresis: stopped at 25% of tradable float financed, resumed below 20%). Every change goes
  through lending.services.book and is kept by simple-history with who and why.
- `PriceTick`: every tick received, unique per (instrument, at): a repeated tick is ignored.
  `LatestPrice` (one row per instrument) moves only forward in time: it is written with a
  conditional UPDATE ... WHERE at < new_at, so an older tick never overwrites a newer price,
  whatever the order two processes commit in. `prev_close` is the last price of the previous
  day (reference for the daily limit band).
- `Financing`: one financed purchase (drawdown lot): amount, outstanding principal, accrued
  interest not yet collected, financed quantity still held, opened and due dates. The ledger
  (custody) is the source of the balances; these rows allocate them per lot (oldest first).
- `InterestAccrual`: one row per contract and business day; unique, so interest is posted once.
"""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _
from simple_history.models import HistoricalRecords

__all__ = [
    "Exchange",
    "Financing",
    "FinancingStatus",
    "Instrument",
    "InstrumentCategory",
    "InterestAccrual",
    "LatestPrice",
    "PriceTick",
    "WithdrawalKind",
    "WithdrawalRequest",
]

MONEY = {"max_digits": 20, "decimal_places": 2}
PRICE = {"max_digits": 18, "decimal_places": 4}
QTY = {"max_digits": 20, "decimal_places": 4}
FRACTION = {"max_digits": 7, "decimal_places": 4}


class Exchange(models.TextChoices):
    SSE = "SSE", _("Shanghai Stock Exchange")
    SZSE = "SZSE", _("Shenzhen Stock Exchange")


class InstrumentCategory(models.TextChoices):
    INDEX_CONSTITUENT = "index_constituent", _("SSE 180 / SZSE 100 constituent")
    OTHER_A_SHARE = "other_a_share", _("Other A-share")
    ETF = "etf", _("ETF")
    MONEY_MARKET_GOVT = "money_market_govt", _("Money-market fund or government bond")
    OTHER_FUND_BOND = "other_fund_bond", _("Other listed fund or bond")


class Instrument(models.Model):
    code = models.CharField(_("code"), max_length=12)
    exchange = models.CharField(_("exchange"), max_length=4, choices=Exchange.choices)
    name = models.CharField(_("name"), max_length=100)
    category = models.CharField(_("category"), max_length=20, choices=InstrumentCategory.choices)
    is_st = models.BooleanField(_("ST / *ST"), default=False)
    suspended = models.BooleanField(_("suspended"), default=False)
    delisting = models.BooleanField(_("delisting period"), default=False)
    price_limit = models.DecimalField(
        _("daily price limit"), **FRACTION, help_text=_("Fraction, e.g. 0.10 for ±10%.")
    )
    tradable_float = models.BigIntegerField(_("tradable float (shares)"))
    lot_size = models.PositiveIntegerField(_("lot size"), default=100)
    # collateral policy
    collateral_eligible = models.BooleanField(_("eligible collateral"), default=False)
    haircut = models.DecimalField(_("haircut"), **FRACTION, default=0)
    financing_eligible = models.BooleanField(_("may be bought on margin"), default=False)
    financing_stopped = models.BooleanField(
        _("financing stopped (float rule)"),
        default=False,
        help_text=_("Set at 25% of tradable float financed, cleared below 20%."),
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    history = HistoricalRecords()

    class Meta:
        verbose_name = _("instrument")
        verbose_name_plural = _("instruments")
        ordering = ["exchange", "code"]
        constraints = [
            models.UniqueConstraint(fields=["exchange", "code"], name="lending_instrument_unique"),
            models.CheckConstraint(
                condition=Q(haircut__gte=0) & Q(haircut__lte=1),
                name="lending_instrument_haircut_range",
            ),
            models.CheckConstraint(
                condition=Q(haircut=0) | Q(is_st=False, suspended=False, delisting=False),
                name="lending_instrument_flagged_haircut_zero",
            ),
            models.CheckConstraint(
                condition=Q(price_limit__gt=0) & Q(price_limit__lt=1),
                name="lending_instrument_price_limit_range",
            ),
            models.CheckConstraint(
                condition=Q(tradable_float__gt=0), name="lending_instrument_float_positive"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.ledger_unit} {self.name}"

    @property
    def ledger_unit(self) -> str:
        return f"{self.exchange}:{self.code}"

    @property
    def flagged(self) -> bool:
        return self.is_st or self.suspended or self.delisting

    @property
    def effective_haircut(self):
        """The haircut valuation uses: 0 off the eligible list or while flagged."""
        from decimal import Decimal

        if not self.collateral_eligible or self.flagged:
            return Decimal(0)
        return self.haircut


class PriceTick(models.Model):
    instrument = models.ForeignKey(Instrument, on_delete=models.PROTECT, related_name="ticks")
    price = models.DecimalField(_("price"), **PRICE)
    at = models.DateTimeField(_("time"))
    source = models.CharField(_("source"), max_length=40)
    received_at = models.DateTimeField(_("received at"), auto_now_add=True)

    class Meta:
        verbose_name = _("price tick")
        verbose_name_plural = _("price ticks")
        constraints = [
            models.UniqueConstraint(fields=["instrument", "at"], name="lending_tick_unique"),
            models.CheckConstraint(condition=Q(price__gt=0), name="lending_tick_price_positive"),
        ]
        indexes = [models.Index(fields=["instrument", "-at"])]

    def __str__(self) -> str:
        return f"{self.instrument_id} {self.price} @ {self.at:%Y-%m-%d %H:%M:%S}"


class LatestPrice(models.Model):
    """Written only by prices_ingest with a conditional UPDATE (never moves back in time)."""

    instrument = models.OneToOneField(
        Instrument, on_delete=models.PROTECT, primary_key=True, related_name="latest_price"
    )
    price = models.DecimalField(_("price"), **PRICE)
    at = models.DateTimeField(_("time"))
    prev_close = models.DecimalField(_("previous close"), **PRICE, null=True, blank=True)

    class Meta:
        verbose_name = _("latest price")
        verbose_name_plural = _("latest prices")

    def __str__(self) -> str:
        return f"{self.instrument_id} {self.price} @ {self.at:%Y-%m-%d %H:%M:%S}"


class FinancingStatus(models.TextChoices):
    OPEN = "open", _("Open")
    REPAID = "repaid", _("Repaid")


class Financing(models.Model):
    """One financed purchase (融资买入): a drawdown lot."""

    credit_account = models.ForeignKey(
        "lending.CreditAccount", on_delete=models.PROTECT, related_name="financings"
    )
    contract = models.ForeignKey(
        "lending.CreditContract", on_delete=models.PROTECT, related_name="financings"
    )
    instrument = models.ForeignKey(Instrument, on_delete=models.PROTECT, related_name="+")
    quantity = models.DecimalField(_("quantity"), **QTY)
    price = models.DecimalField(_("price"), **PRICE)
    amount = models.DecimalField(_("amount"), **MONEY)
    principal_outstanding = models.DecimalField(_("outstanding principal"), **MONEY)
    interest_accrued = models.DecimalField(_("accrued interest unpaid"), **MONEY, default=0)
    interest_paid = models.DecimalField(_("interest paid"), **MONEY, default=0)
    quantity_held = models.DecimalField(_("financed quantity still held"), **QTY)
    opened_on = models.DateField(_("opened on"))
    due_on = models.DateField(_("due on"))
    status = models.CharField(
        _("status"), max_length=8, choices=FinancingStatus.choices, default=FinancingStatus.OPEN
    )
    idempotency_key = models.CharField(_("idempotency key"), max_length=200, unique=True)
    entry = models.ForeignKey(
        "custody.JournalEntry", on_delete=models.PROTECT, null=True, related_name="+"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, related_name="+"
    )
    reason = models.CharField(_("reason"), max_length=300, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    history = HistoricalRecords()

    class Meta:
        verbose_name = _("financing")
        verbose_name_plural = _("financings")
        ordering = ["opened_on", "pk"]
        constraints = [
            models.CheckConstraint(
                condition=Q(amount__gt=0)
                & Q(principal_outstanding__gte=0)
                & Q(principal_outstanding__lte=models.F("amount"))
                & Q(interest_accrued__gte=0)
                & Q(quantity_held__gte=0),
                name="lending_financing_amounts",
            ),
        ]
        indexes = [models.Index(fields=["credit_account", "status"])]

    def __str__(self) -> str:
        return f"#{self.pk} {self.instrument_id} {self.amount}"


class InterestAccrual(models.Model):
    contract = models.ForeignKey(
        "lending.CreditContract", on_delete=models.PROTECT, related_name="interest_accruals"
    )
    business_date = models.DateField(_("business date"))
    principal = models.DecimalField(_("principal"), **MONEY)
    annual_rate = models.DecimalField(_("annual rate"), max_digits=8, decimal_places=6)
    amount = models.DecimalField(_("interest"), **MONEY)
    entry = models.ForeignKey(
        "custody.JournalEntry", on_delete=models.PROTECT, null=True, related_name="+"
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("interest accrual")
        verbose_name_plural = _("interest accruals")
        constraints = [
            models.UniqueConstraint(
                fields=["contract", "business_date"], name="lending_interest_once_per_day"
            )
        ]

    def __str__(self) -> str:
        return f"{self.contract_id} {self.business_date} {self.amount}"


class WithdrawalKind(models.TextChoices):
    CASH = "cash", _("Cash")
    SECURITIES = "securities", _("Securities")


class WithdrawalRequest(models.Model):
    """A withdrawal out of the credit account, allowed while the ratio stays ≥ the line."""

    credit_account = models.ForeignKey(
        "lending.CreditAccount", on_delete=models.PROTECT, related_name="withdrawals"
    )
    kind = models.CharField(_("kind"), max_length=12, choices=WithdrawalKind.choices)
    amount = models.DecimalField(_("amount"), **MONEY, null=True, blank=True)
    instrument = models.ForeignKey(
        Instrument, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    quantity = models.DecimalField(_("quantity"), **QTY, null=True, blank=True)
    idempotency_key = models.CharField(_("idempotency key"), max_length=200, unique=True)
    entry = models.ForeignKey(
        "custody.JournalEntry", on_delete=models.PROTECT, null=True, related_name="+"
    )
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, related_name="+"
    )
    reason = models.CharField(_("reason"), max_length=300, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    history = HistoricalRecords()

    class Meta:
        verbose_name = _("withdrawal")
        verbose_name_plural = _("withdrawals")
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"#{self.pk} {self.kind}"
