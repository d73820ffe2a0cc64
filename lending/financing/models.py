"""What is booked on a credit account, per lot.

Design overview
- `Financing`: one financed purchase (drawdown lot): amount, outstanding principal, accrued
  interest not yet collected, financed quantity still held, opened and due dates. The ledger
  (custody) is the source of the balances; these rows allocate them per lot (oldest first).
- `InterestAccrual`: one row per contract and business day; unique, so interest is posted once.
- `WithdrawalRequest`: a withdrawal of cash or a transfer of shares out, with its
  idempotency key; booked in custody in the same transaction.
- `CollateralTransferIn`: shares moved in from the investor's ordinary securities account on
  the custodian's confirmation, booked on a second person's approval.
- `BankCredit`: one credit line of the client omnibus bank account's statement (money in),
  unique per the bank's line id: credited to the investor its reference names when it came
  from their bank account of record, held with a red flag when it came from another account,
  unmatched (red flag, to be returned) when the reference names no investor."""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _
from simple_history.models import HistoricalRecords

from accounts.constraints import four_eyes
from accounts.precision import MONEY, PRICE, QUANTITY, RATE
from lending.instruments.models import Instrument


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
    quantity = models.DecimalField(_("quantity"), **QUANTITY.fields)
    price = models.DecimalField(_("price"), **PRICE.fields)
    amount = models.DecimalField(_("amount"), **MONEY.fields)
    principal_outstanding = models.DecimalField(_("outstanding principal"), **MONEY.fields)
    interest_accrued = models.DecimalField(_("accrued interest unpaid"), **MONEY.fields, default=0)
    interest_paid = models.DecimalField(_("interest paid"), **MONEY.fields, default=0)
    quantity_held = models.DecimalField(_("financed quantity still held"), **QUANTITY.fields)
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
    principal = models.DecimalField(_("principal"), **MONEY.fields)
    annual_rate = models.DecimalField(_("annual rate"), **RATE.fields)
    amount = models.DecimalField(_("interest"), **MONEY.fields)
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
    amount = models.DecimalField(_("amount"), **MONEY.fields, null=True, blank=True)
    instrument = models.ForeignKey(
        Instrument, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    quantity = models.DecimalField(_("quantity"), **QUANTITY.fields, null=True, blank=True)
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


class TransferStatus(models.TextChoices):
    PREPARED = "prepared", _("Prepared, awaiting approval")
    BOOKED = "booked", _("Approved and booked")
    REJECTED = "rejected", _("Rejected")


class CollateralTransferIn(models.Model):
    """Shares moved from the investor's ordinary securities account into the credit account
    (担保品划转), on the custodian's confirmation: prepared by operations with the
    confirmation's reference, booked when a second person approves (four eyes)."""

    credit_account = models.ForeignKey(
        "lending.CreditAccount", on_delete=models.PROTECT, related_name="transfers_in"
    )
    instrument = models.ForeignKey(Instrument, on_delete=models.PROTECT, related_name="+")
    quantity = models.DecimalField(_("quantity"), **QUANTITY.fields)
    confirmation_reference = models.CharField(
        _("custodian confirmation"), max_length=64, unique=True
    )
    status = models.CharField(
        _("status"), max_length=10, choices=TransferStatus.choices, default=TransferStatus.PREPARED
    )
    prepared_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, related_name="+"
    )
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    decided_at = models.DateTimeField(_("decided at"), null=True, blank=True)
    entry = models.ForeignKey(
        "custody.JournalEntry", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    reason = models.CharField(_("reason"), max_length=300)
    created_at = models.DateTimeField(_("prepared at"), auto_now_add=True)

    history = HistoricalRecords()

    class Meta:
        verbose_name = _("collateral transfer in")
        verbose_name_plural = _("collateral transfers in")
        ordering = ["-created_at", "-pk"]
        permissions = [("approve_collateraltransferin", _("Can approve a collateral transfer in"))]
        constraints = [
            models.CheckConstraint(condition=Q(quantity__gt=0), name="lending_transfer_in_qty"),
            four_eyes(
                checker="decided_by", maker="prepared_by", name="lending_transfer_in_four_eyes"
            ),
            models.CheckConstraint(
                condition=~Q(status="booked") | Q(entry__isnull=False),
                name="lending_transfer_in_booked_has_entry",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.confirmation_reference} {self.quantity} ({self.status})"


class BankCreditStatus(models.TextChoices):
    CREDITED = "credited", _("Credited to the investor")
    HELD = "held", _("Held: not from the bank account of record")
    UNMATCHED = "unmatched", _("Unmatched: the reference names no investor")
    RETURNED = "returned", _("Returned to the sender")


class BankCredit(models.Model):
    bank_line_id = models.CharField(_("bank line id"), max_length=64, unique=True)
    value_date = models.DateField(_("value date"))
    amount = models.DecimalField(_("amount"), **MONEY.fields)
    currency = models.CharField(_("currency"), max_length=3)
    payer_name = models.CharField(_("payer name"), max_length=120)
    payer_account_masked = models.CharField(_("payer account"), max_length=40)
    payer_account_digest = models.CharField(max_length=64, editable=False)
    reference = models.CharField(_("reference"), max_length=140, blank=True)
    status = models.CharField(_("status"), max_length=10, choices=BankCreditStatus.choices)
    investor = models.ForeignKey(
        "accounts.InvestorProfile",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="bank_credits",
    )
    entry = models.ForeignKey(
        "custody.JournalEntry", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    held_deposit = models.OneToOneField(
        "compliance.HeldDeposit",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="bank_credit",
    )
    red_flag = models.OneToOneField(
        "compliance.RedFlag", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    source = models.CharField(_("source"), max_length=12)  # "csv" (staff) or "api" (bank feed)
    imported_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, related_name="+"
    )
    resolution = models.CharField(_("resolution"), max_length=300, blank=True)
    created_at = models.DateTimeField(_("received at"), auto_now_add=True)

    history = HistoricalRecords()

    class Meta:
        verbose_name = _("bank credit")
        verbose_name_plural = _("bank credits")
        ordering = ["-value_date", "-pk"]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="lending_bank_credit_positive"),
            models.CheckConstraint(
                condition=~Q(status="credited") | Q(entry__isnull=False, investor__isnull=False),
                name="lending_bank_credit_credited_has_entry",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.bank_line_id} {self.amount} {self.currency} ({self.status})"


__all__ = [
    "BankCredit",
    "BankCreditStatus",
    "CollateralTransferIn",
    "Financing",
    "FinancingStatus",
    "InterestAccrual",
    "TransferStatus",
    "WithdrawalKind",
    "WithdrawalRequest",
]
