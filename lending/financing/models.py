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
  unmatched (red flag, to be returned) when the reference names no investor.
- `CorporateAction` / `CorporateActionEntitlement`: a dividend, bonus, split or rights issue
  from the issuer's announcement, and what each holder got from it on the ex-date and pay date
  (lending.financing.corporate_actions, docs/corporate-actions.md)."""

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
    # maturity (lending.financing.maturity): the day after the due date on which it was found
    # unpaid; an overdue financing stays "open" (it is still owed) and accrues penalty interest
    overdue_since = models.DateField(_("overdue since"), null=True, blank=True)
    penalty_charged = models.DecimalField(_("penalty interest charged"), **MONEY.fields, default=0)
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


class PenaltyAccrual(models.Model):
    """One day of penalty interest (罚息) on one overdue financing: unique per financing and
    day, so a second run posts nothing (lending.financing.maturity.penalty_accrue)."""

    financing = models.ForeignKey(
        Financing, on_delete=models.PROTECT, related_name="penalty_accruals"
    )
    business_date = models.DateField(_("business date"))
    principal = models.DecimalField(_("overdue principal"), **MONEY.fields)
    annual_rate = models.DecimalField(_("penalty rate"), **RATE.fields)
    amount = models.DecimalField(_("penalty interest"), **MONEY.fields)
    entry = models.ForeignKey(
        "custody.JournalEntry", on_delete=models.PROTECT, null=True, related_name="+"
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("penalty interest accrual")
        verbose_name_plural = _("penalty interest accruals")
        ordering = ["business_date", "pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["financing", "business_date"], name="lending_penalty_once_per_day"
            )
        ]

    def __str__(self) -> str:
        return f"{self.financing_id} {self.business_date} {self.amount}"


class ExtensionStatus(models.TextChoices):
    REQUESTED = "requested", _("Requested by the investor")
    PREPARED = "prepared", _("Checked, awaiting approval")
    APPROVED = "approved", _("Approved")
    REJECTED = "rejected", _("Rejected")


PENDING_EXTENSION_STATUSES = ("requested", "prepared")


class FinancingExtension(models.Model):
    """An extension (展期) of one financing's due date, asked by the investor before the due
    date, checked by one staff member and approved or rejected by another (four eyes, a CHECK
    constraint too). The new due date runs from the old one (lending.financing.maturity)."""

    financing = models.ForeignKey(Financing, on_delete=models.PROTECT, related_name="extensions")
    credit_account = models.ForeignKey(
        "lending.CreditAccount", on_delete=models.PROTECT, related_name="financing_extensions"
    )
    months = models.PositiveSmallIntegerField(_("months"))
    old_due_on = models.DateField(_("due on before"))
    new_due_on = models.DateField(_("due on after"))
    status = models.CharField(
        _("status"),
        max_length=10,
        choices=ExtensionStatus.choices,
        default=ExtensionStatus.REQUESTED,
    )
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, related_name="+"
    )
    requested_on = models.DateField(_("requested on"))
    reason = models.CharField(_("investor's reason"), max_length=300, blank=True)
    prepared_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    prepared_at = models.DateTimeField(_("prepared at"), null=True, blank=True)
    preparation_note = models.CharField(_("preparer's note"), max_length=300, blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    decided_at = models.DateTimeField(_("decided at"), null=True, blank=True)
    decision_reason = models.CharField(_("decision reason"), max_length=300, blank=True)
    # what was checked at approval: risk class, calls, ratio, contract end (who may audit it)
    qualification = models.JSONField(_("qualification checked"), default=dict, blank=True)
    created_at = models.DateTimeField(_("requested at"), auto_now_add=True)

    history = HistoricalRecords()

    class Meta:
        verbose_name = _("financing extension")
        verbose_name_plural = _("financing extensions")
        ordering = ["-created_at", "-pk"]
        permissions = [
            ("prepare_financingextension", _("Can check a financing extension request")),
            ("approve_financingextension", _("Can approve a financing extension")),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(months__gt=0) & Q(new_due_on__gt=models.F("old_due_on")),
                name="lending_extension_months",
            ),
            models.UniqueConstraint(
                fields=["financing"],
                condition=Q(status__in=PENDING_EXTENSION_STATUSES),
                name="lending_one_pending_extension",
            ),
            four_eyes(
                checker="decided_by", maker="prepared_by", name="lending_extension_four_eyes"
            ),
            models.CheckConstraint(
                condition=~Q(status="approved")
                | Q(prepared_by__isnull=False, decided_by__isnull=False),
                name="lending_extension_approved_checked",
            ),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} financing {self.financing_id} +{self.months}m ({self.status})"


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
    # As the custodian's confirmation declares the shares: restricted (限售, lock-up) shares
    # are never collateral, so such a transfer is refused and none is ever booked (CHECK).
    restricted_shares = models.BooleanField(_("restricted (lock-up) shares"), default=False)
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
            models.CheckConstraint(
                condition=~Q(status="booked") | Q(restricted_shares=False),
                name="lending_transfer_in_never_restricted",
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
    "PENDING_EXTENSION_STATUSES",
    "BankCredit",
    "BankCreditStatus",
    "CollateralTransferIn",
    "ExtensionStatus",
    "Financing",
    "FinancingExtension",
    "FinancingStatus",
    "InterestAccrual",
    "PenaltyAccrual",
    "TransferStatus",
    "WithdrawalKind",
    "WithdrawalRequest",
]


# --- corporate actions (lending.financing.corporate_actions, docs/corporate-actions.md) ------


class CorporateActionKind(models.TextChoices):
    CASH_DIVIDEND = "cash_dividend", _("Cash dividend")
    BONUS = "bonus", _("Bonus shares")
    SPLIT = "split", _("Share split")
    RIGHTS = "rights", _("Rights issue")


class CorporateActionStatus(models.TextChoices):
    ANNOUNCED = "announced", _("Announced")
    EX_PROCESSED = "ex_processed", _("Processed on the ex-date")
    PAID = "paid", _("Paid")
    SETTLED = "settled", _("Rights settled")
    CANCELLED = "cancelled", _("Cancelled")


class RightsOutcome(models.TextChoices):
    ALLOTTED = "allotted", _("Allotted: the issue succeeded")
    FAILED = "failed", _("Failed: the subscription money is refunded")


class CorporateAction(models.Model):
    """One corporate action of a listed security (除权除息), from the issuer's announcement,
    entered by operations one by one or from a file (`import_file_name`, `import_sha256`).

    cash_dividend: `cash_per_share` (yuan per share paid to the holder); bonus and split:
    `ratio` = new shares per old share (10-for-10 bonus = 1; a 1-to-2 split = 1); rights:
    `ratio` = rights shares per old share at `rights_price`, subscribed by the investor with
    own money until `subscription_end`. `reference_price` is the ex-date's adjusted previous
    close (the exchange's ex-rights reference price) written on the ex-date; `ex_entries` the
    number of entitlements booked."""

    instrument = models.ForeignKey(Instrument, on_delete=models.PROTECT, related_name="+")
    kind = models.CharField(_("kind"), max_length=16, choices=CorporateActionKind.choices)
    record_date = models.DateField(_("record date"))
    ex_date = models.DateField(_("ex-date"))
    pay_date = models.DateField(_("pay date"), null=True, blank=True)
    cash_per_share = models.DecimalField(_("cash per share"), **PRICE.fields, null=True, blank=True)
    ratio = models.DecimalField(_("new shares per share"), **PRICE.fields, null=True, blank=True)
    rights_price = models.DecimalField(_("rights price"), **PRICE.fields, null=True, blank=True)
    subscription_end = models.DateField(_("subscription ends"), null=True, blank=True)
    source_reference = models.CharField(_("announcement"), max_length=200)
    import_file_name = models.CharField(_("import file"), max_length=200, blank=True)
    import_sha256 = models.CharField(_("import file SHA-256"), max_length=64, blank=True)
    status = models.CharField(
        _("status"),
        max_length=12,
        choices=CorporateActionStatus.choices,
        default=CorporateActionStatus.ANNOUNCED,
    )
    reference_price = models.DecimalField(
        _("ex-date reference price"), **PRICE.fields, null=True, blank=True
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, related_name="+"
    )
    reason = models.CharField(_("reason"), max_length=300)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    ex_processed_at = models.DateTimeField(_("ex-date processed at"), null=True, blank=True)
    paid_at = models.DateTimeField(_("paid at"), null=True, blank=True)
    # rights: the custodian's confirmation of the outcome, after the subscription period
    allotment_outcome = models.CharField(
        _("rights outcome"), max_length=8, choices=RightsOutcome.choices, blank=True
    )
    allotment_reference = models.CharField(_("custodian confirmation"), max_length=64, blank=True)
    settled_at = models.DateTimeField(_("settled at"), null=True, blank=True)
    settled_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )

    history = HistoricalRecords()

    class Meta:
        verbose_name = _("corporate action")
        verbose_name_plural = _("corporate actions")
        ordering = ["-ex_date", "-pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["instrument", "kind", "ex_date"], name="lending_corporate_action_unique"
            ),
            models.CheckConstraint(
                condition=Q(record_date__lt=models.F("ex_date")),
                name="lending_corporate_action_record_before_ex",
            ),
            models.CheckConstraint(
                condition=~Q(kind="cash_dividend")
                | Q(cash_per_share__gt=0, pay_date__gte=models.F("ex_date")),
                name="lending_corporate_action_dividend_terms",
            ),
            models.CheckConstraint(
                condition=~Q(kind__in=["bonus", "split", "rights"]) | Q(ratio__gt=0),
                name="lending_corporate_action_ratio_positive",
            ),
            models.CheckConstraint(
                condition=~Q(kind="rights")
                | Q(rights_price__gt=0, subscription_end__gte=models.F("ex_date")),
                name="lending_corporate_action_rights_terms",
            ),
            models.CheckConstraint(
                condition=Q(status="settled", kind="rights")
                & ~Q(allotment_outcome="")
                & ~Q(allotment_reference="")
                & Q(settled_at__isnull=False)
                | ~Q(status="settled") & Q(allotment_outcome=""),
                name="lending_corporate_action_settled_rights",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.instrument_id} {self.kind} ex {self.ex_date}"


class CorporateActionEntitlement(models.Model):
    """What one investor is entitled to from one corporate action: the holding at the record
    date's close (= at the ex-date's start), the cash receivable (dividends), the new shares
    (bonus, split) or the rights shares it may subscribe (rights), with the journal entries that
    booked it (ex-date, pay date) and the financed lots it adjusted."""

    corporate_action = models.ForeignKey(
        CorporateAction, on_delete=models.PROTECT, related_name="entitlements"
    )
    investor = models.ForeignKey(
        "accounts.InvestorProfile", on_delete=models.PROTECT, related_name="+"
    )
    credit_account = models.ForeignKey(
        "lending.CreditAccount",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="entitlements",
    )
    quantity_held = models.DecimalField(_("quantity held at the record date"), **QUANTITY.fields)
    cash_amount = models.DecimalField(_("cash"), **MONEY.fields, default=0)
    new_shares = models.DecimalField(_("new shares"), **QUANTITY.fields, default=0)
    rights_quantity = models.DecimalField(_("rights shares"), **QUANTITY.fields, default=0)
    financings_adjusted = models.PositiveIntegerField(_("financed lots adjusted"), default=0)
    ex_entry = models.ForeignKey(
        "custody.JournalEntry", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    pay_entry = models.ForeignKey(
        "custody.JournalEntry", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    paid_at = models.DateTimeField(_("paid at"), null=True, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    history = HistoricalRecords()

    class Meta:
        verbose_name = _("corporate-action entitlement")
        verbose_name_plural = _("corporate-action entitlements")
        ordering = ["corporate_action", "investor"]
        constraints = [
            models.UniqueConstraint(
                fields=["corporate_action", "investor"], name="lending_entitlement_once"
            ),
            models.CheckConstraint(
                condition=Q(quantity_held__gt=0)
                & Q(cash_amount__gte=0)
                & Q(new_shares__gte=0)
                & Q(rights_quantity__gte=0),
                name="lending_entitlement_amounts",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.corporate_action_id} investor {self.investor_id}"


class RightsSubscriptionStatus(models.TextChoices):
    SUBSCRIBED = "subscribed", _("Subscribed, paid")
    CANCELLED = "cancelled", _("Cancelled, refunded")
    ALLOTTED = "allotted", _("Shares allotted")
    REFUNDED = "refunded", _("Issue failed, refunded")


class RightsSubscription(models.Model):
    """The investor's subscription of rights shares (配股认购) with own money, up to the
    entitlement and until the subscription ends (lending.financing.rights): paid in one ledger
    entry from the investor's free cash to the custodian (`entry`), held as an entitlement
    receivable until the custodian confirms the outcome; then the shares are booked
    (`settle_entry`, allotted) or the money comes back (refunded). Cancelled before the end, the
    money comes back at once (`cancel_entry`)."""

    entitlement = models.ForeignKey(
        CorporateActionEntitlement, on_delete=models.PROTECT, related_name="subscriptions"
    )
    credit_account = models.ForeignKey(
        "lending.CreditAccount", on_delete=models.PROTECT, related_name="rights_subscriptions"
    )
    quantity = models.DecimalField(_("rights shares subscribed"), **QUANTITY.fields)
    price = models.DecimalField(_("rights price"), **PRICE.fields)
    amount = models.DecimalField(_("amount paid"), **MONEY.fields)
    status = models.CharField(
        _("status"),
        max_length=10,
        choices=RightsSubscriptionStatus.choices,
        default=RightsSubscriptionStatus.SUBSCRIBED,
    )
    idempotency_key = models.CharField(_("idempotency key"), max_length=200, unique=True)
    entry = models.ForeignKey("custody.JournalEntry", on_delete=models.PROTECT, related_name="+")
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, related_name="+"
    )
    reason = models.CharField(_("reason"), max_length=300, blank=True)
    created_at = models.DateTimeField(_("subscribed at"), auto_now_add=True)
    cancel_entry = models.ForeignKey(
        "custody.JournalEntry", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    cancelled_at = models.DateTimeField(_("cancelled at"), null=True, blank=True)
    settle_entry = models.ForeignKey(
        "custody.JournalEntry", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    settled_at = models.DateTimeField(_("settled at"), null=True, blank=True)

    history = HistoricalRecords()

    class Meta:
        verbose_name = _("rights subscription")
        verbose_name_plural = _("rights subscriptions")
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.CheckConstraint(
                condition=Q(quantity__gt=0, price__gt=0, amount__gt=0),
                name="lending_rights_subscription_amounts",
            ),
            models.CheckConstraint(
                condition=Q(
                    status="subscribed", cancel_entry__isnull=True, settle_entry__isnull=True
                )
                | Q(status="cancelled", cancel_entry__isnull=False, settle_entry__isnull=True)
                | Q(
                    status__in=["allotted", "refunded"],
                    cancel_entry__isnull=True,
                    settle_entry__isnull=False,
                ),
                name="lending_rights_subscription_entries",
            ),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.quantity} rights ({self.status})"


__all__ += [
    "CorporateAction",
    "CorporateActionEntitlement",
    "CorporateActionKind",
    "CorporateActionStatus",
    "RightsOutcome",
    "RightsSubscription",
    "RightsSubscriptionStatus",
]
