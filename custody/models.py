"""Custody ledger: a segregated double-entry ledger whose invariants PostgreSQL enforces.

Design overview (the invariants live here and in migration 0002_ledger_invariants):

* LedgerAccount: type (asset, liability, equity, income, expense), unit (ISO currency or
  instrument code such as "SSE:600519") and owner (the house, or exactly one investor).
  Accounts are created by services through a stable purpose key, never by hand.
* JournalEntry: two or more Postings. A Posting's amount is signed: positive is a debit,
  negative a credit. Per entry and per unit the amounts sum to zero; a DEFERRABLE INITIALLY
  DEFERRED constraint trigger checks it at commit. Postings may only be added to an entry in
  the transaction that created it, so a committed entry can never change.
* Postings and entries are never updated or deleted (triggers refuse it); a correction is a
  reversal entry linked to the original (one reversal per entry).
* AccountBalance: one row per account holding the sum of its postings, kept by a statement
  trigger on Posting in the same transaction (rows locked in primary-key order), so a balance
  read costs one row. A client money account's balance never goes below zero (CHECK).
  Balance rows refuse any UPDATE that does not come from that trigger.
* Idempotency keys are unique; the posting service returns the first entry for a repeated key.
"""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from simple_history.models import HistoricalRecords

from accounts.precision import RATE

from .money import LEDGER_DIGITS, LEDGER_PLACES


def _amount(verbose_name, **kwargs):
    return models.DecimalField(
        verbose_name, max_digits=LEDGER_DIGITS, decimal_places=LEDGER_PLACES, **kwargs
    )


class AccountType(models.TextChoices):
    ASSET = "asset", _("Asset")
    LIABILITY = "liability", _("Liability")
    EQUITY = "equity", _("Equity")
    INCOME = "income", _("Income")
    EXPENSE = "expense", _("Expense")


DEBIT_NORMAL = (AccountType.ASSET, AccountType.EXPENSE)


class Owner(models.TextChoices):
    HOUSE = "house", _("House")
    CLIENT = "client", _("Client")


