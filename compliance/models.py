"""Compliance: the rules and the evidence that decide whether an investor may borrow.

Design overview
- Regulator numbers (financing margin ratio, product risk level, assessment validity, entry
  thresholds, default lines) are rows of `RegulatoryParameter`, dated by `effective_from`;
  the value in force on a day is the row with the latest `effective_from` not after it.
- The Shanghai trading calendar is `CalendarYear` (a year whose holidays are known) plus
  `ExchangeHoliday` (weekday closures). A day in a year without a `CalendarYear` row is
  unknown: compliance.calendar refuses to compute with it instead of guessing.
- Suitability: a versioned `Questionnaire` with `Question`/`AnswerOption` scores and
  `ScoreBand`s mapping totals to C1-C5; each `SuitabilityAssessment` keeps the version, the
  answers (ids and the texts shown) and its validity. `Product` carries R1-R5;
  `SuitabilityMatch` records the matching decision and, when a warning was needed, its text
  and the investor's confirmation.
- `DisclosureDocument` versions keep their content and SHA-256; a `DisclosureAcknowledgement`
  records the version, the hash acknowledged, time, IP and user agent.
- `EligibilityFacts` holds the staff-recorded facts; `DailyAssetFigure` the imported daily
  assets; each `EligibilityCheck` stores one `EligibilityCheckItem` per rule with evidence.
- `RestrictedHolding`: the investor is a director, supervisor, senior manager or 5%+ holder of
  a listed company ("EXCHANGE:CODE") from `since` until `ended_on`; lending refuses buys and
  collateral transfers in of that company's shares. `RestrictedDeclaration` keeps each
  statement that the list is complete (or that there is none), with time, IP and user agent.
- `CalendarYearProposal`: a year's holidays entered with the exchange's notice (kept with its
  SHA-256), added to the calendar only when a second person approves (four eyes).
- `RedFlag` records every refused or suspicious attempt (配资 patterns); a `HeldDeposit` is
  money from a bank account other than the account of record, held, never credited, until staff
  release or return it.
Nothing here imports lending.
"""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from simple_history.models import HistoricalRecords

from accounts.constraints import four_eyes
from accounts.models import InvestorProfile
from accounts.precision import FRACTION, MONEY, RATIO


class RiskClass(models.IntegerChoices):
    C1 = 1, "C1"
    C2 = 2, "C2"
    C3 = 3, "C3"
    C4 = 4, "C4"
    C5 = 5, "C5"


class RiskLevel(models.IntegerChoices):
    R1 = 1, "R1"
    R2 = 2, "R2"
    R3 = 3, "R3"
    R4 = 4, "R4"
    R5 = 5, "R5"


# --- dated regulator parameters -------------------------------------------------------------


