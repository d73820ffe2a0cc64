"""Every write to compliance records: actor and reason land in the history rows.

Refusals that must be remembered (a red flag) are written in their own transaction before the
error is raised, so the caller's rollback cannot erase the record of a refused attempt.

Permissions: each service checks the actor's (accounts.permissions; actor None is the system).
What an investor does for themselves (the questionnaire, a suitability match, a request for
professional treatment) is allowed to that investor or to staff holding the permission; what
only the investor can say (acknowledging a disclosure, confirming a written warning) to the
investor alone. Recording a refusal (`red_flag_raise`, `refuse_and_record` and the refusals
built on it) needs no permission: whoever asks is refused and recorded the same way. A
`*_in_transaction` function, and `deposit_hold` (called only inside lending's bank-credit
service, which checks lending.add_bankcredit), trust their caller.
"""

from __future__ import annotations

import csv
import hashlib
import io
import itertools
import re
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from django.db import IntegrityError, connection, transaction
from django.utils import timezone
from django.utils.translation import gettext, gettext_lazy, gettext_noop
from django.utils.translation import gettext as _

from accounts import sensitive
from accounts import services as account_services
from accounts.audit import stamp
from accounts.errors import Conflict, NotFound, RuleViolation, ValidationFailed
from accounts.models import InvestorCategory, InvestorProfile, InvestorType, User
from accounts.permissions import require_investor_or_permission, require_permission
from accounts.templatetags.desk_numbers import amount as fmt_money

from . import calendar, selectors
from . import parameters as P
from .models import (
    SECURITY_PATTERN,
    AnswerOption,
    CalendarYear,
    CalendarYearProposal,
    ClassificationRecord,
    DailyAssetFigure,
    DisclosureAcknowledgement,
    DisclosureDocument,
    EligibilityCheck,
    EligibilityCheckItem,
    EligibilityFacts,
    ExchangeHoliday,
    HeldDeposit,
    HeldDepositStatus,
    MatchOutcome,
    Product,
    ProfessionalRequestStatus,
    ProfessionalTreatmentRequest,
    ProposalStatus,
    Question,
    Questionnaire,
    RedFlag,
    RedFlagKind,
    RedFlagStatus,
    RegulatoryParameter,
    RestrictedDeclaration,
    RestrictedHolding,
    RestrictedRole,
    RestrictedSource,
    RiskClass,
    RiskLevel,
    ScoreBand,
    SuitabilityAssessment,
    SuitabilityMatch,
)


def _require_reason(reason: str) -> str:
    if not reason or not reason.strip():
        raise ValidationFailed(
            _("reason: a reason is required for this decision"), extra={"field": "reason"}
        )
    return reason.strip()


def _decimal(value: Any, field: str, *, minimum: Decimal | None = Decimal(0)) -> Decimal:
    try:
        result = Decimal(str(value).replace(",", "").strip())
    except (InvalidOperation, ValueError) as exc:
        raise ValidationFailed(
            _("%(field)s: %(value)s is not a decimal number")
            % {"field": field, "value": repr(value)},
            extra={"field": field},
        ) from exc
    if not result.is_finite():
        raise ValidationFailed(
            _("%(field)s: must be a finite number") % {"field": field}, extra={"field": field}
        )
    if minimum is not None and result < minimum:
        raise ValidationFailed(
            _("%(field)s: must be at least %(minimum)s") % {"field": field, "minimum": minimum},
            extra={"field": field},
        )
    return result


# --- parameters and calendar ----------------------------------------------------------------


def parameter_add(
    *, key: str, effective_from: date, value: Decimal, source: str, actor: User | None
) -> RegulatoryParameter:
    """A new dated value; earlier rows stay, so past dates keep the value then in force."""
    require_permission(
        actor, "compliance.add_regulatoryparameter", action="add a regulatory parameter"
    )
    if not key.strip():
        raise ValidationFailed(_("key: a parameter key is required"), extra={"field": "key"})
    row = RegulatoryParameter(
        key=key.strip(),
        effective_from=effective_from,
        value=_decimal(value, "value", minimum=None),
        source=source,
    )
    stamp(row, actor=actor, reason=source or "parameter added")
    try:
        with transaction.atomic():
            row.save()
    except IntegrityError as exc:
        raise Conflict(
            _("effective_from: %(key)s already has a value from %(on)s")
            % {"key": key, "on": effective_from.isoformat()},
            extra={"field": "effective_from"},
        ) from exc
    return row


def parameters_seed(*, actor: User | None = None) -> int:
    """The seeded parameter rows that are missing (the data migration's P.SEED), with history."""
    require_permission(
        actor, "compliance.add_regulatoryparameter", action="seed the regulatory parameters"
    )
    added = 0
    for key, effective_from, value, source in P.SEED:
        if RegulatoryParameter.objects.filter(key=key, effective_from=effective_from).exists():
            continue
        row = RegulatoryParameter(
            key=key, effective_from=effective_from, value=value, source=source
        )
        stamp(row, actor=actor, reason=f"seeded: {source}")
        row.save()
        added += 1
    return added


def _calendar_year_checked(*, year: int, holidays: list[tuple[date, str]], source: str) -> str:
    """The rules a year's entry must meet (proposed or added): the known range stays
    contiguous, a source is named, each holiday is in the year once. Returns the source."""
    known = calendar.known_years()
    if CalendarYear.objects.filter(year=year).exists():
        raise Conflict(
            _("year: %(year)s is already in the calendar") % {"year": year},
            extra={"field": "year"},
        )
    if known and year not in (known[0] - 1, known[1] + 1):
        raise ValidationFailed(
            _("year: the calendar is known for %(first)s-%(last)s; add %(next)s next (no gaps)")
            % {"first": known[0], "last": known[1], "next": known[1] + 1},
            extra={"field": "year"},
        )
    if not (source or "").strip():
        raise ValidationFailed(
            _("source: name the exchange notice the holidays come from"), extra={"field": "source"}
        )
    seen: set[date] = set()
    for day, _name in holidays:
        if day.year != year:
            raise ValidationFailed(
                _("holidays: %(day)s is not in %(year)s") % {"day": day.isoformat(), "year": year},
                extra={"field": "holidays"},
            )
        if day in seen:
            raise ValidationFailed(
                _("holidays: %(day)s is listed twice") % {"day": day.isoformat()},
                extra={"field": "holidays"},
            )
        seen.add(day)
    return source.strip()


def calendar_year_add(
    *,
    year: int,
    holidays: list[tuple[date, str]],
    source: str,
    actor: User | None,
    proposal: CalendarYearProposal | None = None,
) -> CalendarYear:
    """Make `year` known, with its weekday exchange holidays. The known range stays
    contiguous: only the year after the last known one (or before the first) may be added.
    Seeds, migrations and the demo run as the system (actor None); a person only approves a
    colleague's proposal (calendar_year_decide passes it): four eyes, never one person."""
    if actor is not None and proposal is None:
        raise RuleViolation(
            _(
                "year: a person enters a year's holidays as a proposal with the exchange's "
                "notice, and a second person approves it (four eyes)"
            ),
            code="four_eyes",
            extra={"field": "year"},
        )
    require_permission(actor, "compliance.add_calendaryear", action="add a calendar year")
    source = _calendar_year_checked(year=year, holidays=holidays, source=source)
    with transaction.atomic():
        row = CalendarYear(year=year, source=source)
        stamp(row, actor=actor, reason=f"calendar year {year} added")
        row.save()
        for day, name in sorted(holidays):
            if day.weekday() >= 5:
                continue  # weekends never trade; only weekday closures are stored
            holiday = ExchangeHoliday(date=day, name=name.strip())
            stamp(holiday, actor=actor, reason=f"calendar year {year} added")
            holiday.save()
    return row