class LedgerAccount(models.Model):
    purpose_key = models.CharField(_("purpose key"), max_length=120, unique=True, editable=False)
    purpose = models.CharField(_("purpose"), max_length=40, editable=False)
    name = models.CharField(_("name"), max_length=200)
    account_type = models.CharField(
        _("account type"), max_length=10, choices=AccountType.choices, editable=False
    )
    unit = models.CharField(_("currency or unit"), max_length=32, editable=False)
    owner = models.CharField(_("owner"), max_length=8, choices=Owner.choices, editable=False)
    investor = models.ForeignKey(
        "accounts.InvestorProfile",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="ledger_accounts",
        verbose_name=_("investor"),
        editable=False,
    )
    client_money = models.BooleanField(
        _("client money"),
        default=False,
        editable=False,
        help_text=_("Money owed to one client; its balance can never go below zero."),
    )
    segregated = models.BooleanField(
        _("segregated"),
        default=False,
        editable=False,
        help_text=_("Holds client money apart from the house (client bank, reserve bank)."),
    )
    external_ref = models.CharField(
        _("external account"),
        max_length=64,
        blank=True,
        help_text=_("Bank or custodian account number that statements quote for this account."),
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    history = HistoricalRecords()

    class Meta:
        verbose_name = _("ledger account")
        verbose_name_plural = _("ledger accounts")
        ordering = ["id"]
        constraints = [
            models.CheckConstraint(
                condition=(Q(owner="house", investor__isnull=True))
                | Q(owner="client", investor__isnull=False),
                name="custody_account_owner_is_house_or_one_investor",
            ),
            models.CheckConstraint(
                condition=Q(client_money=False) | Q(owner="client", account_type="liability"),
                name="custody_client_money_is_client_liability",
            ),
            models.UniqueConstraint(
                fields=["external_ref", "unit"],
                condition=~Q(external_ref=""),
                name="custody_account_external_ref_unique",
            ),
        ]
        indexes = [
            models.Index(fields=["investor", "purpose"]),
            # the holders of an instrument (mark-to-market after a price move)
            models.Index(fields=["unit", "purpose"], name="custody_ledger_unit_purpose"),
        ]

    def __str__(self) -> str:
        return f"{self.name} [{self.unit}]"

    @property
    def label(self) -> str:
        """The account's name in the reader's language (`name` keeps the English as created)."""
        from custody.services.ledger import PURPOSES

        spec = PURPOSES.get(self.purpose)
        if spec is None:
            return self.name
        label = gettext(spec.name)
        if self.investor_id:
            label = f"{label}: {self.investor.real_name} (#{self.investor_id})"
        return f"{label} [{self.unit}]"

    @property
    def normal_sign(self) -> int:
        return 1 if self.account_type in DEBIT_NORMAL else -1


class AccountBalance(models.Model):
    """Sum of an account's postings (debit positive), written only by the posting trigger."""

    account = models.OneToOneField(
        LedgerAccount,
        on_delete=models.PROTECT,
        primary_key=True,
        related_name="balance_row",
        verbose_name=_("account"),
    )
    unit = models.CharField(_("currency or unit"), max_length=32)
    normal_sign = models.SmallIntegerField()
    no_overdraft = models.BooleanField(default=False)
    balance = _amount(_("balance"), default=0)
    posting_count = models.BigIntegerField(_("postings"), default=0)

    class Meta:
        verbose_name = _("account balance")
        verbose_name_plural = _("account balances")
        constraints = [
            models.CheckConstraint(
                condition=Q(no_overdraft=False)
                | Q(normal_sign=1, balance__gte=0)
                | Q(normal_sign=-1, balance__lte=0),
                name="custody_client_money_never_negative",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.account_id}: {self.balance} {self.unit}"


class EntryKind(models.TextChoices):
    DEPOSIT = "deposit", _("Client deposit")
    WITHDRAWAL = "withdrawal", _("Client withdrawal")
    TRANSFER = "transfer", _("Transfer")
    INTEREST = "interest", _("Interest")
    FEE = "fee", _("Fee")
    FINANCING = "financing", _("Financing")
    TRADE = "trade", _("Trade settlement")
    LIQUIDATION = "liquidation", _("Liquidation proceeds")
    RESERVE = "reserve", _("Reserve fund")
    FACILITY = "facility", _("Backup facility")
    RECONCILIATION = "reconciliation", _("Reconciliation top-up or withdrawal")
    SECURITIES = "securities", _("Securities movement")
    REVERSAL = "reversal", _("Reversal")
    ADJUSTMENT = "adjustment", _("Adjustment")
    CORPORATE_ACTION = "corporate_action", _("Corporate action")


class JournalEntry(models.Model):
    """Immutable once committed; corrected only by a reversal entry."""

    kind = models.CharField(_("kind"), max_length=20, choices=EntryKind.choices)
    memo = models.CharField(_("memo"), max_length=500)
    idempotency_key = models.CharField(
        _("idempotency key"), max_length=200, null=True, blank=True, unique=True
    )
    fingerprint = models.CharField(_("content fingerprint"), max_length=64)
    effective_date = models.DateField(_("business date"))
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("actor"),
    )
    reversal_of = models.OneToOneField(
        "self",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="reversed_by",
        verbose_name=_("reverses"),
    )
    # Top-level transaction id, set by a trigger: postings may be added only by it.
    tx_id = models.BigIntegerField(null=True, editable=False)
    created_at = models.DateTimeField(_("created at"), db_default=models.Func(function="now"))

    class Meta:
        verbose_name = _("journal entry")
        verbose_name_plural = _("journal entries")
        ordering = ["-id"]
        permissions = [
            ("reverse_journalentry", _("Can reverse a posted journal entry")),
            (
                "move_housemoney",
                _("Can move house money: reserve fund, house capital, backup facilities"),
            ),
        ]
        indexes = [
            models.Index(fields=["created_at"]),
            models.Index(fields=["effective_date"]),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.get_kind_display()} {self.effective_date or ''}".strip()


class Posting(models.Model):
    """Append-only; positive amount = debit, negative = credit."""

    entry = models.ForeignKey(
        JournalEntry,
        on_delete=models.PROTECT,
        related_name="postings",
        verbose_name=_("journal entry"),
    )
    account = models.ForeignKey(
        LedgerAccount,
        on_delete=models.PROTECT,
        related_name="postings",
        verbose_name=_("account"),
        db_index=False,
    )
    unit = models.CharField(_("currency or unit"), max_length=32)
    amount = _amount(_("amount"))

    class Meta:
        verbose_name = _("posting")
        verbose_name_plural = _("postings")
        ordering = ["id"]
        constraints = [
            models.CheckConstraint(condition=~Q(amount=0), name="custody_posting_not_zero"),
        ]
        indexes = [
            models.Index(fields=["account", "entry"], name="custody_posting_account_entry"),
        ]

    def __str__(self) -> str:
        return f"{self.account_id} {self.amount} {self.unit}"

    @property
    def debit(self):
        return self.amount if self.amount > 0 else None

    @property
    def credit(self):
        return -self.amount if self.amount < 0 else None


# --- Reconciliation -----------------------------------------------------------------------


class StatementSource(models.TextChoices):
    BANK = "bank", _("Bank statement")
    CUSTODIAN = "custodian", _("Custodian statement")


class StatementImport(models.Model):
    """One imported bank or custodian statement file (format in docs/custody.md)."""

    source = models.CharField(_("source"), max_length=12, choices=StatementSource.choices)
    institution = models.CharField(_("institution"), max_length=120)
    statement_date = models.DateField(_("statement date"))
    file_name = models.CharField(_("file name"), max_length=200)
    sha256 = models.CharField(_("SHA-256"), max_length=64, unique=True)
    imported_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        related_name="+",
        verbose_name=_("imported by"),
    )
    imported_at = models.DateTimeField(_("imported at"), auto_now_add=True)

    history = HistoricalRecords()

    class Meta:
        verbose_name = _("imported statement")
        verbose_name_plural = _("imported statements")
        ordering = ["-statement_date", "-id"]

    def __str__(self) -> str:
        return f"{self.get_source_display()} {self.institution} {self.statement_date}"