class RegulatoryParameter(models.Model):
    """One dated value of a regulator or desk parameter; never edited in place, superseded."""

    key = models.CharField(_("parameter"), max_length=80)
    effective_from = models.DateField(_("effective from"))
    value = models.DecimalField(_("value"), **RATIO.fields)
    source = models.CharField(_("source"), max_length=300, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    history = HistoricalRecords()

    class Meta:
        verbose_name = _("regulatory parameter")
        verbose_name_plural = _("regulatory parameters")
        ordering = ["key", "-effective_from"]
        constraints = [
            models.UniqueConstraint(
                fields=["key", "effective_from"], name="compliance_parameter_key_date_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.key} = {self.value} ({self.effective_from})"


# --- exchange calendar ----------------------------------------------------------------------


class CalendarYear(models.Model):
    """A year whose Shanghai exchange holidays are known (published and entered)."""

    year = models.PositiveIntegerField(_("year"), unique=True)
    source = models.CharField(_("source"), max_length=200)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    history = HistoricalRecords()

    class Meta:
        verbose_name = _("calendar year")
        verbose_name_plural = _("calendar years")
        ordering = ["year"]

    def __str__(self) -> str:
        return str(self.year)


class ExchangeHoliday(models.Model):
    """A weekday on which the Shanghai Stock Exchange does not trade."""

    date = models.DateField(_("date"), unique=True)
    name = models.CharField(_("name"), max_length=120, blank=True)

    history = HistoricalRecords()

    class Meta:
        verbose_name = _("exchange holiday")
        verbose_name_plural = _("exchange holidays")
        ordering = ["date"]

    def __str__(self) -> str:
        return f"{self.date} {self.name}".strip()


# --- investor classification ----------------------------------------------------------------


class ClassificationRecord(models.Model):
    """The evidence behind an investor's professional/ordinary classification."""

    investor = models.ForeignKey(
        InvestorProfile, on_delete=models.PROTECT, related_name="classifications"
    )
    financial_assets = models.DecimalField(_("financial assets"), **MONEY.fields)
    average_income_3y = models.DecimalField(
        _("average annual income, last 3 years"), **MONEY.fields, default=0
    )
    net_assets = models.DecimalField(_("net assets (institutions)"), **MONEY.fields, default=0)
    experience_years = models.DecimalField(
        _("years of investing experience"), max_digits=5, decimal_places=1
    )
    result = models.CharField(_("result"), max_length=16)
    basis = models.TextField(_("basis"))
    assessed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, related_name="+"
    )
    assessed_at = models.DateTimeField(_("assessed at"), auto_now_add=True)

    history = HistoricalRecords()

    class Meta:
        verbose_name = _("classification record")
        verbose_name_plural = _("classification records")
        ordering = ["-assessed_at"]

    def __str__(self) -> str:
        return f"{self.investor} → {self.result}"

    @property
    def result_label(self) -> str:
        from accounts.models import InvestorCategory

        return InvestorCategory(self.result).label


class ProfessionalRequestStatus(models.TextChoices):
    REQUESTED = "requested", _("Requested")
    APPROVED = "approved", _("Approved")
    REJECTED = "rejected", _("Rejected")


class ProfessionalTreatmentRequest(models.Model):
    """An ordinary investor asks to be treated as professional; compliance assesses it."""

    investor = models.ForeignKey(
        InvestorProfile, on_delete=models.PROTECT, related_name="professional_requests"
    )
    financial_assets = models.DecimalField(_("financial assets"), **MONEY.fields)
    average_income_3y = models.DecimalField(
        _("average annual income, last 3 years"), **MONEY.fields, default=0
    )
    experience_years = models.DecimalField(
        _("years of investing experience"), max_digits=5, decimal_places=1
    )
    status = models.CharField(
        _("status"),
        max_length=16,
        choices=ProfessionalRequestStatus.choices,
        default=ProfessionalRequestStatus.REQUESTED,
    )
    warning_text = models.TextField(_("warning given"), blank=True)
    requested_at = models.DateTimeField(_("requested at"), auto_now_add=True)
    assessed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    assessed_at = models.DateTimeField(_("assessed at"), null=True, blank=True)
    reason = models.TextField(_("reason"), blank=True)

    history = HistoricalRecords()

    class Meta:
        verbose_name = _("professional treatment request")
        verbose_name_plural = _("professional treatment requests")
        ordering = ["-requested_at"]

    def __str__(self) -> str:
        return f"{self.investor} ({self.get_status_display()})"


# --- suitability ----------------------------------------------------------------------------


class Questionnaire(models.Model):
    version = models.PositiveIntegerField(_("version"), unique=True)
    title = models.CharField(_("title"), max_length=200)
    is_active = models.BooleanField(_("in use"), default=False)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    history = HistoricalRecords()

    class Meta:
        verbose_name = _("suitability questionnaire")
        verbose_name_plural = _("suitability questionnaires")
        ordering = ["-version"]
        constraints = [
            models.UniqueConstraint(
                fields=["is_active"],
                condition=Q(is_active=True),
                name="compliance_one_active_questionnaire",
            )
        ]

    def __str__(self) -> str:
        return f"v{self.version} {self.title}"


class Question(models.Model):
    questionnaire = models.ForeignKey(
        Questionnaire, on_delete=models.PROTECT, related_name="questions"
    )
    order = models.PositiveIntegerField(_("order"))
    text = models.TextField(_("question"))

    class Meta:
        verbose_name = _("question")
        verbose_name_plural = _("questions")
        ordering = ["questionnaire", "order"]
        constraints = [
            models.UniqueConstraint(
                fields=["questionnaire", "order"], name="compliance_question_order_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.order}. {self.text[:60]}"


class AnswerOption(models.Model):
    question = models.ForeignKey(Question, on_delete=models.PROTECT, related_name="options")
    order = models.PositiveIntegerField(_("order"))
    text = models.CharField(_("answer"), max_length=300)
    score = models.IntegerField(_("score"))
    # An answer that puts the investor in the lowest category whatever the total
    # (e.g. no capacity to bear any loss).
    forces_lowest_category = models.BooleanField(_("forces the lowest category"), default=False)

    class Meta:
        verbose_name = _("answer option")
        verbose_name_plural = _("answer options")
        ordering = ["question", "order"]

    def __str__(self) -> str:
        return f"{self.text} ({self.score})"


class ScoreBand(models.Model):
    questionnaire = models.ForeignKey(Questionnaire, on_delete=models.PROTECT, related_name="bands")
    min_score = models.IntegerField(_("minimum score"))
    max_score = models.IntegerField(_("maximum score"))
    risk_class = models.PositiveSmallIntegerField(_("risk class"), choices=RiskClass.choices)
    is_lowest_category = models.BooleanField(_("lowest category"), default=False)

    class Meta:
        verbose_name = _("score band")
        verbose_name_plural = _("score bands")
        ordering = ["questionnaire", "min_score"]
        constraints = [
            models.CheckConstraint(
                condition=Q(min_score__lte=models.F("max_score")),
                name="compliance_band_min_le_max",
            ),
            models.CheckConstraint(
                condition=Q(is_lowest_category=False) | Q(risk_class=1),
                name="compliance_lowest_category_inside_c1",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.min_score}-{self.max_score} → C{self.risk_class}"


class SuitabilityAssessment(models.Model):
    investor = models.ForeignKey(
        InvestorProfile, on_delete=models.PROTECT, related_name="assessments"
    )
    questionnaire = models.ForeignKey(
        Questionnaire, on_delete=models.PROTECT, related_name="assessments"
    )
    questionnaire_version = models.PositiveIntegerField(_("questionnaire version"))
    # [{"question_id", "question", "option_id", "answer", "score"}, ...] as shown and chosen.
    answers = models.JSONField(_("answers"))
    total_score = models.IntegerField(_("total score"))
    risk_class = models.PositiveSmallIntegerField(_("risk class"), choices=RiskClass.choices)
    is_lowest_category = models.BooleanField(_("lowest category"), default=False)
    taken_at = models.DateTimeField(_("taken at"))
    valid_until = models.DateField(_("valid until"))
    taken_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, related_name="+"
    )

    history = HistoricalRecords()

    class Meta:
        verbose_name = _("suitability assessment")
        verbose_name_plural = _("suitability assessments")
        ordering = ["-taken_at", "-pk"]

    def __str__(self) -> str:
        return f"{self.investor} C{self.risk_class} ({self.taken_at:%Y-%m-%d})"

    @property
    def risk_class_label(self) -> str:
        label = f"C{self.risk_class}"
        return f"{label} ({_('lowest category')})" if self.is_lowest_category else label


class Product(models.Model):
    code = models.SlugField(_("code"), max_length=60, unique=True)
    name = models.CharField(_("name"), max_length=200)
    risk_level = models.PositiveSmallIntegerField(_("risk level"), choices=RiskLevel.choices)

    history = HistoricalRecords()

    class Meta:
        verbose_name = _("product")
        verbose_name_plural = _("products")
        ordering = ["code"]

    def __str__(self) -> str:
        return f"{self.name} (R{self.risk_level})"


class MatchOutcome(models.TextChoices):
    ALLOWED = "allowed", _("Allowed")
    WARNING = "warning", _("Allowed after a confirmed warning")
    REFUSED = "refused", _("Refused")


class SuitabilityMatch(models.Model):
    """The matching decision for one assessment and product; a warning needs confirming."""

    investor = models.ForeignKey(
        InvestorProfile, on_delete=models.PROTECT, related_name="suitability_matches"
    )
    assessment = models.ForeignKey(
        SuitabilityAssessment, on_delete=models.PROTECT, null=True, related_name="matches"
    )
    product = models.ForeignKey(Product, on_delete=models.PROTECT, related_name="matches")
    product_risk_level = models.PositiveSmallIntegerField(
        _("product risk level"), choices=RiskLevel.choices
    )
    risk_class = models.PositiveSmallIntegerField(
        _("risk class"), choices=RiskClass.choices, null=True
    )
    outcome = models.CharField(_("outcome"), max_length=16, choices=MatchOutcome.choices)
    warning_text = models.TextField(_("warning text"), blank=True)
    confirmed_at = models.DateTimeField(_("confirmed at"), null=True, blank=True)
    confirmed_ip = models.GenericIPAddressField(_("IP address"), null=True, blank=True)
    confirmed_user_agent = models.CharField(_("user agent"), max_length=400, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    history = HistoricalRecords()

    class Meta:
        verbose_name = _("suitability match")
        verbose_name_plural = _("suitability matches")
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.CheckConstraint(
                condition=Q(confirmed_at__isnull=True) | Q(outcome="warning"),
                name="compliance_only_warnings_are_confirmed",
            )
        ]

    def __str__(self) -> str:
        return f"{self.investor} / {self.product.code}: {self.outcome}"


# --- risk disclosure ------------------------------------------------------------------------


class DisclosureDocument(models.Model):
    version = models.PositiveIntegerField(_("version"), unique=True)
    title = models.CharField(_("title"), max_length=200)
    content = models.TextField(_("content"))
    sha256 = models.CharField(_("SHA-256"), max_length=64)
    published_at = models.DateTimeField(_("published at"))
    published_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        related_name="+",
        verbose_name=_("published by"),
    )

    history = HistoricalRecords()

    class Meta:
        verbose_name = _("risk disclosure")
        verbose_name_plural = _("risk disclosures")
        ordering = ["-version"]

    def __str__(self) -> str:
        return f"v{self.version} {self.title}"


class DisclosureAcknowledgement(models.Model):
    investor = models.ForeignKey(
        InvestorProfile, on_delete=models.PROTECT, related_name="acknowledgements"
    )
    document = models.ForeignKey(
        DisclosureDocument, on_delete=models.PROTECT, related_name="acknowledgements"
    )
    version = models.PositiveIntegerField(_("version"))
    sha256 = models.CharField(_("SHA-256"), max_length=64)
    acknowledged_at = models.DateTimeField(_("acknowledged at"))
    ip_address = models.GenericIPAddressField(_("IP address"), null=True, blank=True)
    user_agent = models.CharField(_("user agent"), max_length=400, blank=True)

    history = HistoricalRecords()

    class Meta:
        verbose_name = _("disclosure acknowledgement")
        verbose_name_plural = _("disclosure acknowledgements")
        ordering = ["-acknowledged_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["investor", "document"], name="compliance_one_ack_per_document"
            )
        ]

    def __str__(self) -> str:
        return f"{self.investor} acknowledged v{self.version}"


# --- eligibility ----------------------------------------------------------------------------


class EligibilityFacts(models.Model):
    """Facts staff record from the brokerage and credit-bureau files."""

    investor = models.OneToOneField(
        InvestorProfile, on_delete=models.PROTECT, related_name="eligibility_facts"
    )
    first_trade_date = models.DateField(_("first trade in the ordinary account"), null=True)
    has_serious_default = models.BooleanField(_("serious default on record"), default=False)
    is_related_party = models.BooleanField(_("related party of the firm"), default=False)
    firm_shareholding_pct = models.DecimalField(
        _("shareholding in the firm (%)"), **FRACTION.fields, default=0
    )
    evidence = models.TextField(_("evidence"), blank=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    history = HistoricalRecords()

    class Meta:
        verbose_name = _("eligibility facts")
        verbose_name_plural = _("eligibility facts")

    def __str__(self) -> str:
        return str(self.investor)


class DailyAssetFigure(models.Model):
    """End-of-day total assets of the investor's ordinary brokerage account."""

    investor = models.ForeignKey(
        InvestorProfile, on_delete=models.PROTECT, related_name="daily_assets"
    )
    date = models.DateField(_("date"))
    total_assets = models.DecimalField(_("total assets"), **MONEY.fields)
    source = models.CharField(_("source"), max_length=16)
    imported_at = models.DateTimeField(_("imported at"), auto_now=True)

    history = HistoricalRecords()

    class Meta:
        verbose_name = _("daily asset figure")
        verbose_name_plural = _("daily asset figures")
        ordering = ["investor", "-date"]
        constraints = [
            models.UniqueConstraint(
                fields=["investor", "date"], name="compliance_one_asset_figure_per_day"
            )
        ]

    def __str__(self) -> str:
        return f"{self.investor} {self.date}: {self.total_assets}"


class EligibilityCheck(models.Model):
    investor = models.ForeignKey(
        InvestorProfile, on_delete=models.PROTECT, related_name="eligibility_checks"
    )
    as_of = models.DateField(_("as of"))
    passed = models.BooleanField(_("passed"))
    checked_at = models.DateTimeField(_("checked at"), auto_now_add=True)
    checked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        related_name="+",
        verbose_name=_("checked by"),
    )

    history = HistoricalRecords()

    class Meta:
        verbose_name = _("eligibility check")
        verbose_name_plural = _("eligibility checks")
        ordering = ["-checked_at", "-pk"]

    def __str__(self) -> str:
        return f"{self.investor} {self.as_of}: {'pass' if self.passed else 'fail'}"


class EligibilityCheckItem(models.Model):
    check_run = models.ForeignKey(EligibilityCheck, on_delete=models.PROTECT, related_name="items")
    rule = models.CharField(_("rule"), max_length=40)
    passed = models.BooleanField(_("passed"))
    message = models.CharField(_("result"), max_length=400)
    # the message's key (English, with %(name)s placeholders) and its values: `text` shows it in
    # the reader's language; `message` keeps the English text as written
    params = models.JSONField(_("message key and values"), default=dict, blank=True)
    evidence = models.JSONField(_("evidence"), default=dict)

    class Meta:
        verbose_name = _("eligibility check item")
        verbose_name_plural = _("eligibility check items")
        ordering = ["check_run", "pk"]

    def __str__(self) -> str:
        return f"{self.rule}: {'pass' if self.passed else 'fail'}"

    @property
    def label(self) -> str:
        """The rule's name in the reader's language."""
        return str(ELIGIBILITY_RULES.get(self.rule, self.rule))

    @property
    def text(self) -> str:
        """The result in the reader's language (the English text when it has no key)."""
        msgid = (self.params or {}).get("msgid")
        if not msgid:
            return self.message
        try:
            return gettext(msgid) % (self.params.get("values") or {})
        except (KeyError, TypeError, ValueError):
            return self.message


#: The entry requirements an eligibility check tests (compliance.services.eligibility_evaluate).
ELIGIBILITY_RULES = {
    "trading_experience": _("Trading experience"),
    "average_assets": _("Average daily assets"),
    "no_serious_default": _("No serious default"),
    "not_related_party": _("Not a related party or major shareholder"),
    "risk_class": _("Risk class"),
}


# --- red flags ------------------------------------------------------------------------------


class RedFlagKind(models.TextChoices):
    SECOND_CREDIT_ACCOUNT = "second_credit_account", _("Second credit account refused")
    ACCOUNT_NAME_MISMATCH = "account_name_mismatch", _("Account name differs from real name")
    THIRD_PARTY_DEPOSIT = "third_party_deposit", _("Deposit from a bank account not of record")
    UNMATCHED_DEPOSIT = "unmatched_deposit", _("Deposit whose reference names no investor")
    SUB_ACCOUNT = "sub_account", _("Sub-account refused")
    THIRD_PARTY_AUTHORITY = "third_party_authority", _("Third-party trading authority refused")
    SUITABILITY_REFUSED = "suitability_refused", _("Suitability refusal")


class RedFlagStatus(models.TextChoices):
    OPEN = "open", _("Open")
    CLEARED = "cleared", _("Cleared")
    CONFIRMED = "confirmed", _("Confirmed")


class RedFlag(models.Model):
    investor = models.ForeignKey(
        InvestorProfile, on_delete=models.PROTECT, related_name="red_flags", null=True
    )
    kind = models.CharField(_("kind"), max_length=40, choices=RedFlagKind.choices)
    status = models.CharField(
        _("status"), max_length=16, choices=RedFlagStatus.choices, default=RedFlagStatus.OPEN
    )
    message = models.CharField(_("message"), max_length=400)
    details = models.JSONField(_("details"), default=dict)
    raised_at = models.DateTimeField(_("raised at"), auto_now_add=True)
    raised_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, related_name="+"
    )
    resolved_at = models.DateTimeField(_("resolved at"), null=True, blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    resolution = models.TextField(_("resolution"), blank=True)

    history = HistoricalRecords()

    class Meta:
        verbose_name = _("red flag")
        verbose_name_plural = _("red flags")
        ordering = ["-raised_at", "-pk"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()}: {self.message}"


class HeldDepositStatus(models.TextChoices):
    HELD = "held", _("Held for review")
    RELEASED = "released", _("Released and credited")
    RETURNED = "returned", _("Returned to sender")


class HeldDeposit(models.Model):
    investor = models.ForeignKey(
        InvestorProfile, on_delete=models.PROTECT, related_name="held_deposits"
    )
    amount = models.DecimalField(_("amount"), **MONEY.fields)
    currency = models.CharField(_("currency"), max_length=3)
    bank_account_masked = models.CharField(_("sending bank account"), max_length=40)
    bank_account_digest = models.CharField(max_length=64, editable=False)
    reference = models.CharField(_("reference"), max_length=120)
    idempotency_key = models.CharField(_("idempotency key"), max_length=120, unique=True)
    status = models.CharField(
        _("status"),
        max_length=16,
        choices=HeldDepositStatus.choices,
        default=HeldDepositStatus.HELD,
    )
    red_flag = models.OneToOneField(RedFlag, on_delete=models.PROTECT, related_name="deposit")
    received_at = models.DateTimeField(_("received at"), auto_now_add=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    resolved_at = models.DateTimeField(_("resolved at"), null=True, blank=True)
    resolution = models.TextField(_("resolution"), blank=True)

    history = HistoricalRecords()

    class Meta:
        verbose_name = _("held deposit")
        verbose_name_plural = _("held deposits")
        ordering = ["-received_at"]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="compliance_held_amount_pos")
        ]

    def __str__(self) -> str:
        return f"{self.investor} {self.amount} {self.currency} ({self.get_status_display()})"


# --- restricted holders (董监高, 5% holders) -------------------------------------------------


class RestrictedRole(models.TextChoices):
    DIRECTOR = "director", _("Director")
    SUPERVISOR = "supervisor", _("Supervisor")
    SENIOR_MANAGER = "senior_manager", _("Senior manager")
    MAJOR_HOLDER = "major_holder", _("Holder of at least 5%")


class RestrictedSource(models.TextChoices):
    INVESTOR = "investor", _("Investor's declaration")
    STAFF = "staff", _("Staff record")


#: "EXCHANGE:CODE" as lending's Instrument.ledger_unit spells it (compliance never imports
#: lending, so the company is named by this string).
SECURITY_PATTERN = r"^[A-Z]{2,4}:[0-9A-Z]{1,12}$"


class RestrictedHolding(models.Model):
    """The investor is a director, supervisor, senior manager or a 5%+ holder of a listed
    company (董监高, 大股东) from `since` until `ended_on` (excluded; open while empty): they may
    not buy that company's shares in the credit account (its shares there are collateral) nor
    transfer them in as collateral. Declared by the investor or recorded by compliance; ended,
    never deleted (the history keeps every change)."""

    investor = models.ForeignKey(
        InvestorProfile, on_delete=models.PROTECT, related_name="restricted_holdings"
    )
    security = models.CharField(_("security (EXCHANGE:CODE)"), max_length=24)
    company_name = models.CharField(_("company"), max_length=200)
    role = models.CharField(_("role"), max_length=16, choices=RestrictedRole.choices)
    since = models.DateField(_("since"))
    ended_on = models.DateField(_("ended on"), null=True, blank=True)
    source = models.CharField(_("source"), max_length=10, choices=RestrictedSource.choices)
    declared_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, related_name="+"
    )
    declared_at = models.DateTimeField(_("declared at"), auto_now_add=True)
    ended_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    reason = models.TextField(_("reason"))

    history = HistoricalRecords()

    class Meta:
        verbose_name = _("restricted holding")
        verbose_name_plural = _("restricted holdings")
        ordering = ["investor", "security", "-since", "-pk"]
        constraints = [
            models.CheckConstraint(
                condition=Q(security__regex=SECURITY_PATTERN),
                name="compliance_restricted_security_format",
            ),
            models.CheckConstraint(
                condition=Q(ended_on__isnull=True) | Q(ended_on__gt=models.F("since")),
                name="compliance_restricted_ends_after_start",
            ),
            models.UniqueConstraint(
                fields=["investor", "security", "role"],
                condition=Q(ended_on__isnull=True),
                name="compliance_one_open_restricted_role",
            ),
        ]
        indexes = [models.Index(fields=["investor", "security"])]

    def __str__(self) -> str:
        return f"{self.investor} {self.get_role_display()} {self.security}"

    def in_force(self, on) -> bool:
        return self.since <= on and (self.ended_on is None or on < self.ended_on)


