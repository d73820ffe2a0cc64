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

Short positions (融券负债), booked only from the market's fills (lending.shorts.positions):
- `ShortPosition`: one fill of a short sale (融券卖出), like a financing lot: the shares sold
  (`quantity`) at the fill's price, the shares still owed (`quantity_outstanding`) and the
  short-sale amount of those shares (`amount_outstanding`, 融券卖出金额 in the available
  margin), the annual lending fee rate fixed at the sale, the fees accrued and paid, its due
  date (six months, dated parameter shorts.max_term_months) and the reservation whose lots
  lent the shares. Closed when every share is returned (bought to cover, returned directly or
  bought in).
- `ShortFeeAccrual`: one day's lending fee of one credit account (ACT/360 on the outstanding
  short-sale amounts, per position and day rounded to the cent), once per account and day.
- `ShortCompensation` (权益补偿): what the short seller owes the lender for a corporate action on
  a lent security (a cash dividend: money; bonus shares: more shares owed), once per position
  and corporate action.
- `ShortPositionExtension`: an extension of one position's due date, four eyes, as a
  financing's.
"""

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _
from simple_history.models import HistoricalRecords

from accounts.constraints import four_eyes
from accounts.precision import MONEY, PRICE, QUANTITY, RATE
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


# --- short positions ------------------------------------------------------------------------


class ShortPositionStatus(models.TextChoices):
    OPEN = "open", _("Open")
    CLOSED = "closed", _("Closed")


class ShortPosition(models.Model):
    """One short sale fill (融券卖出): the shares owed to the lending inventory."""

    credit_account = models.ForeignKey(
        "lending.CreditAccount", on_delete=models.PROTECT, related_name="short_positions"
    )
    contract = models.ForeignKey(
        "lending.CreditContract", on_delete=models.PROTECT, related_name="short_positions"
    )
    instrument = models.ForeignKey(Instrument, on_delete=models.PROTECT, related_name="+")
    reservation = models.ForeignKey(
        ShortReservation, on_delete=models.PROTECT, related_name="positions"
    )
    quantity = models.DecimalField(_("quantity sold"), **QUANTITY.fields)
    price = models.DecimalField(_("sale price"), **PRICE.fields)
    amount = models.DecimalField(_("short sale amount"), **MONEY.fields)
    quantity_outstanding = models.DecimalField(_("quantity owed"), **QUANTITY.fields)
    amount_outstanding = models.DecimalField(_("short sale amount owed"), **MONEY.fields)
    fee_rate = models.DecimalField(_("annual lending fee rate"), **RATE.fields)
    fee_accrued = models.DecimalField(_("lending fees accrued unpaid"), **MONEY.fields, default=0)
    fee_paid = models.DecimalField(_("lending fees paid"), **MONEY.fields, default=0)
    # the last day whose fee is accrued (None: none yet)
    fee_accrued_through = models.DateField(_("fees accrued through"), null=True, blank=True)
    compensation_charged = models.DecimalField(_("compensation charged"), **MONEY.fields, default=0)
    opened_on = models.DateField(_("opened on"))
    due_on = models.DateField(_("due on"))
    overdue_since = models.DateField(_("overdue since"), null=True, blank=True)
    closed_on = models.DateField(_("closed on"), null=True, blank=True)
    status = models.CharField(
        _("status"),
        max_length=8,
        choices=ShortPositionStatus.choices,
        default=ShortPositionStatus.OPEN,
    )
    idempotency_key = models.CharField(_("idempotency key"), max_length=200, unique=True)
    entry = models.ForeignKey("custody.JournalEntry", on_delete=models.PROTECT, related_name="+")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, related_name="+"
    )
    reason = models.CharField(_("reason"), max_length=300, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    history = HistoricalRecords()

    class Meta:
        verbose_name = _("short position")
        verbose_name_plural = _("short positions")
        ordering = ["opened_on", "pk"]
        indexes = [
            models.Index(fields=["credit_account", "status"], name="lending_short_acct_status"),
            models.Index(fields=["instrument", "status"], name="lending_short_instr_status"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(quantity__gt=0)
                & Q(price__gt=0)
                & Q(amount__gt=0)
                & Q(quantity_outstanding__gte=0)
                & Q(amount_outstanding__gte=0)
                & Q(amount_outstanding__lte=F("amount"))
                & Q(fee_rate__gte=0)
                & Q(fee_accrued__gte=0)
                & Q(fee_paid__gte=0)
                & Q(compensation_charged__gte=0),
                name="lending_short_position_amounts",
            ),
            models.CheckConstraint(
                condition=(Q(status="open") & Q(closed_on__isnull=True))
                | (Q(status="closed") & Q(closed_on__isnull=False) & Q(quantity_outstanding=0)),
                name="lending_short_position_closed",
            ),
        ]

    def __str__(self) -> str:
        return f"short #{self.pk} {self.instrument_id} {self.quantity_outstanding}"


class ShortFeeAccrual(models.Model):
    credit_account = models.ForeignKey(
        "lending.CreditAccount", on_delete=models.PROTECT, related_name="short_fee_accruals"
    )
    business_date = models.DateField(_("business date"))
    amount_base = models.DecimalField(_("short sale amount owed"), **MONEY.fields)
    amount = models.DecimalField(_("lending fee"), **MONEY.fields)
    entry = models.ForeignKey(
        "custody.JournalEntry", on_delete=models.PROTECT, null=True, related_name="+"
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("lending fee accrual")
        verbose_name_plural = _("lending fee accruals")
        constraints = [
            models.UniqueConstraint(
                fields=["credit_account", "business_date"], name="lending_short_fee_once_per_day"
            ),
            models.CheckConstraint(
                condition=Q(amount__gte=0) & Q(amount_base__gte=0),
                name="lending_short_fee_amounts",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.credit_account_id} {self.business_date} {self.amount}"


class CompensationKind(models.TextChoices):
    CASH = "cash", _("Cash dividend compensation")
    SHARES = "shares", _("Bonus share compensation")


class ShortCompensation(models.Model):
    """权益补偿: the short seller makes the lender whole for a corporate action (append-only)."""

    position = models.ForeignKey(
        ShortPosition, on_delete=models.PROTECT, related_name="compensations"
    )
    corporate_action = models.ForeignKey(
        "lending.CorporateAction", on_delete=models.PROTECT, related_name="short_compensations"
    )
    kind = models.CharField(_("kind"), max_length=8, choices=CompensationKind.choices)
    quantity_owed = models.DecimalField(_("shares owed at the record date"), **QUANTITY.fields)
    amount = models.DecimalField(_("cash compensation"), **MONEY.fields, default=0)
    shares = models.DecimalField(_("bonus shares owed"), **QUANTITY.fields, default=0)
    entry = models.ForeignKey("custody.JournalEntry", on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("short compensation")
        verbose_name_plural = _("short compensations")
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["position", "corporate_action"], name="lending_short_comp_once"
            ),
            models.CheckConstraint(
                condition=Q(amount__gte=0) & Q(shares__gte=0) & Q(quantity_owed__gt=0),
                name="lending_short_comp_amounts",
            ),
        ]

    def __str__(self) -> str:
        return f"compensation {self.position_id} {self.corporate_action_id} {self.kind}"


class ShortExtensionStatus(models.TextChoices):
    REQUESTED = "requested", _("Requested by the investor")
    PREPARED = "prepared", _("Checked, awaiting approval")
    APPROVED = "approved", _("Approved")
    REJECTED = "rejected", _("Rejected")


class ShortPositionExtension(models.Model):
    """An extension of one short position's due date: asked by the investor before it is due,
    checked by one staff member, approved or rejected by another (four eyes)."""

    position = models.ForeignKey(ShortPosition, on_delete=models.PROTECT, related_name="extensions")
    months = models.PositiveSmallIntegerField(_("months"))
    old_due_on = models.DateField(_("due on before"))
    new_due_on = models.DateField(_("due on after"))
    status = models.CharField(
        _("status"),
        max_length=10,
        choices=ShortExtensionStatus.choices,
        default=ShortExtensionStatus.REQUESTED,
    )
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, related_name="+"
    )
    reason = models.CharField(_("investor's reason"), max_length=300, blank=True)
    prepared_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    prepared_at = models.DateTimeField(_("prepared at"), null=True, blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    decided_at = models.DateTimeField(_("decided at"), null=True, blank=True)
    decision_reason = models.CharField(_("decision reason"), max_length=300, blank=True)
    created_at = models.DateTimeField(_("requested at"), auto_now_add=True)

    history = HistoricalRecords()

    class Meta:
        verbose_name = _("short position extension")
        verbose_name_plural = _("short position extensions")
        ordering = ["-created_at", "-pk"]
        permissions = [
            ("prepare_shortpositionextension", _("Can check a short position extension")),
            ("approve_shortpositionextension", _("Can approve a short position extension")),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(months__gt=0) & Q(new_due_on__gt=F("old_due_on")),
                name="lending_short_ext_months",
            ),
            models.UniqueConstraint(
                fields=["position"],
                condition=Q(status__in=["requested", "prepared"]),
                name="lending_short_ext_one_pending",
            ),
            four_eyes(
                checker="decided_by", maker="prepared_by", name="lending_short_ext_four_eyes"
            ),
            models.CheckConstraint(
                condition=~Q(status="approved")
                | Q(prepared_by__isnull=False, decided_by__isnull=False),
                name="lending_short_ext_approved_checked",
            ),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} short {self.position_id} +{self.months}m ({self.status})"


class RestrictedHolding(models.Model):
    """Units of a money-market fund or government bond bought with the restricted short
    proceeds (lending.shorts.proceeds): they stay restricted while the account has open short
    positions. `quantity`: the units still held restricted; `amount`: the restricted money they
    cost (their cost basis). Set to zero when the last open short position closes."""

    credit_account = models.ForeignKey(
        "lending.CreditAccount", on_delete=models.PROTECT, related_name="restricted_holdings"
    )
    instrument = models.ForeignKey(Instrument, on_delete=models.PROTECT, related_name="+")
    quantity = models.DecimalField(_("restricted units"), **QUANTITY.fields, default=0)
    amount = models.DecimalField(_("restricted cost"), **MONEY.fields, default=0)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    history = HistoricalRecords()

    class Meta:
        verbose_name = _("restricted proceeds holding")
        verbose_name_plural = _("restricted proceeds holdings")
        ordering = ["credit_account", "instrument"]
        constraints = [
            models.UniqueConstraint(
                fields=["credit_account", "instrument"], name="lending_restricted_holding_once"
            ),
            models.CheckConstraint(
                condition=Q(quantity__gte=0) & Q(amount__gte=0),
                name="lending_restricted_holding_amounts",
            ),
        ]

    def __str__(self) -> str:
        return f"restricted {self.credit_account_id} {self.instrument_id} {self.quantity}"