#: The largest source document accepted (the exchange's notice as PDF or HTML).
CALENDAR_DOCUMENT_MAX_BYTES = 10 * 1024 * 1024


def calendar_year_propose(
    *,
    year: int,
    holiday_lines: str,
    source: str,
    document_name: str,
    document_content: bytes,
    actor: User | None,
) -> CalendarYearProposal:
    """Compliance enters a year's holidays from the exchange's notice and attaches the notice
    itself (kept with its SHA-256); a second person approves or rejects it
    (calendar_year_decide). The lines are checked now as the year would be added."""
    require_permission(
        actor, "compliance.add_calendaryearproposal", action="propose a calendar year"
    )
    holidays = parse_holiday_lines(holiday_lines or "")
    source = _calendar_year_checked(year=year, holidays=holidays, source=source)
    name = (document_name or "").strip()
    if not name or not document_content:
        raise ValidationFailed(
            _("document: attach the exchange's notice the holidays come from"),
            extra={"field": "document"},
        )
    if len(document_content) > CALENDAR_DOCUMENT_MAX_BYTES:
        raise ValidationFailed(
            _("document: at most %(size)s MB")
            % {"size": CALENDAR_DOCUMENT_MAX_BYTES // (1024 * 1024)},
            extra={"field": "document"},
        )
    proposal = CalendarYearProposal(
        year=year,
        holiday_lines="\n".join(f"{d.isoformat()} {n}".strip() for d, n in sorted(holidays)),
        source=source,
        document_name=name[-200:],
        document_sha256=hashlib.sha256(document_content).hexdigest(),
        document_content=bytes(document_content),
        proposed_by=actor,
    )
    stamp(proposal, actor=actor, reason=f"calendar year {year} proposed from {source}")
    try:
        with transaction.atomic():
            proposal.save()
    except IntegrityError as exc:
        raise Conflict(
            _("year: a proposal for %(year)s is already waiting for approval") % {"year": year},
            extra={"field": "year"},
        ) from exc
    return proposal


def calendar_year_decide(
    *, proposal: CalendarYearProposal, approve: bool, reason: str, actor: User | None
) -> CalendarYearProposal:
    """A second person (never the proposer; a CHECK constraint too) approves the proposal,
    which adds the year and its holidays as calendar_year_add, or rejects it with a reason."""
    require_permission(
        actor, "compliance.approve_calendaryearproposal", action="approve a calendar year"
    )
    reason = (reason or "").strip()
    if not approve:
        reason = _require_reason(reason)
    with transaction.atomic():
        locked = CalendarYearProposal.objects.select_for_update().get(pk=proposal.pk)
        if locked.status != ProposalStatus.PROPOSED:
            raise Conflict(
                _("proposal: the %(year)s proposal is already %(status)s")
                % {"year": locked.year, "status": locked.get_status_display()},
                extra={"field": "proposal"},
            )
        if actor is not None and actor.pk == locked.proposed_by_id:
            raise RuleViolation(
                _(
                    "proposal: the person who proposed the year may not approve or reject it "
                    "(four eyes)"
                ),
                code="four_eyes",
                extra={"field": "proposal"},
            )
        if approve:
            locked.calendar_year = calendar_year_add(
                year=locked.year,
                holidays=parse_holiday_lines(locked.holiday_lines),
                source=f"{locked.source} ({locked.document_name}, "
                f"SHA-256 {locked.document_sha256[:16]})",
                actor=actor,
                proposal=locked,
            )
        locked.status = ProposalStatus.APPROVED if approve else ProposalStatus.REJECTED
        locked.decided_by, locked.decided_at, locked.reason = actor, timezone.now(), reason
        stamp(locked, actor=actor, reason=f"{locked.status}: {reason}".strip(": "))
        locked.save()
    return locked


def exchange_holiday_add(
    *, day: date, name: str, actor: User | None, reason: str
) -> ExchangeHoliday:
    """An extra closure in a known year (e.g. a typhoon day)."""
    require_permission(actor, "compliance.add_exchangeholiday", action="add an exchange holiday")
    reason = _require_reason(reason)
    if not CalendarYear.objects.filter(year=day.year).exists():
        raise ValidationFailed(
            _("date: %(year)s is not in the calendar yet; add the whole year") % {"year": day.year},
            extra={"field": "date"},
        )
    if day.weekday() >= 5:
        raise ValidationFailed(
            _("date: %(day)s is a weekend; weekends never trade") % {"day": day.isoformat()},
            extra={"field": "date"},
        )
    holiday = ExchangeHoliday(date=day, name=name)
    stamp(holiday, actor=actor, reason=reason)
    try:
        with transaction.atomic():
            holiday.save()
    except IntegrityError as exc:
        raise Conflict(
            _("date: %(day)s is already a holiday") % {"day": day.isoformat()},
            extra={"field": "date"},
        ) from exc
    return holiday


def parse_holiday_lines(text: str) -> list[tuple[date, str]]:
    """'2027-01-01 New Year' per line (name optional; blank lines and # comments skipped)."""
    result = []
    for number, line in enumerate(text.splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        head, _sep, name = line.replace("\t", " ").partition(" ")
        try:
            day = date.fromisoformat(head.strip().rstrip(","))
        except ValueError as exc:
            raise ValidationFailed(
                _("holidays: line %(line)s does not start with a YYYY-MM-DD date: %(text)s")
                % {"line": number, "text": repr(line)},
                extra={"field": "holidays", "line": number},
            ) from exc
        result.append((day, name.strip()))
    return result


# --- classification -------------------------------------------------------------------------


def classification_for(
    *,
    investor_type: str,
    financial_assets: Decimal,
    average_income_3y: Decimal,
    net_assets: Decimal,
    experience_years: Decimal,
    on: date | None = None,
) -> tuple[str, str]:
    """(category, basis) by the CSRC professional-investor tests."""

    def p(key: str) -> Decimal:
        return selectors.parameter(key, on=on)

    years_needed = p(P.PRO_INDIVIDUAL_EXPERIENCE_YEARS)
    if investor_type == InvestorType.INSTITUTION:
        ok = (
            net_assets >= p(P.PRO_INSTITUTION_NET_ASSETS)
            and financial_assets >= p(P.PRO_INSTITUTION_FINANCIAL_ASSETS)
            and experience_years >= years_needed
        )
        basis = (
            f"institution: net assets {net_assets}, financial assets {financial_assets}, "
            f"{experience_years} years"
        )
    else:
        wealth = financial_assets >= p(P.PRO_INDIVIDUAL_FINANCIAL_ASSETS) or (
            average_income_3y >= p(P.PRO_INDIVIDUAL_INCOME)
        )
        ok = wealth and experience_years >= years_needed
        basis = (
            f"individual: financial assets {financial_assets}, average income "
            f"{average_income_3y}, {experience_years} years"
        )
    category = InvestorCategory.PROFESSIONAL if ok else InvestorCategory.ORDINARY
    return category, basis


def investor_classify(
    *,
    investor: InvestorProfile,
    financial_assets: Decimal,
    experience_years: Decimal,
    average_income_3y: Decimal = Decimal(0),
    net_assets: Decimal = Decimal(0),
    actor: User | None,
) -> ClassificationRecord:
    require_permission(actor, "compliance.add_classificationrecord", action="classify an investor")
    figures = {
        "financial_assets": _decimal(financial_assets, "financial_assets"),
        "average_income_3y": _decimal(average_income_3y, "average_income_3y"),
        "net_assets": _decimal(net_assets, "net_assets"),
        "experience_years": _decimal(experience_years, "experience_years"),
    }
    category, basis = classification_for(investor_type=investor.investor_type, **figures)
    with transaction.atomic():
        record = ClassificationRecord(investor=investor, result=category, basis=basis, **figures)
        record.assessed_by = actor
        stamp(record, actor=actor, reason="investor classified")
        record.save()
        if investor.category != category:
            account_services.investor_profile_update_in_transaction(
                profile=investor,
                actor=actor,
                reason=f"classified {category}: {basis}",
                category=category,
            )
    return record


#: The waiver an investor reads before asking for professional treatment, in the reader's
#: language; the request keeps the text as the investor read it (warning_text).
PROFESSIONAL_WARNING = gettext_lazy(
    "As a professional investor you will no longer receive the protections given to ordinary "
    "investors: the desk will not assess your risk tolerance or warn you when a product's "
    "risk exceeds it, and you bear the consequences of your own investment decisions."
)


def professional_request_submit(
    *,
    investor: InvestorProfile,
    financial_assets: Decimal,
    average_income_3y: Decimal,
    experience_years: Decimal,
    actor: User | None,
) -> ProfessionalTreatmentRequest:
    require_investor_or_permission(
        actor,
        investor,
        "compliance.add_professionaltreatmentrequest",
        action="ask for professional treatment",
    )
    if investor.category == InvestorCategory.PROFESSIONAL:
        raise RuleViolation(
            _("category: the investor is already professional"), extra={"field": "category"}
        )
    if investor.professional_requests.filter(status=ProfessionalRequestStatus.REQUESTED).exists():
        raise Conflict(
            _("request: a request is already waiting for assessment"), extra={"field": "request"}
        )
    request = ProfessionalTreatmentRequest(
        investor=investor,
        financial_assets=_decimal(financial_assets, "financial_assets"),
        average_income_3y=_decimal(average_income_3y, "average_income_3y"),
        experience_years=_decimal(experience_years, "experience_years"),
        warning_text=str(PROFESSIONAL_WARNING),
    )
    stamp(request, actor=actor, reason="investor asked for professional treatment")
    request.save()
    return request


def professional_request_assess(
    *, request: ProfessionalTreatmentRequest, approve: bool, reason: str, actor: User
) -> ProfessionalTreatmentRequest:
    require_permission(
        actor,
        "compliance.change_professionaltreatmentrequest",
        action="assess a professional treatment request",
    )
    reason = _require_reason(reason)
    if request.status != ProfessionalRequestStatus.REQUESTED:
        raise Conflict(_("request: already assessed"), extra={"field": "request"})
    if approve:
        wealth = request.financial_assets >= selectors.parameter(
            P.UPGRADE_FINANCIAL_ASSETS
        ) or request.average_income_3y >= selectors.parameter(P.UPGRADE_INCOME)
        if not wealth or request.experience_years < selectors.parameter(P.UPGRADE_EXPERIENCE_YEARS):
            raise RuleViolation(
                _(
                    "request: the figures do not meet the tests for professional treatment "
                    "(financial assets or income, and experience)"
                ),
                extra={"field": "request"},
            )
    with transaction.atomic():
        request.status = (
            ProfessionalRequestStatus.APPROVED if approve else ProfessionalRequestStatus.REJECTED
        )
        request.assessed_by = actor
        request.assessed_at = timezone.now()
        request.reason = reason
        stamp(request, actor=actor, reason=reason)
        request.save()
        if approve:
            account_services.investor_profile_update_in_transaction(
                profile=request.investor,
                actor=actor,
                reason=f"professional treatment approved: {reason}",
                category=InvestorCategory.PROFESSIONAL,
            )
    return request


# --- questionnaires and assessments ---------------------------------------------------------


def questionnaire_create(
    *,
    version: int,
    title: str,
    questions: list[dict],
    bands: list[dict],
    actor: User | None,
    activate: bool = True,
) -> Questionnaire:
    """questions: [{"text", "options": [{"text", "score", "forces_lowest_category"?}]}];
    bands: [{"min_score", "max_score", "risk_class", "is_lowest_category"?}] covering every
    reachable total without overlap."""
    require_permission(actor, "compliance.add_questionnaire", action="create a questionnaire")
    if not questions:
        raise ValidationFailed(_("questions: at least one question"), extra={"field": "questions"})
    for i, question in enumerate(questions, start=1):
        if len(question.get("options", [])) < 2:
            raise ValidationFailed(
                _("questions: question %(number)s needs at least two options") % {"number": i},
                extra={"field": "questions"},
            )
    low = sum(min(o["score"] for o in q["options"]) for q in questions)
    high = sum(max(o["score"] for o in q["options"]) for q in questions)
    ordered = sorted(bands, key=lambda b: b["min_score"])
    if not ordered or ordered[0]["min_score"] > low or ordered[-1]["max_score"] < high:
        raise ValidationFailed(
            _("bands: must cover every total from %(low)s to %(high)s")
            % {"low": low, "high": high},
            extra={"field": "bands"},
        )
    for prev, nxt in itertools.pairwise(ordered):
        if nxt["min_score"] != prev["max_score"] + 1:
            raise ValidationFailed(
                _("bands: gap or overlap between %(high)s and %(low)s")
                % {"high": prev["max_score"], "low": nxt["min_score"]},
                extra={"field": "bands"},
            )
    for band in ordered:
        if band["risk_class"] not in RiskClass.values:
            raise ValidationFailed(
                _("bands: risk class %(risk_class)s is not one of 1-5")
                % {"risk_class": band["risk_class"]},
                extra={"field": "bands"},
            )
        if band.get("is_lowest_category") and band["risk_class"] != RiskClass.C1:
            raise ValidationFailed(
                _("bands: the lowest category lies inside C1"), extra={"field": "bands"}
            )
    if Questionnaire.objects.filter(version=version).exists():
        raise Conflict(
            _("version: v%(version)s already exists") % {"version": version},
            extra={"field": "version"},
        )
    with transaction.atomic():
        if activate:
            for old in Questionnaire.objects.filter(is_active=True):
                old.is_active = False
                stamp(old, actor=actor, reason=f"superseded by v{version}")
                old.save()
        questionnaire = Questionnaire(version=version, title=title, is_active=activate)
        stamp(questionnaire, actor=actor, reason="questionnaire created")
        questionnaire.save()
        for i, q in enumerate(questions, start=1):
            question = Question.objects.create(questionnaire=questionnaire, order=i, text=q["text"])
            for j, o in enumerate(q["options"], start=1):
                AnswerOption.objects.create(
                    question=question,
                    order=j,
                    text=o["text"],
                    score=o["score"],
                    forces_lowest_category=o.get("forces_lowest_category", False),
                )
        for band in ordered:
            ScoreBand.objects.create(
                questionnaire=questionnaire,
                min_score=band["min_score"],
                max_score=band["max_score"],
                risk_class=band["risk_class"],
                is_lowest_category=band.get("is_lowest_category", False),
            )
    return questionnaire


def assessment_submit(
    *,
    investor: InvestorProfile,
    answers: dict[int, int],
    actor: User | None,
    questionnaire: Questionnaire | None = None,
    taken_at: datetime | None = None,
) -> SuitabilityAssessment:
    """answers: {question_id: option_id}, one per question of the questionnaire."""
    require_investor_or_permission(
        actor, investor, "compliance.add_suitabilityassessment", action="submit an assessment"
    )
    questionnaire = questionnaire or selectors.active_questionnaire()
    if questionnaire is None:
        raise RuleViolation(
            _("questionnaire: no questionnaire is in use"), extra={"field": "questionnaire"}
        )
    answers = {int(k): int(v) for k, v in answers.items()}
    questions = list(questionnaire.questions.prefetch_related("options"))
    recorded = []
    total = 0
    forced_lowest = False
    for question in questions:
        if question.pk not in answers:
            raise ValidationFailed(
                _("answers: question %(number)s is not answered") % {"number": question.order},
                extra={"field": "answers", "question": question.pk},
            )
        option = next((o for o in question.options.all() if o.pk == answers[question.pk]), None)
        if option is None:
            raise ValidationFailed(
                _("answers: option %(option)s does not belong to question %(number)s")
                % {"option": answers[question.pk], "number": question.order},
                extra={"field": "answers", "question": question.pk},
            )
        total += option.score
        forced_lowest |= option.forces_lowest_category
        recorded.append(
            {
                "question_id": question.pk,
                "question": question.text,
                "option_id": option.pk,
                "answer": option.text,
                "score": option.score,
            }
        )
    extra_ids = set(answers) - {q.pk for q in questions}
    if extra_ids:
        raise ValidationFailed(
            _("answers: questions %(ids)s are not in v%(version)s")
            % {"ids": sorted(extra_ids), "version": questionnaire.version},
            extra={"field": "answers"},
        )
    band = questionnaire.bands.filter(min_score__lte=total, max_score__gte=total).first()
    if band is None:
        raise RuleViolation(
            _("answers: total %(total)s is outside every score band") % {"total": total},
            extra={"field": "answers"},
        )
    risk_class, lowest = band.risk_class, band.is_lowest_category
    if forced_lowest:
        risk_class, lowest = RiskClass.C1, True
    taken_at = taken_at or timezone.now()
    months = int(selectors.parameter(P.ASSESSMENT_VALIDITY_MONTHS, on=taken_at.date()))
    assessment = SuitabilityAssessment(
        investor=investor,
        questionnaire=questionnaire,
        questionnaire_version=questionnaire.version,
        answers=recorded,
        total_score=total,
        risk_class=risk_class,
        is_lowest_category=lowest,
        taken_at=taken_at,
        valid_until=calendar.add_months(timezone.localtime(taken_at).date(), months),
        taken_by=actor,
    )
    stamp(assessment, actor=actor, reason="suitability questionnaire answered")
    assessment.save()
    return assessment


def product_upsert(*, code: str, name: str, risk_level: int, actor: User | None) -> Product:
    require_permission(actor, "compliance.change_product", action="set a product's risk level")
    if risk_level not in RiskLevel.values:
        raise ValidationFailed(
            _("risk_level: %(level)s is not one of 1-5") % {"level": risk_level},
            extra={"field": "risk_level"},
        )
    product = Product.objects.filter(code=code).first() or Product(code=code)
    product.name, product.risk_level = name, risk_level
    stamp(product, actor=actor, reason="product set up")
    product.save()
    return product


def warning_text_for(*, risk_class: int, product: Product, risk_level: int) -> str:
    return (
        f"Warning: your risk tolerance class is C{risk_class}, below the risk level "
        f"R{risk_level} of {product.name}. The product may lose more than you can bear; "
        "borrowing magnifies losses as well as gains and your collateral may be sold if the "
        "maintenance ratio falls below the call line. By confirming you state that you have "
        "read this warning and still wish to proceed."
    )


def suitability_match_record(
    *, investor: InvestorProfile, product: Product, actor: User | None
) -> SuitabilityMatch:
    """Apply the matching rule to the investor's valid assessment and record the result.
    A refusal is recorded (with a red flag) and returned; callers show it."""
    require_investor_or_permission(
        actor, investor, "compliance.add_suitabilitymatch", action="match a product"
    )
    assessment = selectors.valid_assessment(investor)
    if assessment is None:
        raise RuleViolation(
            _("assessment: no valid suitability assessment; take the questionnaire first"),
            code="assessment_required",
            extra={"field": "assessment"},
        )
    level = selectors.product_risk_level(product)
    outcome = selectors.match_outcome(
        risk_class=assessment.risk_class,
        is_lowest_category=assessment.is_lowest_category,
        risk_level=level,
    )
    existing = selectors.current_match(investor, product)
    if existing is not None and existing.outcome == outcome:
        return existing
    match = SuitabilityMatch(
        investor=investor,
        assessment=assessment,
        product=product,
        product_risk_level=level,
        risk_class=assessment.risk_class,
        outcome=outcome,
        warning_text=(
            warning_text_for(risk_class=assessment.risk_class, product=product, risk_level=level)
            if outcome == MatchOutcome.WARNING
            else ""
        ),
    )
    stamp(match, actor=actor, reason=f"suitability match: {outcome}")
    match.save()
    if outcome == MatchOutcome.REFUSED:
        red_flag_raise(
            investor=investor,
            kind=RedFlagKind.SUITABILITY_REFUSED,
            message=f"lowest category refused {product.code} (R{level})",
            details={"assessment": assessment.pk, "product": product.code},
            actor=actor,
        )
    return match


def suitability_warning_confirm(
    *,
    match: SuitabilityMatch,
    investor: InvestorProfile,
    ip_address: str | None,
    user_agent: str,
    actor: User | None,
) -> SuitabilityMatch:
    require_investor_or_permission(actor, investor, None, action="confirm a written warning")
    if match.investor_id != investor.pk:
        raise NotFound(_("match: not found"))
    if match.outcome != MatchOutcome.WARNING:
        raise RuleViolation(
            _("match: outcome is %(outcome)s; only a warning is confirmed")
            % {"outcome": match.get_outcome_display()},
            extra={"field": "match"},
        )
    if match.confirmed_at is not None:
        return match
    match.confirmed_at = timezone.now()
    match.confirmed_ip = ip_address or None
    match.confirmed_user_agent = (user_agent or "")[:400]
    stamp(match, actor=actor, reason="investor confirmed the written warning")
    match.save()
    return match


# --- disclosures ----------------------------------------------------------------------------


def sha256_of(content: str) -> str:
    return hashlib.sha256(content.encode("utf-8")).hexdigest()


def disclosure_publish(*, title: str, content: str, actor: User | None) -> DisclosureDocument:
    """Publish the next version. From now on drawdowns wait until each investor
    acknowledges it (selectors.drawdown_blockers)."""
    require_permission(
        actor, "compliance.add_disclosuredocument", action="publish a risk disclosure"
    )
    if not content.strip():
        raise ValidationFailed(
            _("content: the disclosure text is empty"), extra={"field": "content"}
        )
    if not title.strip():
        raise ValidationFailed(_("title: a title is required"), extra={"field": "title"})
    with transaction.atomic():
        # Versions are a gap-free series readers cite; serialise publishers on the table.
        with connection.cursor() as cursor:
            cursor.execute(
                f"LOCK TABLE {DisclosureDocument._meta.db_table} IN SHARE ROW EXCLUSIVE MODE"
            )
        latest = DisclosureDocument.objects.order_by("-version").first()
        if latest is not None and latest.sha256 == sha256_of(content):
            raise Conflict(
                _("content: identical to version %(version)s") % {"version": latest.version},
                extra={"field": "content"},
            )
        document = DisclosureDocument(
            version=(latest.version + 1) if latest else 1,
            title=title.strip(),
            content=content,
            sha256=sha256_of(content),
            published_at=timezone.now(),
            published_by=actor,
        )
        stamp(document, actor=actor, reason="risk disclosure published")
        document.save()
    return document


def disclosure_acknowledge(
    *,
    investor: InvestorProfile,
    document: DisclosureDocument,
    ip_address: str | None,
    user_agent: str,
    actor: User | None,
) -> DisclosureAcknowledgement:
    require_investor_or_permission(actor, investor, None, action="acknowledge a disclosure")
    current = selectors.current_disclosure()
    if current is None or current.pk != document.pk:
        raise RuleViolation(
            _("document: version %(version)s is not the current risk disclosure")
            % {"version": document.version},
            extra={"field": "document"},
        )
    if sha256_of(document.content) != document.sha256:
        raise RuleViolation(
            _("document: stored text does not match its SHA-256; contact compliance"),
            code="disclosure_tampered",
            extra={"field": "document"},
        )
    existing = DisclosureAcknowledgement.objects.filter(
        investor=investor, document=document
    ).first()
    if existing:
        return existing
    ack = DisclosureAcknowledgement(
        investor=investor,
        document=document,
        version=document.version,
        sha256=document.sha256,
        acknowledged_at=timezone.now(),
        ip_address=ip_address or None,
        user_agent=(user_agent or "")[:400],
    )
    stamp(ack, actor=actor, reason=f"risk disclosure v{document.version} acknowledged")
    ack.save()
    return ack


# --- eligibility ----------------------------------------------------------------------------


def eligibility_facts_set(
    *,
    investor: InvestorProfile,
    first_trade_date: date | None,
    has_serious_default: bool,
    is_related_party: bool,
    firm_shareholding_pct: Decimal,
    evidence: str,
    actor: User | None,
    reason: str,
) -> EligibilityFacts:
    require_permission(
        actor, "compliance.change_eligibilityfacts", action="record eligibility facts"
    )
    reason = _require_reason(reason)
    pct = _decimal(firm_shareholding_pct, "firm_shareholding_pct")
    if pct > 100:
        raise ValidationFailed(
            _("firm_shareholding_pct: at most 100"), extra={"field": "firm_shareholding_pct"}
        )
    facts = EligibilityFacts.objects.filter(investor=investor).first() or EligibilityFacts(
        investor=investor
    )
    facts.first_trade_date = first_trade_date
    facts.has_serious_default = has_serious_default
    facts.is_related_party = is_related_party
    facts.firm_shareholding_pct = pct
    facts.evidence = evidence
    stamp(facts, actor=actor, reason=reason)
    facts.save()
    return facts


ELIGIBILITY_FACTS_COLUMNS = [
    "email",
    "first_trade_date",
    "has_serious_default",
    "is_related_party",
    "firm_shareholding_pct",
    "evidence",
]
_YES, _NO = {"yes", "true", "1", "y"}, {"no", "false", "0", "n", ""}


def _flag(value: str, field: str, number: int) -> bool:
    text = (value or "").strip().lower()
    if text in _YES:
        return True
    if text in _NO:
        return False
    raise ValidationFailed(
        _("%(field)s: line %(line)s: %(value)s is not yes or no")
        % {"field": field, "line": number, "value": repr(value)},
        extra={"field": field, "line": number},
    )


def eligibility_facts_import(*, rows: list[dict], actor: User | None, reason: str) -> int:
    """The facts of many investors at once, one row each (the keys of ELIGIBILITY_FACTS_COLUMNS;
    dates YYYY-MM-DD, flags yes/no): every row is checked before any is written, and a bad one
    refuses them all naming its field and line. Returns the investors updated."""
    require_permission(
        actor, "compliance.change_eligibilityfacts", action="record eligibility facts"
    )
    reason = _require_reason(reason)
    checked = []
    for number, row in enumerate(rows, start=1):
        row = {k: "" if v is None else str(v) for k, v in dict(row).items()}
        email = row.get("email", "").strip().lower()
        investor = InvestorProfile.objects.filter(user__email__iexact=email).first()
        if investor is None:
            raise ValidationFailed(
                _("email: line %(line)s: no investor with e-mail %(email)s")
                % {"line": number, "email": repr(email)},
                extra={"field": "email", "line": number},
            )
        first = row.get("first_trade_date", "").strip()
        try:
            first_trade = date.fromisoformat(first) if first else None
        except ValueError:
            raise ValidationFailed(
                _("first_trade_date: line %(line)s: %(value)s is not YYYY-MM-DD")
                % {"line": number, "value": repr(first)},
                extra={"field": "first_trade_date", "line": number},
            ) from None
        pct = _decimal(row.get("firm_shareholding_pct") or "0", "firm_shareholding_pct")
        if pct > 100:
            raise ValidationFailed(
                _("firm_shareholding_pct: line %(line)s: at most 100") % {"line": number},
                extra={"field": "firm_shareholding_pct", "line": number},
            )
        checked.append(
            {
                "investor": investor,
                "first_trade_date": first_trade,
                "has_serious_default": _flag(
                    row.get("has_serious_default", ""), "has_serious_default", number
                ),
                "is_related_party": _flag(
                    row.get("is_related_party", ""), "is_related_party", number
                ),
                "firm_shareholding_pct": pct,
                "evidence": row.get("evidence", "").strip(),
            }
        )
    with transaction.atomic():
        for facts in checked:
            eligibility_facts_set(actor=actor, reason=reason, **facts)
    return len(checked)


def eligibility_facts_import_csv(*, text: str, actor: User | None, reason: str) -> int:
    """`eligibility_facts_import` from a CSV file with the header ELIGIBILITY_FACTS_COLUMNS."""
    require_permission(
        actor, "compliance.change_eligibilityfacts", action="record eligibility facts"
    )
    reader = csv.DictReader(io.StringIO(text))
    if [h.strip() for h in (reader.fieldnames or [])] != ELIGIBILITY_FACTS_COLUMNS:
        raise ValidationFailed(
            _("file: the header must be %(columns)s")
            % {"columns": ",".join(ELIGIBILITY_FACTS_COLUMNS)},
            extra={"field": "file"},
        )
    return eligibility_facts_import(rows=list(reader), actor=actor, reason=reason)


def daily_assets_import(
    *, investor: InvestorProfile, rows: list[tuple[date, Decimal]], source: str, actor
) -> int:
    """Upsert end-of-day total assets from the ordinary brokerage account. A person importing
    needs compliance.add_dailyassetfigure; the feed itself runs as the system (actor None)."""
    require_permission(actor, "compliance.add_dailyassetfigure", action="import daily assets")
    if source not in ("csv", "api", "demo"):
        raise ValidationFailed(_("source: csv, api or demo"), extra={"field": "source"})
    count = 0
    with transaction.atomic():
        for day, amount in rows:
            amount = _decimal(amount, "total_assets")
            figure = DailyAssetFigure.objects.filter(investor=investor, date=day).first()
            if figure is None:
                figure = DailyAssetFigure(investor=investor, date=day)
            elif figure.total_assets == amount:
                continue
            figure.total_assets, figure.source = amount, source
            stamp(figure, actor=actor, reason=f"daily assets imported ({source})")
            figure.save()
            count += 1
    return count


def daily_assets_import_csv(*, text: str, actor: User | None) -> int:
    """CSV with header `email,date,total_assets` (one row per investor and day)."""
    require_permission(actor, "compliance.add_dailyassetfigure", action="import daily assets")
    reader = csv.DictReader(io.StringIO(text))
    required = {"email", "date", "total_assets"}
    if not reader.fieldnames or not required <= set(reader.fieldnames):
        raise ValidationFailed(
            _("file: the header must have the columns email,date,total_assets"),
            extra={"field": "file"},
        )
    by_investor: dict[int, tuple[InvestorProfile, list]] = {}
    for number, row in enumerate(reader, start=2):
        email = (row["email"] or "").strip().lower()
        investor = InvestorProfile.objects.filter(user__email__iexact=email).first()
        if investor is None:
            raise ValidationFailed(
                _("file: line %(line)s: no investor with e-mail %(email)s")
                % {"line": number, "email": repr(email)},
                extra={"field": "file", "line": number},
            )
        try:
            day = date.fromisoformat((row["date"] or "").strip())
        except ValueError as exc:
            raise ValidationFailed(
                _("file: line %(line)s: date %(value)s is not YYYY-MM-DD")
                % {"line": number, "value": repr(row["date"])},
                extra={"field": "file", "line": number},
            ) from exc
        amount = _decimal(row["total_assets"], f"file: line {number}: total_assets")
        by_investor.setdefault(investor.pk, (investor, []))[1].append((day, amount))
    total = 0
    with transaction.atomic():
        for investor, rows in by_investor.values():
            total += daily_assets_import(investor=investor, rows=rows, source="csv", actor=actor)
    return total


def _item(rule: str, passed: bool, message: str, evidence: dict, **values) -> dict:
    """One test's result. `message` is the English message key (marked with gettext_noop) with
    %(name)s placeholders filled from `values`: the record keeps the English text and the key
    with its values, so a page shows it in the reader's language (EligibilityCheckItem.text)."""
    shown = {k: str(v) for k, v in values.items()}
    return {
        "rule": rule,
        "passed": passed,
        "message": message % shown if shown else message,
        "params": {"msgid": message, "values": shown},
        "evidence": evidence,
    }


def eligibility_evaluate(investor: InvestorProfile, *, as_of: date) -> list[dict]:
    """The entry-requirement tests, each with its evidence; nothing is written."""

    def p(key: str) -> Decimal:
        return selectors.parameter(key, on=as_of)

    items = []
    facts = EligibilityFacts.objects.filter(investor=investor).first()
    exempt = (
        investor.investor_type == InvestorType.INSTITUTION
        and investor.category == InvestorCategory.PROFESSIONAL
    )
    # 1. trading experience
    months = int(p(P.MIN_TRADING_MONTHS))
    if exempt:
        items.append(
            _item("trading_experience", True, gettext_noop("professional institution: exempt"), {})
        )
    elif facts is None or facts.first_trade_date is None:
        items.append(
            _item(
                "trading_experience",
                False,
                gettext_noop("no first trade date on record"),
                {"months": months},
            )
        )
    else:
        needed_by = calendar.add_months(as_of, -months)
        ok = facts.first_trade_date <= needed_by
        items.append(
            _item(
                "trading_experience",
                ok,
                gettext_noop(
                    "first trade %(first)s; %(months)s months needs %(needed_by)s or earlier"
                ),
                {"first_trade_date": facts.first_trade_date.isoformat(), "months": months},
                first=facts.first_trade_date.isoformat(),
                months=months,
                needed_by=needed_by.isoformat(),
            )
        )
    # 2. average daily assets over the last N Shanghai trading days
    window = int(p(P.AVERAGE_ASSETS_WINDOW))
    threshold = p(P.MIN_AVERAGE_DAILY_ASSETS)
    if exempt:
        items.append(
            _item("average_assets", True, gettext_noop("professional institution: exempt"), {})
        )
    else:
        end = calendar.previous_trading_day(as_of)
        days = calendar.last_n_trading_days(end, window)
        figures = dict(
            DailyAssetFigure.objects.filter(investor=investor, date__in=days).values_list(
                "date", "total_assets"
            )
        )
        missing = [d.isoformat() for d in days if d not in figures]
        evidence = {
            "trading_days": [d.isoformat() for d in days],
            "figures": {d.isoformat(): str(figures[d]) for d in days if d in figures},
            "threshold": str(threshold),
        }
        if missing:
            evidence["missing"] = missing
            items.append(
                _item(
                    "average_assets",
                    False,
                    gettext_noop(
                        "daily assets missing for %(missing)s of %(window)s trading days "
                        "(first %(first)s)"
                    ),
                    evidence,
                    missing=len(missing),
                    window=window,
                    first=missing[0],
                )
            )
        else:
            average = (sum(figures.values(), Decimal(0)) / window).quantize(Decimal("0.01"))
            evidence["average"] = str(average)
            items.append(
                _item(
                    "average_assets",
                    average >= threshold,
                    gettext_noop(
                        "average %(average)s over %(window)s trading days %(first)s..%(last)s; "
                        "needs %(threshold)s"
                    ),
                    evidence,
                    average=fmt_money(average),
                    window=window,
                    first=days[0].isoformat(),
                    last=days[-1].isoformat(),
                    threshold=fmt_money(threshold),
                )
            )
    # 3. no serious default
    if facts is None:
        items.append(
            _item("no_serious_default", False, gettext_noop("no credit record on file"), {})
        )
    else:
        items.append(
            _item(
                "no_serious_default",
                not facts.has_serious_default,
                gettext_noop("serious default on record")
                if facts.has_serious_default
                else gettext_noop("no default"),
                {"evidence": facts.evidence},
            )
        )
    # 4. not a related party or major shareholder (holders below the threshold excepted)
    limit = p(P.RELATED_PARTY_THRESHOLD_PCT)
    if facts is None:
        items.append(
            _item("not_related_party", False, gettext_noop("no related-party declaration"), {})
        )
    else:
        major = facts.firm_shareholding_pct >= limit
        ok = not facts.is_related_party and not major
        items.append(
            _item(
                "not_related_party",
                ok,
                gettext_noop(
                    "a related party of the firm; holds %(held)s per cent of it (limit "
                    "%(limit)s per cent)"
                )
                if facts.is_related_party
                else gettext_noop(
                    "not a related party; holds %(held)s per cent of the firm (limit "
                    "%(limit)s per cent)"
                ),
                {
                    "is_related_party": facts.is_related_party,
                    "firm_shareholding_pct": str(facts.firm_shareholding_pct),
                },
                held=facts.firm_shareholding_pct.normalize(),
                limit=limit.normalize(),
            )
        )
    # 5. risk class
    minimum = int(p(P.MIN_RISK_CLASS))
    if investor.category == InvestorCategory.PROFESSIONAL:
        items.append(
            _item("risk_class", True, gettext_noop("professional investor: not risk-classed"), {})
        )
    else:
        assessment = selectors.valid_assessment(investor, on=as_of)
        if assessment is None:
            items.append(
                _item(
                    "risk_class",
                    False,
                    gettext_noop("no valid suitability assessment"),
                    {"min": minimum},
                )
            )
        else:
            items.append(
                _item(
                    "risk_class",
                    assessment.risk_class >= minimum and not assessment.is_lowest_category,
                    gettext_noop("C%(risk_class)s; needs C%(minimum)s or above"),
                    {"assessment": assessment.pk, "min": minimum},
                    risk_class=assessment.risk_class,
                    minimum=minimum,
                )
            )
    return items


def eligibility_check_run(
    *, investor: InvestorProfile, actor: User | None, as_of: date | None = None
) -> EligibilityCheck:
    require_permission(actor, "compliance.add_eligibilitycheck", action="run an eligibility check")
    as_of = as_of or selectors.today()
    items = eligibility_evaluate(investor, as_of=as_of)
    with transaction.atomic():
        check = EligibilityCheck(
            investor=investor,
            as_of=as_of,
            passed=all(i["passed"] for i in items),
            checked_by=actor,
        )
        stamp(check, actor=actor, reason="eligibility check")
        check.save()
        EligibilityCheckItem.objects.bulk_create(
            EligibilityCheckItem(check_run=check, **item) for item in items
        )
    return check


# --- red flags and held deposits ------------------------------------------------------------


def red_flag_raise(
    *,
    investor: InvestorProfile | None,
    kind: str,
    message: str,
    details: dict | None = None,
    actor: User | None,
) -> RedFlag:
    """Record a refused or suspicious attempt. Call it outside the caller's transaction
    (or before raising) so the record survives the refusal."""
    if kind not in RedFlagKind.values:
        raise ValidationFailed(
            _("kind: unknown red-flag kind %(kind)s") % {"kind": repr(kind)},
            extra={"field": "kind"},
        )
    flag = RedFlag(
        investor=investor, kind=kind, message=message[:400], details=details or {}, raised_by=actor
    )
    stamp(flag, actor=actor, reason=message[:100])
    flag.save()
    return flag


def red_flag_resolve(*, flag: RedFlag, status: str, resolution: str, actor: User) -> RedFlag:
    require_permission(actor, "compliance.change_redflag", action="resolve a red flag")
    resolution = _require_reason(resolution)
    if status not in (RedFlagStatus.CLEARED, RedFlagStatus.CONFIRMED):
        raise ValidationFailed(_("status: cleared or confirmed"), extra={"field": "status"})
    if flag.status != RedFlagStatus.OPEN:
        raise Conflict(_("flag: already resolved"), extra={"field": "flag"})
    flag.status, flag.resolution = status, resolution
    flag.resolved_by, flag.resolved_at = actor, timezone.now()
    stamp(flag, actor=actor, reason=resolution)
    flag.save()
    return flag


def refuse_and_record(
    *,
    investor: InvestorProfile | None,
    kind: str,
    message: str,
    details: dict | None,
    actor: User | None,
    error: type[RuleViolation] | type[Conflict] = RuleViolation,
    code: str | None = None,
    field: str = "investor",
):
    """Record the red flag in its own committed transaction, then raise. The flag keeps
    `message` as written (English, the desk's record); the error shows it in the reader's
    language when the catalogue has it (call sites mark literal messages with gettext_noop)."""
    flag = red_flag_raise(
        investor=investor, kind=kind, message=message, details=details, actor=actor
    )
    raise error(
        f"{field}: {gettext(message)}",
        code=code,
        extra={"field": field, "red_flag": flag.pk},
    )


def sub_account_refuse(*, investor: InvestorProfile, details: dict, actor: User | None):
    """The desk never splits a credit account into sub-accounts: always refused, recorded.
    Whoever asks (the investor in the portal, staff recording a request heard by phone) is
    refused the same way, so no permission is needed to be refused."""
    refuse_and_record(
        investor=investor,
        kind=RedFlagKind.SUB_ACCOUNT,
        message=gettext_noop(
            "sub-accounts are not offered: one real-name investor per credit account"
        ),
        details=details,
        actor=actor,
        code="sub_account_refused",
    )


def third_party_authority_refuse(*, investor: InvestorProfile, details: dict, actor: User | None):
    """Trading authority for a third party over a credit account: always refused, recorded
    (whoever asks, as sub_account_refuse)."""
    refuse_and_record(
        investor=investor,
        kind=RedFlagKind.THIRD_PARTY_AUTHORITY,
        message=gettext_noop("third-party trading authority over a credit account is not allowed"),
        details=details,
        actor=actor,
        code="third_party_authority_refused",
    )


def deposit_hold(
    *,
    investor: InvestorProfile,
    amount: Decimal,
    currency: str,
    bank_account: str,
    reference: str,
    idempotency_key: str,
    actor: User | None,
) -> HeldDeposit:
    """Hold money that came from a bank account other than the account of record: flagged,
    never credited, until staff release (after review) or return it."""
    amount = _decimal(amount, "amount")
    if amount <= 0:
        raise ValidationFailed(_("amount: must be positive"), extra={"field": "amount"})
    if not idempotency_key:
        raise ValidationFailed(
            _("idempotency_key: required for a deposit"), extra={"field": "idempotency_key"}
        )
    existing = HeldDeposit.objects.filter(idempotency_key=idempotency_key).first()
    if existing is not None:
        if existing.amount != amount or existing.investor_id != investor.pk:
            raise Conflict(
                _("idempotency_key: already used for another deposit"),
                extra={"field": "idempotency_key"},
            )
        return existing
    masked = sensitive.mask_account(sensitive.normalise(bank_account))
    with transaction.atomic():
        flag = red_flag_raise(
            investor=investor,
            kind=RedFlagKind.THIRD_PARTY_DEPOSIT,
            message=f"deposit of {amount} {currency} from {masked}, not the account of record",
            details={"amount": str(amount), "currency": currency, "reference": reference},
            actor=actor,
        )
        held = HeldDeposit(
            investor=investor,
            amount=amount,
            currency=currency,
            bank_account_masked=masked,
            bank_account_digest=sensitive.digest(bank_account),
            reference=reference,
            idempotency_key=idempotency_key,
            red_flag=flag,
        )
        stamp(held, actor=actor, reason="held: bank account not of record")
        held.save()
    return held


def held_deposit_resolve(
    *, deposit: HeldDeposit, release: bool, reason: str, actor: User
) -> HeldDeposit:
    """Mark a held deposit released (lending then credits it through custody) or returned.
    Run inside the caller's transaction when it also posts the money."""
    require_permission(actor, "compliance.change_helddeposit", action="resolve a held deposit")
    reason = _require_reason(reason)
    deposit = HeldDeposit.objects.select_for_update().get(pk=deposit.pk)
    if deposit.status != HeldDepositStatus.HELD:
        raise Conflict(
            _("deposit: already %(status)s") % {"status": deposit.get_status_display()},
            extra={"field": "deposit"},
        )
    now = timezone.now()
    deposit.status = HeldDepositStatus.RELEASED if release else HeldDepositStatus.RETURNED
    deposit.resolved_by, deposit.resolved_at, deposit.resolution = actor, now, reason
    stamp(deposit, actor=actor, reason=reason)
    deposit.save()
    flag = deposit.red_flag
    flag.status = RedFlagStatus.CLEARED if release else RedFlagStatus.CONFIRMED
    flag.resolved_by, flag.resolved_at, flag.resolution = actor, now, reason
    stamp(flag, actor=actor, reason=reason)
    flag.save()
    return deposit


# --- restricted holders (董监高, 5% holders) -------------------------------------------------

RESTRICTED_STATEMENT = gettext_noop(
    "I declare that, apart from the positions listed, I am not a director, supervisor or senior "
    "manager of any listed company, nor a holder of 5 per cent or more of its shares, and that I "
    "will tell the desk at once when this changes."
)
RESTRICTED_NONE_STATEMENT = gettext_noop(
    "I declare that I am not a director, supervisor or senior manager of any listed company, "
    "nor a holder of 5 per cent or more of its shares, and that I will tell the desk at once when "
    "this changes."
)


def _restricted_source(investor: InvestorProfile, actor: User | None, perm: str, action: str):
    """The investor for themselves (a declaration), or staff holding `perm` (a record)."""
    if actor is not None and actor.pk == investor.user_id:
        return RestrictedSource.INVESTOR
    require_permission(actor, perm, action=action)
    return RestrictedSource.STAFF


def security_parsed(value: str) -> str:
    """ "EXCHANGE:CODE" (upper case), as lending's instruments name themselves."""
    security = (value or "").strip().upper()
    if not re.fullmatch(SECURITY_PATTERN, security):
        raise ValidationFailed(
            _("security: %(value)s is not EXCHANGE:CODE (e.g. SSE:600000)")
            % {"value": repr(value)},
            extra={"field": "security"},
        )
    return security


def restricted_holding_add(
    *,
    investor: InvestorProfile,
    security: str,
    company_name: str,
    role: str,
    since: date,
    actor: User | None,
    reason: str = "",
) -> RestrictedHolding:
    """Record that the investor is a director, supervisor, senior manager or 5%+ holder of a
    listed company from `since`: the investor declares it (portal, API) or compliance records
    it from a filing (permission compliance.add_restrictedholding, a reason required)."""
    source = _restricted_source(
        investor, actor, "compliance.add_restrictedholding", "record a restricted holding"
    )
    security = security_parsed(security)
    company = (company_name or "").strip()
    if not company:
        raise ValidationFailed(
            _("company_name: name the listed company"), extra={"field": "company_name"}
        )
    if role not in RestrictedRole.values:
        raise ValidationFailed(
            _("role: one of %(values)s") % {"values": ", ".join(RestrictedRole.values)},
            extra={"field": "role"},
        )
    if not isinstance(since, date):
        raise ValidationFailed(
            _("since: a date (YYYY-MM-DD) is required"), extra={"field": "since"}
        )
    if source == RestrictedSource.STAFF:
        reason = _require_reason(reason)
    else:
        reason = (reason or "").strip() or "declared by the investor"
    holding = RestrictedHolding(
        investor=investor,
        security=security,
        company_name=company[:200],
        role=role,
        since=since,
        source=source,
        declared_by=actor,
        reason=reason,
    )
    stamp(holding, actor=actor, reason=f"restricted holding {role} {security}: {reason}")
    try:
        with transaction.atomic():
            holding.save()
    except IntegrityError as exc:
        raise Conflict(
            _("security: the investor is already recorded as %(role)s of %(security)s")
            % {"role": dict(RestrictedRole.choices).get(role, role), "security": security},
            extra={"field": "security"},
        ) from exc
    return holding


def restricted_holding_end(
    *, holding: RestrictedHolding, ended_on: date, actor: User | None, reason: str = ""
) -> RestrictedHolding:
    """The role ended on `ended_on` (no longer in force from that day). The investor may end
    a role they declared; a role compliance recorded is ended by compliance (a reason)."""
    investor = holding.investor
    with transaction.atomic():
        locked = RestrictedHolding.objects.select_for_update().get(pk=holding.pk)
        source = _restricted_source(
            investor, actor, "compliance.change_restrictedholding", "end a restricted holding"
        )
        if source == RestrictedSource.INVESTOR and locked.source != RestrictedSource.INVESTOR:
            raise RuleViolation(
                _("holding: compliance recorded this role; ask compliance to end it"),
                code="recorded_by_staff",
                extra={"field": "holding"},
            )
        if locked.ended_on is not None:
            raise Conflict(
                _("holding: already ended on %(day)s") % {"day": locked.ended_on.isoformat()},
                extra={"field": "holding"},
            )
        if not isinstance(ended_on, date) or ended_on <= locked.since:
            raise ValidationFailed(
                _("ended_on: must be after %(day)s") % {"day": locked.since.isoformat()},
                extra={"field": "ended_on"},
            )
        if source == RestrictedSource.STAFF:
            reason = _require_reason(reason)
        else:
            reason = (reason or "").strip() or "ended by the investor"
        locked.ended_on, locked.ended_by = ended_on, actor
        stamp(locked, actor=actor, reason=f"ended {ended_on.isoformat()}: {reason}")
        locked.save()
    return locked


def restricted_declaration_record(
    *,
    investor: InvestorProfile,
    holds_none: bool,
    actor: User | None,
    ip_address: str | None = None,
    user_agent: str = "",
) -> RestrictedDeclaration:
    """The investor states that the positions on file are complete, or that they hold none
    (at onboarding and whenever they confirm it): kept with the list, time, IP and user agent.
    Staff may record a signed paper declaration (compliance.add_restricteddeclaration)."""
    _restricted_source(
        investor, actor, "compliance.add_restricteddeclaration", "record a declaration"
    )
    now = timezone.now()
    open_rows = list(
        RestrictedHolding.objects.filter(investor=investor, ended_on__isnull=True).order_by(
            "security", "role"
        )
    )
    if holds_none and open_rows:
        raise RuleViolation(
            _("holds_none: %(count)s position(s) are on file; end them first or confirm the list")
            % {"count": len(open_rows)},
            code="positions_on_file",
            extra={"field": "holds_none"},
        )
    if not holds_none and not open_rows:
        raise ValidationFailed(
            _("holds_none: no position is on file; add yours or declare that you hold none"),
            extra={"field": "holds_none"},
        )
    declaration = RestrictedDeclaration(
        investor=investor,
        holds_none=holds_none,
        holdings=[
            {
                "security": row.security,
                "company_name": row.company_name,
                "role": row.role,
                "since": row.since.isoformat(),
            }
            for row in open_rows
        ],
        # the statement as the investor read it (their language), kept as evidence
        statement=gettext(RESTRICTED_NONE_STATEMENT if holds_none else RESTRICTED_STATEMENT),
        declared_at=now,
        declared_by=actor,
        ip_address=ip_address,
        user_agent=(user_agent or "")[:400],
    )
    stamp(declaration, actor=actor, reason="restricted-holder declaration")
    declaration.save()
    return declaration
