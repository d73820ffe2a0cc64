"""Credit: applications under four-eyes review, credit contracts and credit accounts.

Design overview
- A `CreditApplication` is made by the investor (or by operations on their behalf), prepared
  by operations (the maker: grade, collateral liquidity, proposed limit and term, an
  eligibility check) and decided by a risk or compliance officer who did not prepare it (the
  checker). The database refuses a decision by the preparer (check constraint), and
  simple-history keeps who, when and why for every step.
- Approval of a new application opens the investor's one `CreditAccount` (named exactly as the
  real-name investor) and signs a `CreditContract`: limit, term <= 6 months, rate from the
  `PricingGridEntry` grid (credit grade x collateral liquidity), lines (warning / call / target /
  withdrawal) and the financing margin ratio in force on the signing date, all copied onto the
  contract so later parameter changes leave it untouched.
- PostgreSQL enforces one open credit account and one active contract per investor (partial
  unique indexes). A renewal application extends the active contract (<= 6 months each).
- Contract and account numbers come from database sequences, never `last() + 1`.
"""

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy
from simple_history.models import HistoricalRecords

from accounts.constraints import four_eyes
from accounts.models import InvestorProfile
from accounts.precision import MONEY, RATE, RATIO

CONTRACT_NUMBER_SEQUENCE = "lending_credit_contract_number_seq"


ACCOUNT_NUMBER_SEQUENCE = "lending_credit_account_number_seq"


class CreditGrade(models.TextChoices):
    A = "A", _("A (strong)")
    B = "B", _("B (good)")
    C = "C", _("C (fair)")
    D = "D", _("D (weak)")


class CollateralLiquidity(models.TextChoices):
    HIGH = "high", _("High")
    MEDIUM = "medium", _("Medium")
    LOW = "low", _("Low")