class RestrictedDeclaration(models.Model):
    """The investor's statement that the restricted holdings on file are complete (or that
    they hold no such position: `holdings` empty), with time, IP and user agent: the proof
    that the positions were declared at onboarding and confirmed since."""

    investor = models.ForeignKey(
        InvestorProfile, on_delete=models.PROTECT, related_name="restricted_declarations"
    )
    holds_none = models.BooleanField(_("holds no such position"))
    # [{"security", "company_name", "role", "since"}, ...] open on the day of the statement
    holdings = models.JSONField(_("positions declared"), default=list, blank=True)
    statement = models.TextField(_("statement"))
    declared_at = models.DateTimeField(_("declared at"))
    declared_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, related_name="+"
    )
    ip_address = models.GenericIPAddressField(_("IP address"), null=True, blank=True)
    user_agent = models.CharField(_("user agent"), max_length=400, blank=True)

    history = HistoricalRecords()

    class Meta:
        verbose_name = _("restricted-holder declaration")
        verbose_name_plural = _("restricted-holder declarations")
        ordering = ["-declared_at", "-pk"]

    def __str__(self) -> str:
        return f"{self.investor} {self.declared_at:%Y-%m-%d}"


# --- calendar years proposed and approved (four eyes) ----------------------------------------


class ProposalStatus(models.TextChoices):
    PROPOSED = "proposed", _("Proposed")
    APPROVED = "approved", _("Approved")
    REJECTED = "rejected", _("Rejected")