class StatementLine(models.Model):
    statement = models.ForeignKey(
        StatementImport, on_delete=models.PROTECT, related_name="lines", verbose_name=_("statement")
    )
    line_number = models.PositiveIntegerField(_("line"))
    external_ref = models.CharField(_("external account"), max_length=64)
    unit = models.CharField(_("currency or unit"), max_length=32)
    closing_balance = _amount(_("closing balance"))
    account = models.ForeignKey(
        LedgerAccount,
        on_delete=models.PROTECT,
        related_name="statement_lines",
        verbose_name=_("ledger account"),
    )

    class Meta:
        verbose_name = _("statement line")
        verbose_name_plural = _("statement lines")
        ordering = ["statement", "line_number"]
        constraints = [
            models.UniqueConstraint(
                fields=["statement", "external_ref", "unit"], name="custody_statement_line_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.external_ref} {self.closing_balance} {self.unit}"


class ReconciliationKind(models.TextChoices):
    EXTERNAL = "external", _("External (ledger vs statement)")
    INTERNAL = "internal", _("Internal (segregated funds vs client-money requirement)")


class ReconciliationStatus(models.TextChoices):
    MATCHED = "matched", _("Matched")
    BREAKS = "breaks", _("Open breaks")
    RESOLVED = "resolved", _("Breaks resolved")


class Reconciliation(models.Model):
    kind = models.CharField(_("kind"), max_length=10, choices=ReconciliationKind.choices)
    business_date = models.DateField(_("business date"))
    unit = models.CharField(_("currency or unit"), max_length=32, blank=True)
    statement = models.ForeignKey(
        StatementImport,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="reconciliations",
        verbose_name=_("statement"),
    )
    requirement = models.ForeignKey(
        "ClientMoneyRequirement",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="reconciliations",
        verbose_name=_("client-money requirement"),
    )
    status = models.CharField(_("status"), max_length=10, choices=ReconciliationStatus.choices)
    run_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        related_name="+",
        verbose_name=_("run by"),
    )
    run_at = models.DateTimeField(_("run at"), auto_now_add=True)

    history = HistoricalRecords()

    class Meta:
        verbose_name = _("reconciliation")
        verbose_name_plural = _("reconciliations")
        ordering = ["-business_date", "-id"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.business_date} {self.unit}: {self.status}"


class BreakStatus(models.TextChoices):
    OPEN = "open", _("Open")
    RESOLVED = "resolved", _("Resolved")


class BreakResolution(models.TextChoices):
    TOP_UP = "top_up", _("Top-up from house money")
    WITHDRAW_EXCESS = "withdraw_excess", _("Withdrawal of the excess to house money")


class ReconciliationBreak(models.Model):
    """A difference found by a reconciliation: difference = actual - expected.

    External: expected = ledger balance, actual = statement balance.
    Internal: expected = client-money requirement, actual = segregated funds in the ledger.
    Negative difference = shortfall (topped up from house money), positive = excess (withdrawn).
    """

    reconciliation = models.ForeignKey(
        Reconciliation,
        on_delete=models.PROTECT,
        related_name="breaks",
        verbose_name=_("reconciliation"),
    )
    account = models.ForeignKey(
        LedgerAccount,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("ledger account"),
    )
    unit = models.CharField(_("currency or unit"), max_length=32)
    expected = _amount(_("expected"))
    actual = _amount(_("actual"))
    difference = _amount(_("difference"))
    status = models.CharField(
        _("status"), max_length=10, choices=BreakStatus.choices, default=BreakStatus.OPEN
    )
    due_at = models.DateTimeField(_("resolve by"))
    resolution = models.CharField(
        _("resolution"), max_length=16, choices=BreakResolution.choices, blank=True
    )
    resolution_entry = models.OneToOneField(
        JournalEntry,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="resolved_break",
        verbose_name=_("resolution entry"),
    )
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("resolved by"),
    )
    resolved_at = models.DateTimeField(_("resolved at"), null=True, blank=True)
    reason = models.CharField(_("reason"), max_length=500, blank=True)

    history = HistoricalRecords()

    class Meta:
        verbose_name = _("reconciliation break")
        verbose_name_plural = _("reconciliation breaks")
        ordering = ["id"]
        constraints = [
            models.CheckConstraint(condition=~Q(difference=0), name="custody_break_not_zero"),
        ]

    def __str__(self) -> str:
        return f"{self.unit} {self.difference} ({self.status})"


