"""The lending inventory (券源) and the reservations held on it.

Design overview
- `LendingLot`: one lot of lendable securities of one instrument from one source, booked from
  the custodian's confirmation (its reference unique: one confirmation is one lot): "house"
  (the desk's own shares, Dr custodian / Cr the house lendable securities account of the
  instrument) or "refinancing" (转融通: shares borrowed from the securities finance
  corporation, Cr the house refinancing securities account; only while the dated switch
  `shorts.refinancing_enabled` is on). `quantity` is what the lot holds now (the confirmed
  quantity less what was withdrawn); `reserved` is held for orders, `lent` is out with short
  sellers. PostgreSQL checks reserved + lent <= quantity <= confirmed_quantity, all >= 0, so
  available (quantity - reserved - lent) is never negative whoever writes the row.
- `LendingLotWithdrawal`: unreserved shares taken out of the inventory, with the ledger entry
  that moved them back to the house's own holdings. Evidence: append-only (PostgreSQL refuses
  UPDATE and DELETE).
- `ShortReservation`: shares of one instrument held for one order (the order points at it):
  reserved when the order is placed, lent as it fills, released when it is cancelled or
  expires, returned as the short position is covered. Counters are cumulative:
  outstanding reserved = quantity - lent - released, outstanding lent = lent - returned.
- `ShortReservationAllocation`: how a reservation is spread over lots, with the same counters
  per lot; the lots' `reserved` and `lent` are the sums of these (kept in the same
  transaction by lending.shorts.services).
"""

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _
from simple_history.models import HistoricalRecords

from accounts.precision import QUANTITY
from lending.instruments.models import Instrument


class LotSource(models.TextChoices):
    HOUSE = "house", _("House holdings")
    REFINANCING = "refinancing", _("Refinancing from the securities finance corporation")


class LendingLot(models.Model):
    instrument = models.ForeignKey(
        Instrument, on_delete=models.PROTECT, related_name="lending_lots"
    )
    source = models.CharField(_("source"), max_length=12, choices=LotSource.choices)
    confirmed_quantity = models.DecimalField(_("confirmed quantity"), **QUANTITY.fields)
    quantity = models.DecimalField(_("quantity"), **QUANTITY.fields)
    reserved = models.DecimalField(_("reserved"), **QUANTITY.fields, default=0)
    lent = models.DecimalField(_("lent"), **QUANTITY.fields, default=0)
    acquired_on = models.DateField(_("acquired on"))
    confirmation_reference = models.CharField(
        _("custodian confirmation"), max_length=64, unique=True
    )
    # the API's Idempotency-Key (scoped to the user), when the lot came through the API
    idempotency_key = models.CharField(max_length=160, unique=True, null=True, blank=True)
    entry = models.ForeignKey("custody.JournalEntry", on_delete=models.PROTECT, related_name="+")
    added_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, related_name="+"
    )
    reason = models.CharField(_("reason"), max_length=300)
    created_at = models.DateTimeField(_("added at"), auto_now_add=True)

    history = HistoricalRecords()

    class Meta:
        verbose_name = _("lending lot")
        verbose_name_plural = _("lending lots")
        ordering = ["instrument_id", "acquired_on", "pk"]
        indexes = [models.Index(fields=["instrument", "source"], name="lending_lot_instr_src")]
        constraints = [
            models.CheckConstraint(
                condition=Q(confirmed_quantity__gt=0), name="lending_lot_confirmed_positive"
            ),
            models.CheckConstraint(
                condition=Q(quantity__gte=0) & Q(quantity__lte=F("confirmed_quantity")),
                name="lending_lot_quantity_range",
            ),
            models.CheckConstraint(
                condition=Q(reserved__gte=0) & Q(lent__gte=0), name="lending_lot_counters_gte_0"
            ),
            models.CheckConstraint(
                condition=Q(reserved__lte=F("quantity") - F("lent")),
                name="lending_lot_reserved_lent_le_quantity",
            ),
            models.CheckConstraint(
                condition=Q(source__in=LotSource.values), name="lending_lot_source_known"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.confirmation_reference} {self.instrument_id} {self.quantity} ({self.source})"

    @property
    def available(self):
        return self.quantity - self.reserved - self.lent


class LendingLotWithdrawal(models.Model):
    """Unreserved shares taken out of a lot (append-only evidence)."""

    lot = models.ForeignKey(LendingLot, on_delete=models.PROTECT, related_name="withdrawals")
    quantity = models.DecimalField(_("quantity"), **QUANTITY.fields)
    entry = models.ForeignKey("custody.JournalEntry", on_delete=models.PROTECT, related_name="+")
    withdrawn_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, related_name="+"
    )
    reason = models.CharField(_("reason"), max_length=300)
    created_at = models.DateTimeField(_("withdrawn at"), auto_now_add=True)

    history = HistoricalRecords()

    class Meta:
        verbose_name = _("lending lot withdrawal")
        verbose_name_plural = _("lending lot withdrawals")
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.CheckConstraint(
                condition=Q(quantity__gt=0), name="lending_lot_withdrawal_qty_positive"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.lot_id} -{self.quantity}"


