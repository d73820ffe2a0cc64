"""Reads, and the questions lending asks before it lends.

Lending calls:
- `credit_blockers(investor, on=None)` before approving a credit contract or a renewal;
- `drawdown_blockers(investor, on=None)` / `may_draw_down(investor)` before each drawdown;
- `parameter(key, on=day)` for dated regulator numbers (financing margin ratio, lines);
- `restricted_holding_in_force(investor_id, "EXCHANGE:CODE", on=day)` at every order and
  collateral transfer in (a 董监高 or 5% holder may not buy or pledge that company's shares).
Each blocker is a `Reason(code, message)`; an empty list means "yes".
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from django.db.models import Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.errors import NotFound, RuleViolation
from accounts.models import InvestorCategory, InvestorProfile, User

from . import parameters as P
from .models import (
    CalendarYearProposal,
    DisclosureAcknowledgement,
    DisclosureDocument,
    EligibilityCheck,
    HeldDeposit,
    MatchOutcome,
    Product,
    Questionnaire,
    RedFlag,
    RegulatoryParameter,
    RestrictedDeclaration,
    RestrictedHolding,
    SuitabilityAssessment,
    SuitabilityMatch,
)


@dataclass(frozen=True)
class Reason:
    code: str
    message: str

    def __str__(self) -> str:
        return self.message


def today() -> date:
    return timezone.localdate()


# --- parameters -----------------------------------------------------------------------------


class ParameterMissing(RuleViolation):
    default_code = "parameter_missing"


def parameter(key: str, *, on: date | None = None) -> Decimal:
    """The value of `key` in force on `on` (today by default)."""
    on = on or today()
    row = (
        RegulatoryParameter.objects.filter(key=key, effective_from__lte=on)
        .order_by("-effective_from")
        .first()
    )
    if row is None:
        raise ParameterMissing(
            f"{key}: no value in force on {on.isoformat()} in the regulatory parameter table",
            extra={"field": key, "date": on.isoformat()},
        )
    return row.value


def parameters_in_force(*prefixes: str, on: date | None = None) -> dict[str, Decimal]:
    """{key: value} of every key starting with one of `prefixes` in force on `on` (one query).
    A key with no row in force that day is absent: the caller names what it misses."""
    on = on or today()
    which = Q()
    for prefix in prefixes:
        which |= Q(key__startswith=prefix)
    rows = (
        RegulatoryParameter.objects.filter(which, effective_from__lte=on)
        .order_by("key", "-effective_from")
        .distinct("key")
        .values_list("key", "value")
    )
    return dict(rows)


def parameter_missing(key: str, on: date) -> ParameterMissing:
    """The error `parameter` raises for a key with no value in force on `on`."""
    return ParameterMissing(
        f"{key}: no value in force on {on.isoformat()} in the regulatory parameter table",
        extra={"field": key, "date": on.isoformat()},
    )


def parameter_history(key: str) -> QuerySet[RegulatoryParameter]:
    return RegulatoryParameter.objects.filter(key=key).order_by("effective_from")


# --- suitability ----------------------------------------------------------------------------


def active_questionnaire() -> Questionnaire | None:
    return (
        Questionnaire.objects.filter(is_active=True)
        .prefetch_related("questions__options", "bands")
        .first()
    )


def latest_assessment(investor: InvestorProfile) -> SuitabilityAssessment | None:
    return investor.assessments.order_by("-taken_at", "-pk").first()


def valid_assessment(
    investor: InvestorProfile, *, on: date | None = None
) -> SuitabilityAssessment | None:
    latest = latest_assessment(investor)
    if latest is None or latest.valid_until < (on or today()):
        return None
    return latest


def assessments_for(user) -> QuerySet[SuitabilityAssessment]:
    profile = getattr(user, "investor_profile", None)
    if profile is None:
        return SuitabilityAssessment.objects.none()
    return SuitabilityAssessment.objects.filter(investor=profile)


def assessment_for(user, pk: int) -> SuitabilityAssessment:
    obj = assessments_for(user).filter(pk=pk).first()
    if obj is None:
        raise NotFound(_("assessment: not found"))
    return obj


def margin_product() -> Product:
    product = Product.objects.filter(code=P.MARGIN_PRODUCT_CODE).first()
    if product is None:
        raise RuleViolation(
            _("product: the %(product)s product is not set up")
            % {"product": P.MARGIN_PRODUCT_CODE},
            code="product_missing",
            extra={"field": "product"},
        )
    return product


def product_risk_level(product: Product, *, on: date | None = None) -> int:
    """The dated parameter `product_risk_level.<code>` when the table has one, else the
    product's own level."""
    on = on or today()
    row = (
        RegulatoryParameter.objects.filter(
            key=P.PRODUCT_RISK_LEVEL_PREFIX + product.code, effective_from__lte=on
        )
        .order_by("-effective_from")
        .first()
    )
    return int(row.value) if row else product.risk_level