class ClientMoneyRequirement(models.Model):
    """Daily client-money requirement on the model of SEC Rule 15c3-3: the summary; its inputs
    per client are its lines (ClientMoneyRequirementLine), written with it.

    credits = money owed to clients (client money accounts); debits = what clients owe
    (financing and interest receivable), each client's debit counted only up to that client's
    own credit (client money is used only for that client's debt); requirement = max(0,
    credits - debits). segregated = ledger balance of the segregated bank accounts (client bank
    + reserve bank). clients = the number of lines (clients with a client money or receivable
    account in the currency). Each computation is its own row: a second run of the same day
    is a new requirement, and the day's internal reconciliation points at the latest.
    """

    business_date = models.DateField(_("business date"))
    currency = models.CharField(_("currency"), max_length=3)
    as_of = models.DateTimeField(_("as of"))
    credits = _amount(_("credits owed to clients"))
    debits = _amount(_("debits owed by clients"))
    requirement = _amount(_("requirement"))
    segregated_funds = _amount(_("segregated funds"))
    clients = models.PositiveIntegerField(_("clients"), default=0)
    computed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        related_name="+",
        verbose_name=_("computed by"),
    )
    computed_at = models.DateTimeField(_("computed at"), auto_now_add=True)

    history = HistoricalRecords()

    class Meta:
        verbose_name = _("client-money requirement")
        verbose_name_plural = _("client-money requirements")
        ordering = ["-business_date", "-id"]

    def __str__(self) -> str:
        return f"{self.business_date} {self.currency}: {self.requirement}"


