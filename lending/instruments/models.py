"""Instruments, their collateral policy and prices.

Design overview
- `Instrument`: a listed security (SSE or SZSE) with its category, board (main, STAR,
  ChiNext: the daily price band's dated parameters are per board), listing date (a new
  listing's first trading days have no band), flags (ST, suspended, delisting period),
  tradable float and lot size. Its ledger unit is
  "SSE:600519": holdings live in custody as `client_securities` accounts of that unit.
  Collateral policy sits on the instrument: on the eligible list or not, the haircut (capped by
  the dated regulator cap of its category; forced to 0 while ST, suspended or delisting, which
  PostgreSQL checks too), whether it may be bought on margin, and the desk-wide financing stop
  (hysteresis: stopped at 25% of tradable float financed, resumed below 20%). Every change goes
  through lending.instruments.services and is kept by simple-history with who and why.
- `PriceTick`: every tick received, unique per (instrument, at): a repeated tick is ignored.
  `LatestPrice` (one row per instrument) moves only forward in time: it is written with a
  conditional UPDATE ... WHERE at < new_at, so an older tick never overwrites a newer price,
  whatever the order two processes commit in. `prev_close` is the last price of the previous
  day. The daily price band around the previous close is lending.domain.prices.price_band,
  its parameters read by lending.instruments.selectors (`instrument_band`); prices_ingest
  refuses a tick outside it."""

from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _
from simple_history.models import HistoricalRecords

from accounts.precision import FRACTION, PRICE
from lending.domain import prices as price_rules


class Exchange(models.TextChoices):
    SSE = "SSE", _("Shanghai Stock Exchange")
    SZSE = "SZSE", _("Shenzhen Stock Exchange")


class InstrumentCategory(models.TextChoices):
    INDEX_CONSTITUENT = "index_constituent", _("SSE 180 / SZSE 100 constituent")
    OTHER_A_SHARE = "other_a_share", _("Other A-share")
    ETF = "etf", _("ETF")
    MONEY_MARKET_GOVT = "money_market_govt", _("Money-market fund or government bond")
    OTHER_FUND_BOND = "other_fund_bond", _("Other listed fund or bond")


class Board(models.TextChoices):
    MAIN = price_rules.MAIN, _("Main board")
    STAR = price_rules.STAR, _("STAR Market")
    CHINEXT = price_rules.CHINEXT, _("ChiNext")


class Instrument(models.Model):
    code = models.CharField(_("code"), max_length=12)
    exchange = models.CharField(_("exchange"), max_length=4, choices=Exchange.choices)
    name = models.CharField(_("name"), max_length=100)
    category = models.CharField(_("category"), max_length=20, choices=InstrumentCategory.choices)
    is_st = models.BooleanField(_("ST / *ST"), default=False)
    suspended = models.BooleanField(_("suspended"), default=False)
    delisting = models.BooleanField(_("delisting period"), default=False)
    board = models.CharField(_("board"), max_length=8, choices=Board.choices, default=Board.MAIN)
    listed_on = models.DateField(
        _("listed on"),
        null=True,
        blank=True,
        help_text=_("First trading day; a new listing's first days have no price band."),
    )
    tradable_float = models.BigIntegerField(_("tradable float (shares)"))
    lot_size = models.PositiveIntegerField(_("lot size"), default=100)
    # collateral policy
    collateral_eligible = models.BooleanField(_("eligible collateral"), default=False)
    haircut = models.DecimalField(_("haircut"), **FRACTION.fields, default=0)
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
                condition=Q(board__in=Board.values), name="lending_instrument_board_valid"
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
    price = models.DecimalField(_("price"), **PRICE.fields)
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
    price = models.DecimalField(_("price"), **PRICE.fields)
    at = models.DateTimeField(_("time"))
    prev_close = models.DecimalField(_("previous close"), **PRICE.fields, null=True, blank=True)

    class Meta:
        verbose_name = _("latest price")
        verbose_name_plural = _("latest prices")

    def __str__(self) -> str:
        return f"{self.instrument_id} {self.price} @ {self.at:%Y-%m-%d %H:%M:%S}"


__all__ = [
    "Board",
    "Exchange",
    "Instrument",
    "InstrumentCategory",
    "LatestPrice",
    "PriceTick",
]