def match_outcome(*, risk_class: int, is_lowest_category: bool, risk_level: int) -> str:
    """The matching rule: Ck may take up to Rk; above it only after a confirmed warning;
    the lowest category never above R1 (and never margin financing)."""
    if is_lowest_category and risk_level > 1:
        return MatchOutcome.REFUSED
    if risk_level <= risk_class:
        return MatchOutcome.ALLOWED
    return MatchOutcome.WARNING


def is_professional(investor: InvestorProfile) -> bool:
    return investor.category == InvestorCategory.PROFESSIONAL


def current_match(
    investor: InvestorProfile, product: Product, *, on: date | None = None
) -> SuitabilityMatch | None:
    """The latest match recorded for the investor's valid assessment at the product's
    current risk level."""
    assessment = valid_assessment(investor, on=on)
    if assessment is None:
        return None
    return (
        SuitabilityMatch.objects.filter(
            investor=investor,
            assessment=assessment,
            product=product,
            product_risk_level=product_risk_level(product, on=on),
        )
        .order_by("-created_at", "-pk")
        .first()
    )


def suitability_blockers(
    investor: InvestorProfile, product: Product | None = None, *, on: date | None = None
) -> list[Reason]:
    if is_professional(investor):
        # Professional investors are outside risk-class matching (CSRC suitability rules).
        return []
    product = product or margin_product()
    on = on or today()
    latest = latest_assessment(investor)
    if latest is None:
        return [Reason("assessment_missing", _("No suitability assessment: take the test."))]
    if latest.valid_until < on:
        return [
            Reason(
                "assessment_expired",
                _("The suitability assessment expired on %(date)s: take the test again.")
                % {"date": latest.valid_until.isoformat()},
            )
        ]
    level = product_risk_level(product, on=on)
    outcome = match_outcome(
        risk_class=latest.risk_class,
        is_lowest_category=latest.is_lowest_category,
        risk_level=level,
    )
    if outcome == MatchOutcome.REFUSED:
        return [
            Reason(
                "lowest_category",
                _("Investors in the lowest risk category may not use %(product)s.")
                % {"product": product.name},
            )
        ]
    if outcome == MatchOutcome.WARNING:
        match = current_match(investor, product, on=on)
        if match is None or match.outcome != MatchOutcome.WARNING or match.confirmed_at is None:
            return [
                Reason(
                    "warning_unconfirmed",
                    _(
                        "Risk class C%(cls)s is below the product's risk level R%(level)s: "
                        "read and confirm the written warning first."
                    )
                    % {"cls": latest.risk_class, "level": level},
                )
            ]
    return []


# --- disclosure -----------------------------------------------------------------------------


def current_disclosure() -> DisclosureDocument | None:
    return DisclosureDocument.objects.order_by("-version").first()


def disclosure_blockers(investor: InvestorProfile) -> list[Reason]:
    document = current_disclosure()
    if document is None:
        return [Reason("disclosure_missing", _("No risk disclosure has been published."))]
    if not DisclosureAcknowledgement.objects.filter(
        investor=investor, document=document, sha256=document.sha256
    ).exists():
        return [
            Reason(
                "disclosure_unacknowledged",
                _("Read and acknowledge version %(version)s of the risk disclosure.")
                % {"version": document.version},
            )
        ]
    return []


def acknowledgements_for(user) -> QuerySet[DisclosureAcknowledgement]:
    profile = getattr(user, "investor_profile", None)
    if profile is None:
        return DisclosureAcknowledgement.objects.none()
    return DisclosureAcknowledgement.objects.filter(investor=profile).select_related("document")


# --- eligibility ----------------------------------------------------------------------------


def latest_eligibility_check(investor: InvestorProfile) -> EligibilityCheck | None:
    return investor.eligibility_checks.order_by("-checked_at", "-pk").first()


def eligibility_blockers(investor: InvestorProfile, *, on: date | None = None) -> list[Reason]:
    on = on or today()
    check = latest_eligibility_check(investor)
    if check is None:
        return [Reason("eligibility_missing", _("No eligibility check has been run."))]
    validity = int(parameter(P.ELIGIBILITY_CHECK_VALIDITY_DAYS, on=on))
    if check.as_of < on - timedelta(days=validity):
        return [
            Reason(
                "eligibility_stale",
                _("The eligibility check of %(date)s is out of date: run it again.")
                % {"date": check.as_of.isoformat()},
            )
        ]
    if not check.passed:
        failed = ", ".join(item.rule for item in check.items.all() if not item.passed)
        return [
            Reason(
                "eligibility_failed",
                _("The eligibility check failed: %(rules)s.") % {"rules": failed},
            )
        ]
    return []


# --- red flags ------------------------------------------------------------------------------


def open_red_flags(investor: InvestorProfile) -> QuerySet[RedFlag]:
    return investor.red_flags.filter(status="open")


def held_deposits(status: str | None = "held") -> QuerySet[HeldDeposit]:
    qs = HeldDeposit.objects.select_related("investor", "red_flag")
    return qs.filter(status=status) if status else qs