class ClientMoneyRequirementLine(models.Model):
    """One client's inputs to a client-money requirement: credit (client money owed to the
    client), debit (financing and interest the client owes) and the debit counted (up to the
    client's own credit; 0 when the debit is not positive).

    Written once, with its requirement, by one INSERT ... SELECT
    (custody.services.reconciliation), and never changed: PostgreSQL refuses UPDATE and DELETE
    (append-only evidence, accounts/append_only.py; migration 0011). No history: the row never
    changes, and its requirement's history says who computed it and why. Read per requirement
    in investor order (the unique index), a page at a time."""

    requirement = models.ForeignKey(
        ClientMoneyRequirement,
        on_delete=models.PROTECT,
        related_name="lines",
        verbose_name=_("client-money requirement"),
        db_index=False,  # the unique (requirement, investor) index serves it
    )
    investor = models.ForeignKey(
        "accounts.InvestorProfile",
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("investor"),
        db_index=False,  # read per requirement; an investor with ledger accounts is never deleted
    )
    credit = _amount(_("credit owed to the client"))
    debit = _amount(_("debit owed by the client"))
    debit_counted = _amount(_("debit counted"))

    class Meta:
        verbose_name = _("client-money requirement line")
        verbose_name_plural = _("client-money requirement lines")
        ordering = ["requirement", "investor"]
        default_permissions = ("view",)  # written by the requirement's service only, never changed
        constraints = [
            models.UniqueConstraint(
                fields=["requirement", "investor"], name="custody_cmr_line_one_per_investor"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.requirement_id}/{self.investor_id}: {self.credit} - {self.debit_counted}"


# --- Reserve fund and backup credit facilities ---------------------------------------------


class FacilityStatus(models.TextChoices):
    ACTIVE = "active", _("Active")
    CLOSED = "closed", _("Closed")


class CreditFacility(models.Model):
    """A committed bank backup line. drawn = balance of its ledger liability account."""

    bank = models.CharField(_("bank"), max_length=120)
    limit = _amount(_("limit"))
    currency = models.CharField(_("currency"), max_length=3)
    start_date = models.DateField(_("start date"))
    expiry_date = models.DateField(_("expiry date"))
    fee_rate = models.DecimalField(_("commitment fee (annual rate)"), **RATE.fields, default=0)
    covenants = models.TextField(_("covenants"), blank=True)
    status = models.CharField(
        _("status"), max_length=8, choices=FacilityStatus.choices, default=FacilityStatus.ACTIVE
    )
    account = models.OneToOneField(
        LedgerAccount,
        on_delete=models.PROTECT,
        null=True,
        editable=False,
        related_name="facility",
        verbose_name=_("ledger account"),
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    history = HistoricalRecords()

    class Meta:
        verbose_name = _("backup credit facility")
        verbose_name_plural = _("backup credit facilities")
        ordering = ["expiry_date", "id"]
        constraints = [
            models.CheckConstraint(condition=Q(limit__gt=0), name="custody_facility_limit_pos"),
            models.CheckConstraint(
                condition=Q(expiry_date__gt=models.F("start_date")),
                name="custody_facility_expiry_after_start",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.bank} {self.limit} {self.currency} (to {self.expiry_date})"


class ReserveTarget(models.Model):
    """The reserve fund target per currency, written by risk analytics via reserve_target_set."""

    currency = models.CharField(_("currency"), max_length=3, unique=True)
    target = _amount(_("target"))
    as_of = models.DateField(_("as of"))
    source = models.CharField(_("source"), max_length=200)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    history = HistoricalRecords()

    class Meta:
        verbose_name = _("reserve target")
        verbose_name_plural = _("reserve targets")
        constraints = [
            models.CheckConstraint(condition=Q(target__gte=0), name="custody_reserve_target_pos")
        ]

    def __str__(self) -> str:
        return f"{self.currency} {self.target} ({self.as_of})"


class UncoveredLossStatus(models.TextChoices):
    OPEN = "open", _("Open: treasury must act")
    ADDRESSED = "addressed", _("Addressed by treasury")


class UncoveredLoss(models.Model):
    """A client default that neither the reserve fund nor an available backup facility
    covered: the receivable is written off all the same (the liquidation stands), and this row
    stays open on the treasury console until treasury records what it did (new capital, a new
    facility, the board's decision)."""

    investor = models.ForeignKey(
        "accounts.InvestorProfile", on_delete=models.PROTECT, related_name="uncovered_losses"
    )
    currency = models.CharField(_("currency"), max_length=3)
    amount = _amount(_("uncovered amount"))
    entry = models.ForeignKey(
        JournalEntry, on_delete=models.PROTECT, related_name="+", verbose_name=_("write-off")
    )
    status = models.CharField(
        _("status"),
        max_length=10,
        choices=UncoveredLossStatus.choices,
        default=UncoveredLossStatus.OPEN,
    )
    recorded_at = models.DateTimeField(_("recorded at"), auto_now_add=True)
    addressed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("addressed by"),
    )
    addressed_at = models.DateTimeField(_("addressed at"), null=True, blank=True)
    action_taken = models.CharField(_("action taken"), max_length=500, blank=True)

    history = HistoricalRecords()

    class Meta:
        verbose_name = _("uncovered loss")
        verbose_name_plural = _("uncovered losses")
        ordering = ["-recorded_at", "-pk"]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="custody_uncovered_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.investor_id} {self.amount} {self.currency} ({self.status})"