class PricingGridEntry(models.Model):
    """Annual interest rate by credit grade and collateral liquidity, dated."""

    credit_grade = models.CharField(_("credit grade"), max_length=1, choices=CreditGrade.choices)
    collateral_liquidity = models.CharField(
        _("collateral liquidity"), max_length=8, choices=CollateralLiquidity.choices
    )
    annual_rate = models.DecimalField(_("annual interest rate"), **RATE.fields)
    effective_from = models.DateField(_("effective from"))

    history = HistoricalRecords()

    class Meta:
        verbose_name = _("pricing grid entry")
        verbose_name_plural = _("pricing grid")
        ordering = ["-effective_from", "credit_grade", "collateral_liquidity"]
        constraints = [
            models.UniqueConstraint(
                fields=["credit_grade", "collateral_liquidity", "effective_from"],
                name="lending_pricing_cell_date_unique",
            ),
            models.CheckConstraint(
                condition=Q(annual_rate__gt=0) & Q(annual_rate__lt=1),
                name="lending_pricing_rate_range",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.credit_grade}/{self.collateral_liquidity}: {self.annual_rate}"


class CreditApplicationKind(models.TextChoices):
    NEW = "new", _("New credit")
    RENEWAL = "renewal", _("Renewal")


class CreditApplicationStatus(models.TextChoices):
    SUBMITTED = "submitted", pgettext_lazy("credit application", "Submitted")
    PREPARED = "prepared", _("Prepared for approval")
    APPROVED = "approved", _("Approved")
    REJECTED = "rejected", _("Rejected")
    WITHDRAWN = "withdrawn", _("Withdrawn")


OPEN_APPLICATION_STATUSES = (CreditApplicationStatus.SUBMITTED, CreditApplicationStatus.PREPARED)


class CreditApplication(models.Model):
    investor = models.ForeignKey(
        InvestorProfile, on_delete=models.PROTECT, related_name="credit_applications"
    )
    kind = models.CharField(
        _("kind"),
        max_length=8,
        choices=CreditApplicationKind.choices,
        default=CreditApplicationKind.NEW,
    )
    contract = models.ForeignKey(
        "lending.CreditContract",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="renewal_applications",
        verbose_name=_("contract to renew"),
    )
    requested_limit = models.DecimalField(_("requested limit"), **MONEY.fields)
    requested_term_months = models.PositiveSmallIntegerField(_("requested term (months)"))
    purpose = models.CharField(_("purpose"), max_length=300, blank=True)
    status = models.CharField(
        _("status"),
        max_length=12,
        choices=CreditApplicationStatus.choices,
        default=CreditApplicationStatus.SUBMITTED,
    )
    submitted_at = models.DateTimeField(_("submitted at"), auto_now_add=True)
    submitted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, related_name="+"
    )
    # maker
    prepared_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("prepared by"),
    )
    prepared_at = models.DateTimeField(_("prepared at"), null=True, blank=True)
    preparation_note = models.TextField(_("preparation note"), blank=True)
    credit_grade = models.CharField(
        _("credit grade"), max_length=1, choices=CreditGrade.choices, blank=True
    )
    collateral_liquidity = models.CharField(
        _("collateral liquidity"), max_length=8, choices=CollateralLiquidity.choices, blank=True
    )
    proposed_limit = models.DecimalField(_("proposed limit"), **MONEY.fields, null=True, blank=True)
    proposed_term_months = models.PositiveSmallIntegerField(
        _("proposed term (months)"), null=True, blank=True
    )
    eligibility_check = models.ForeignKey(
        "compliance.EligibilityCheck",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    # checker
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("decided by"),
    )
    decided_at = models.DateTimeField(_("decided at"), null=True, blank=True)
    decision_reason = models.TextField(_("reason for the decision"), blank=True)

    history = HistoricalRecords()

    class Meta:
        verbose_name = _("credit application")
        verbose_name_plural = _("credit applications")
        ordering = ["-submitted_at", "-pk"]
        permissions = [
            ("prepare_creditapplication", _("Can prepare a credit application (maker)")),
            ("approve_creditapplication", _("Can approve or reject a credit application")),
        ]
        constraints = [
            four_eyes(
                checker="decided_by", maker="prepared_by", name="lending_application_four_eyes"
            ),
            models.UniqueConstraint(
                fields=["investor"],
                condition=Q(status__in=["submitted", "prepared"]),
                name="lending_one_open_application_per_investor",
            ),
            models.CheckConstraint(
                condition=Q(requested_limit__gt=0), name="lending_application_limit_positive"
            ),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.investor.real_name} {self.get_kind_display()}"


class CreditAccountStatus(models.TextChoices):
    OPEN = "open", pgettext_lazy("credit account", "Open")
    CLOSED = "closed", _("Closed")


class CreditAccount(models.Model):
    """The investor's one credit (margin) account, in the investor's real name."""

    investor = models.ForeignKey(
        InvestorProfile, on_delete=models.PROTECT, related_name="credit_accounts"
    )
    account_number = models.CharField(_("account number"), max_length=20, unique=True)
    account_name = models.CharField(_("account name"), max_length=200)
    status = models.CharField(
        _("status"),
        max_length=8,
        choices=CreditAccountStatus.choices,
        default=CreditAccountStatus.OPEN,
    )
    opened_at = models.DateTimeField(_("opened at"), auto_now_add=True)
    opened_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, related_name="+"
    )
    closed_at = models.DateTimeField(_("closed at"), null=True, blank=True)

    history = HistoricalRecords()

    class Meta:
        verbose_name = _("credit account")
        verbose_name_plural = _("credit accounts")
        ordering = ["account_number"]
        constraints = [
            models.UniqueConstraint(
                fields=["investor"],
                condition=Q(status="open"),
                name="lending_one_open_credit_account_per_investor",
            )
        ]

    def __str__(self) -> str:
        return f"{self.account_number} {self.account_name}"


class ContractStatus(models.TextChoices):
    ACTIVE = "active", _("Active")
    EXPIRED = "expired", _("Expired")
    TERMINATED = "terminated", _("Terminated")