# --- what lending asks ----------------------------------------------------------------------


def credit_blockers(investor: InvestorProfile, *, on: date | None = None) -> list[Reason]:
    """May this investor sign a credit contract (or renew one) on `on`? Empty list: yes."""
    on = on or today()
    reasons = suitability_blockers(investor, on=on)
    reasons += disclosure_blockers(investor)
    reasons += eligibility_blockers(investor, on=on)
    reasons += restricted_declaration_blockers(investor)
    return reasons


def restricted_declaration_blockers(investor: InvestorProfile) -> list[Reason]:
    """DOMAIN.md (restricted holders): the investor declares at onboarding whether they are a
    director, supervisor, senior manager or 5% holder of a listed company; no contract without
    that declaration on file (kept current afterwards, and checked at every order)."""
    if restricted_declaration_latest(investor) is None:
        return [
            Reason(
                "restricted_declaration_missing",
                _(
                    "No declaration of positions as a director, supervisor or senior manager of "
                    "a listed company, or as a holder of 5 per cent or more of its shares, is on "
                    "file."
                ),
            )
        ]
    return []


def drawdown_blockers(investor: InvestorProfile, *, on: date | None = None) -> list[Reason]:
    """May this investor draw down credit now? Refused while the current risk disclosure is
    unacknowledged (a new version blocks until acknowledged) or the suitability assessment is
    expired, missing, or unmatched for margin financing."""
    on = on or today()
    return disclosure_blockers(investor) + suitability_blockers(investor, on=on)


def may_draw_down(investor: InvestorProfile, *, on: date | None = None) -> bool:
    return not drawdown_blockers(investor, on=on)


def investors_search(query: str = ""):
    """Investor profiles for the staff list, by real name or e-mail (case-insensitive)."""
    rows = InvestorProfile.objects.select_related("user").order_by("real_name", "pk")
    if query:
        rows = rows.filter(Q(real_name__icontains=query) | Q(user__email__icontains=query))
    return rows


def investor_profile(pk: int):
    return InvestorProfile.objects.select_related("user").filter(pk=pk).first()


def signups_awaiting_identity():
    """Investors who signed up (a login with the investor role) and whose identity operations
    have not verified yet (no investor profile)."""
    return (
        User.objects.filter(groups__name="investor", is_staff=False, investor_profile__isnull=True)
        .order_by("date_joined", "pk")
        .distinct()
    )


@dataclass(frozen=True)
class CalendarHorizon:
    """How far the known trading calendar reaches: its last session, the days left until it
    (calendar days), the year whose holidays must be entered next, and the level: "ok",
    "warning" (within the dated warning period) or "blocking" (on or past the last session:
    deadlines after it cannot be computed)."""

    last_session: date | None
    days_left: int | None
    next_year: int | None
    level: str


def calendar_horizon(*, on: date | None = None) -> CalendarHorizon:
    from compliance import calendar
    from compliance import parameters as P

    on = on or today()
    known = calendar.known_years()
    if known is None:
        return CalendarHorizon(None, None, on.year, "blocking")
    last = calendar.previous_trading_day(date(known[1], 12, 31))
    days_left = (last - on).days
    warn = parameter(P.CALENDAR_WARNING_DAYS, on=on)
    level = "blocking" if days_left <= 0 else "warning" if days_left <= warn else "ok"
    return CalendarHorizon(last, days_left, known[1] + 1, level)


# --- restricted holders (董监高, 5% holders) and calendar proposals ----------------------------


def restricted_holding_in_force(
    investor_id: int, security: str, *, on: date | None = None
) -> RestrictedHolding | None:
    """Lending's question at every order and transfer in: is this investor a director,
    supervisor, senior manager or 5%+ holder of the company whose shares are `security`
    ("EXCHANGE:CODE", lending's Instrument.ledger_unit) on `on`? The role in force, else None."""
    on = on or today()
    return (
        RestrictedHolding.objects.filter(
            investor_id=investor_id, security=security.strip().upper(), since__lte=on
        )
        .filter(Q(ended_on__isnull=True) | Q(ended_on__gt=on))
        .order_by("since", "pk")
        .first()
    )


def restricted_holdings_of(investor: InvestorProfile) -> QuerySet[RestrictedHolding]:
    """Every role on file, open ones first (the file and the portal page)."""
    return RestrictedHolding.objects.filter(investor=investor).order_by(
        "ended_on", "security", "-since", "-pk"
    )


def restricted_declaration_latest(investor: InvestorProfile) -> RestrictedDeclaration | None:
    return (
        RestrictedDeclaration.objects.filter(investor=investor)
        .order_by("-declared_at", "-pk")
        .first()
    )


def calendar_proposals(status: str | None = None) -> QuerySet[CalendarYearProposal]:
    qs = CalendarYearProposal.objects.select_related("proposed_by", "decided_by").defer(
        "document_content"
    )
    return qs.filter(status=status) if status else qs