class ReservationStatus(models.TextChoices):
    RESERVED = "reserved", _("Reserved")  # some shares still reserved
    LENT = "lent", _("Lent")  # nothing reserved; lent shares outstanding
    RELEASED = "released", _("Released")  # ended without lending anything
    RETURNED = "returned", _("Returned")  # everything lent came back


class _Counters(models.Model):
    """quantity reserved at first; lent, released and returned since (cumulative)."""

    quantity = models.DecimalField(_("quantity"), **QUANTITY.fields)
    lent = models.DecimalField(_("lent"), **QUANTITY.fields, default=0)
    released = models.DecimalField(_("released"), **QUANTITY.fields, default=0)
    returned = models.DecimalField(_("returned"), **QUANTITY.fields, default=0)

    class Meta:
        abstract = True

    @property
    def outstanding_reserved(self):
        return self.quantity - self.lent - self.released

    @property
    def outstanding_lent(self):
        return self.lent - self.returned


def _counter_checks(prefix: str) -> list[models.CheckConstraint]:
    return [
        models.CheckConstraint(condition=Q(quantity__gt=0), name=f"{prefix}_qty_positive"),
        models.CheckConstraint(
            condition=Q(lent__gte=0) & Q(released__gte=0) & Q(returned__gte=0),
            name=f"{prefix}_counters_gte_0",
        ),
        models.CheckConstraint(
            condition=Q(lent__lte=F("quantity") - F("released")), name=f"{prefix}_lent_released"
        ),
        models.CheckConstraint(condition=Q(returned__lte=F("lent")), name=f"{prefix}_returned"),
    ]


class ShortReservation(_Counters):
    instrument = models.ForeignKey(Instrument, on_delete=models.PROTECT, related_name="+")
    # the credit account the order is for (None: a desk reservation by staff)
    credit_account = models.ForeignKey(
        "lending.CreditAccount",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="short_reservations",
    )
    status = models.CharField(
        _("status"),
        max_length=10,
        choices=ReservationStatus.choices,
        default=ReservationStatus.RESERVED,
    )
    reference = models.CharField(_("reference"), max_length=64, blank=True)
    reserved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, related_name="+"
    )
    reason = models.CharField(_("reason"), max_length=300)
    created_at = models.DateTimeField(_("reserved at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    history = HistoricalRecords()

    class Meta:
        verbose_name = _("short-sale reservation")
        verbose_name_plural = _("short-sale reservations")
        ordering = ["-created_at", "-pk"]
        constraints = [
            *_counter_checks("lending_short_resv"),
            models.CheckConstraint(
                condition=Q(status__in=ReservationStatus.values),
                name="lending_short_resv_status_known",
            ),
        ]

    def __str__(self) -> str:
        return f"reservation #{self.pk} {self.instrument_id} {self.quantity} ({self.status})"


class ShortReservationAllocation(_Counters):
    reservation = models.ForeignKey(
        ShortReservation, on_delete=models.PROTECT, related_name="allocations"
    )
    lot = models.ForeignKey(LendingLot, on_delete=models.PROTECT, related_name="allocations")

    history = HistoricalRecords()

    class Meta:
        verbose_name = _("short-sale reservation allocation")
        verbose_name_plural = _("short-sale reservation allocations")
        ordering = ["reservation_id", "pk"]
        constraints = [
            *_counter_checks("lending_short_alloc"),
            models.UniqueConstraint(
                fields=["reservation", "lot"], name="lending_short_alloc_unique"
            ),
        ]

    def __str__(self) -> str:
        return f"reservation #{self.reservation_id} lot #{self.lot_id} {self.quantity}"