class CreditContract(models.Model):
    contract_number = models.CharField(_("contract number"), max_length=24, unique=True)
    investor = models.ForeignKey(
        InvestorProfile, on_delete=models.PROTECT, related_name="credit_contracts"
    )
    credit_account = models.ForeignKey(
        CreditAccount, on_delete=models.PROTECT, related_name="contracts"
    )
    application = models.OneToOneField(
        CreditApplication, on_delete=models.PROTECT, related_name="signed_contract"
    )
    status = models.CharField(
        _("status"), max_length=12, choices=ContractStatus.choices, default=ContractStatus.ACTIVE
    )
    currency = models.CharField(_("currency"), max_length=3, default="CNY")
    credit_limit = models.DecimalField(_("credit limit"), **MONEY.fields)
    signed_on = models.DateField(_("signed on"))
    starts_on = models.DateField(_("starts on"))
    ends_on = models.DateField(_("ends on"))
    term_months = models.PositiveSmallIntegerField(_("term (months)"))
    renewal_count = models.PositiveSmallIntegerField(_("renewals"), default=0)
    annual_interest_rate = models.DecimalField(_("annual interest rate"), **RATE.fields)
    credit_grade = models.CharField(_("credit grade"), max_length=1, choices=CreditGrade.choices)
    collateral_liquidity = models.CharField(
        _("collateral liquidity"), max_length=8, choices=CollateralLiquidity.choices
    )
    warning_line = models.DecimalField(_("warning line"), **RATIO.fields)
    call_line = models.DecimalField(_("call line"), **RATIO.fields)
    target_line = models.DecimalField(_("target line after a call"), **RATIO.fields)
    withdrawal_line = models.DecimalField(_("withdrawal line"), **RATIO.fields)
    financing_margin_ratio = models.DecimalField(_("financing margin ratio"), **RATIO.fields)
    commission_rate = models.DecimalField(_("commission rate"), **RATE.fields)
    # annual penalty interest (罚息) on overdue debt, ACT/360, copied from the desk's tariff in
    # force on the day the contract is signed (financing.penalty_rate_standard)
    penalty_rate = models.DecimalField(_("penalty interest rate"), **RATE.fields)
    # evidence the contract was signed on
    disclosure = models.ForeignKey(
        "compliance.DisclosureDocument", on_delete=models.PROTECT, related_name="+"
    )
    disclosure_sha256 = models.CharField(_("disclosure SHA-256"), max_length=64)
    suitability_assessment = models.ForeignKey(
        "compliance.SuitabilityAssessment",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    suitability_match = models.ForeignKey(
        "compliance.SuitabilityMatch",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    eligibility_check = models.ForeignKey(
        "compliance.EligibilityCheck",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    history = HistoricalRecords()

    class Meta:
        verbose_name = _("credit contract")
        verbose_name_plural = _("credit contracts")
        ordering = ["-signed_on", "-pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["investor"],
                condition=Q(status="active"),
                name="lending_one_active_contract_per_investor",
            ),
            models.CheckConstraint(
                condition=Q(credit_limit__gt=0), name="lending_contract_limit_positive"
            ),
            models.CheckConstraint(
                condition=Q(ends_on__gt=F("starts_on")), name="lending_contract_dates_ordered"
            ),
            models.CheckConstraint(
                condition=Q(call_line__gt=1)
                & Q(warning_line__gt=F("call_line"))
                & Q(target_line__gt=F("call_line"))
                & Q(withdrawal_line__gt=F("target_line")),
                name="lending_contract_lines_ordered",
            ),
            models.CheckConstraint(
                condition=Q(financing_margin_ratio__gt=0), name="lending_contract_ratio_positive"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.contract_number} {self.investor.real_name}"


__all__ = [
    "ACCOUNT_NUMBER_SEQUENCE",
    "CONTRACT_NUMBER_SEQUENCE",
    "OPEN_APPLICATION_STATUSES",
    "CollateralLiquidity",
    "ContractStatus",
    "CreditAccount",
    "CreditAccountStatus",
    "CreditApplication",
    "CreditApplicationKind",
    "CreditApplicationStatus",
    "CreditContract",
    "CreditGrade",
    "PricingGridEntry",
]
