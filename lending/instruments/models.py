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
  refuses a tick outside it.
- `ExchangeListImport` / `ExchangeListEntry`: an exchange's eligible-collateral list (a
  conversion rate per security) or financing target list, one file per import, kept whole with
  its SHA-256; the list in force on a day is the latest import effective on or before it
  (lending.instruments.exchange_lists, docs/exchange-lists.md)."""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy
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
    category = models.CharField(
        pgettext_lazy("instrument", "category"), max_length=20, choices=InstrumentCategory.choices
    )
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
    shorts_stopped = models.BooleanField(
        _("short sales stopped (float rule)"),
        default=False,
        help_text=_("Set at 25% of tradable float owed short, cleared below 20%."),
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


class ExchangeListKind(models.TextChoices):
    ELIGIBLE_COLLATERAL = "eligible_collateral", _("Eligible collateral (conversion rates)")
    FINANCING_TARGET = "financing_target", _("Financing target list")
    SHORT_TARGET = "short_target", _("Short-sale target list")


class ExchangeListImport(models.Model):
    """One file of an exchange's list, as published, kept whole with its SHA-256.

    An import is a complete list: the list in force for an exchange and kind on day D is the
    latest import (effective_on, then id) with effective_on <= D, and a security absent from it
    is off the list that day. Before the first import of an exchange and kind, the desk's own
    list stands alone (lending.instruments.exchange_lists). Rows are never edited: a corrected
    file is a new import (the later one wins on the same day); the same file for the same day
    is the same import (unique SHA-256 per exchange, kind and day)."""

    exchange = models.CharField(_("exchange"), max_length=4, choices=Exchange.choices)
    kind = models.CharField(_("list"), max_length=20, choices=ExchangeListKind.choices)
    effective_on = models.DateField(_("effective on"))
    file_name = models.CharField(_("file name"), max_length=200)
    sha256 = models.CharField(_("SHA-256"), max_length=64)
    content = models.TextField(_("file content"))
    row_count = models.PositiveIntegerField(_("rows"))
    unknown_codes = models.JSONField(_("unknown codes"), default=list, blank=True)
    imported_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("imported by"),
    )
    imported_at = models.DateTimeField(_("imported at"))
    reason = models.TextField(_("reason"))

    history = HistoricalRecords()

    class Meta:
        verbose_name = _("exchange list import")
        verbose_name_plural = _("exchange list imports")
        ordering = ["-effective_on", "-pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["exchange", "kind", "effective_on", "sha256"],
                name="lending_exchange_list_same_file_once",
            ),
            models.CheckConstraint(
                condition=Q(exchange__in=Exchange.values), name="lending_exchange_list_exchange"
            ),
            models.CheckConstraint(
                condition=Q(kind__in=ExchangeListKind.values), name="lending_exchange_list_kind"
            ),
        ]
        indexes = [
            models.Index(
                fields=["exchange", "kind", "-effective_on", "-id"],
                name="lending_exchange_list_in_force",
            )
        ]

    def __str__(self) -> str:
        return f"{self.exchange} {self.kind} {self.effective_on:%Y-%m-%d} ({self.file_name})"


class ExchangeListEntry(models.Model):
    """One line of an imported list: the security (None when the desk does not know its code:
    kept with the code and reported on the import) and, on a collateral list, the exchange's
    conversion rate (折算率). Written once with its import, never changed."""

    list_import = models.ForeignKey(
        ExchangeListImport, on_delete=models.PROTECT, related_name="entries"
    )
    line = models.PositiveIntegerField(_("line"))
    code = models.CharField(_("code"), max_length=12)
    instrument = models.ForeignKey(
        Instrument, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    conversion_rate = models.DecimalField(
        _("conversion rate"), **FRACTION.fields, null=True, blank=True
    )

    class Meta:
        verbose_name = _("exchange list entry")
        verbose_name_plural = _("exchange list entries")
        ordering = ["list_import", "line"]
        constraints = [
            models.UniqueConstraint(
                fields=["list_import", "code"], name="lending_exchange_list_entry_code_once"
            ),
            models.UniqueConstraint(
                fields=["list_import", "instrument"],
                condition=Q(instrument__isnull=False),
                name="lending_exchange_list_entry_instrument_once",
            ),
            models.CheckConstraint(
                condition=Q(conversion_rate__isnull=True)
                | (Q(conversion_rate__gte=0) & Q(conversion_rate__lte=1)),
                name="lending_exchange_list_entry_rate_range",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.list_import_id}:{self.line} {self.code}"


__all__ = [
    "Board",
    "Exchange",
    "ExchangeListEntry",
    "ExchangeListImport",
    "ExchangeListKind",
    "Instrument",
    "InstrumentCategory",
    "LatestPrice",
    "PriceTick",
]