class CalendarYearProposal(models.Model):
    """A year's exchange holidays as compliance entered them from the exchange's notice, with
    the notice itself (file name, SHA-256 and content): a second person compares them and
    approves (the year becomes known) or rejects with a reason. Never the proposer (CHECK)."""

    year = models.PositiveIntegerField(_("year"))
    holiday_lines = models.TextField(_("holidays"))
    source = models.CharField(_("source notice"), max_length=200)
    document_name = models.CharField(_("source document"), max_length=200)
    document_sha256 = models.CharField(_("SHA-256"), max_length=64)
    document_content = models.BinaryField(_("document content"))
    status = models.CharField(
        _("status"), max_length=10, choices=ProposalStatus.choices, default=ProposalStatus.PROPOSED
    )
    proposed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, related_name="+"
    )
    proposed_at = models.DateTimeField(_("proposed at"), auto_now_add=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    decided_at = models.DateTimeField(_("decided at"), null=True, blank=True)
    reason = models.TextField(_("reason"), blank=True)
    calendar_year = models.OneToOneField(
        CalendarYear, on_delete=models.PROTECT, null=True, blank=True, related_name="proposal"
    )

    history = HistoricalRecords(excluded_fields=["document_content"])

    class Meta:
        verbose_name = _("calendar year proposal")
        verbose_name_plural = _("calendar year proposals")
        ordering = ["-proposed_at", "-pk"]
        permissions = [("approve_calendaryearproposal", _("Can approve a calendar year"))]
        constraints = [
            four_eyes(
                checker="decided_by", maker="proposed_by", name="compliance_calendar_four_eyes"
            ),
            models.UniqueConstraint(
                fields=["year"],
                condition=Q(status="proposed"),
                name="compliance_one_open_proposal_per_year",
            ),
            models.CheckConstraint(
                condition=~Q(status="approved") | Q(calendar_year__isnull=False),
                name="compliance_approved_proposal_has_year",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.year} ({self.get_status_display()})"
