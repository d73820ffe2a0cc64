"""Credit applications (four eyes), contracts, credit accounts, deposit screening.

Locks: lending.credit.locks (`lock_in_order`), where the desk's lock order is written down.
Refusals that must be remembered (second credit account, wrong account name, sub-accounts)
are recorded as compliance red flags in their own transaction before the error is raised.

Permissions: each service checks the actor's (accounts.permissions; actor None is the system);
an investor applies, renews and withdraws for themselves, or operations for them.
`client_deposit_receive_in_transaction` trusts its caller (the bank-credit service, which
checks lending.add_bankcredit).
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from django.db import IntegrityError, connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from accounts.audit import stamp
from accounts.errors import (
    Conflict,
    NotFound,
    PermissionDenied,
    RuleViolation,
    ValidationFailed,
)
from accounts.models import InvestorProfile, User
from accounts.permissions import require_investor_or_permission, require_permission
from accounts.precision import MONEY
from accounts.second_factor import require_second_factor
from compliance import calendar
from compliance import parameters as P
from compliance import selectors as compliance_selectors
from compliance import services as compliance_services
from compliance.models import HeldDeposit, RedFlagKind
from custody import services as custody_services
from lending.credit import selectors as credit_selectors
from lending.credit.locks import lock_in_order
from lending.credit.models import (
    ACCOUNT_NUMBER_SEQUENCE,
    CONTRACT_NUMBER_SEQUENCE,
    OPEN_APPLICATION_STATUSES,
    CollateralLiquidity,
    ContractStatus,
    CreditAccount,
    CreditAccountStatus,
    CreditApplication,
    CreditApplicationKind,
    CreditApplicationStatus,
    CreditContract,
    CreditGrade,
    PricingGridEntry,
)

PREPARE_PERM = "lending.prepare_creditapplication"


APPROVE_PERM = "lending.approve_creditapplication"


# Initial desk pricing (annual rates by grade x liquidity), 6-9% a year; loaded by the
# migration and the demo into PricingGridEntry, where staff add dated rows.
PRICING_SEED = {
    ("A", "high"): "0.0600",
    ("A", "medium"): "0.0650",
    ("A", "low"): "0.0700",
    ("B", "high"): "0.0650",
    ("B", "medium"): "0.0700",
    ("B", "low"): "0.0750",
    ("C", "high"): "0.0700",
    ("C", "medium"): "0.0750",
    ("C", "low"): "0.0800",
    ("D", "high"): "0.0750",
    ("D", "medium"): "0.0825",
    ("D", "low"): "0.0900",
}


PRICING_SEED_FROM = date(2010, 3, 31)


def _require_reason(reason: str) -> str:
    if not reason or not reason.strip():
        raise ValidationFailed(
            _("reason: a reason is required for every decision"), extra={"field": "reason"}
        )
    return reason.strip()


def _money(value, field: str) -> Decimal:
    try:
        amount = Decimal(str(value))
    except ArithmeticError as exc:
        raise ValidationFailed(
            _("%(field)s: not a decimal amount") % {"field": field}, extra={"field": field}
        ) from exc
    if not amount.is_finite() or amount <= 0:
        raise ValidationFailed(
            _("%(field)s: must be a positive amount") % {"field": field}, extra={"field": field}
        )
    if amount != amount.quantize(MONEY.quantum):
        raise ValidationFailed(
            _("%(field)s: at most 2 decimal places") % {"field": field}, extra={"field": field}
        )
    return amount


def _term(months, field: str, *, on: date) -> int:
    maximum = int(compliance_selectors.parameter(P.MAX_TERM_MONTHS, on=on))
    try:
        months = int(months)
    except (TypeError, ValueError) as exc:
        raise ValidationFailed(
            _("%(field)s: whole months") % {"field": field}, extra={"field": field}
        ) from exc
    if not 1 <= months <= maximum:
        raise ValidationFailed(
            _("%(field)s: the term is 1 to %(maximum)s months")
            % {"field": field, "maximum": maximum},
            extra={"field": field},
        )
    return months


def _next_number(sequence: str) -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT nextval(%s)", [sequence])
        return cursor.fetchone()[0]


def _blockers_error(reasons) -> RuleViolation:
    return RuleViolation(
        "investor: " + "; ".join(str(r) for r in reasons),
        code="credit_blocked",
        extra={
            "field": "investor",
            "reasons": [{"code": r.code, "message": r.message} for r in reasons],
        },
    )


# --- pricing --------------------------------------------------------------------------------


PRICING_PERM = "lending.add_pricinggridentry"


def pricing_grid_seed(*, actor: User | None = None) -> int:
    require_permission(actor, PRICING_PERM, action="seed the pricing grid")
    added = 0
    for (grade, liquidity), rate in PRICING_SEED.items():
        cell = {"credit_grade": grade, "collateral_liquidity": liquidity}
        if PricingGridEntry.objects.filter(**cell, effective_from=PRICING_SEED_FROM).exists():
            continue
        entry = PricingGridEntry(
            **cell, effective_from=PRICING_SEED_FROM, annual_rate=Decimal(rate)
        )
        stamp(entry, actor=actor, reason="pricing grid seeded")
        entry.save()
        added += 1
    return added


def pricing_entry_add(
    *, credit_grade: str, collateral_liquidity: str, annual_rate, effective_from: date, actor
) -> PricingGridEntry:
    """A new dated rate for one cell of the grid; contracts keep the rate they were signed at."""
    require_permission(actor, PRICING_PERM, action="add a pricing grid rate")
    if credit_grade not in CreditGrade.values:
        raise ValidationFailed(_("credit_grade: unknown grade"), extra={"field": "credit_grade"})
    if collateral_liquidity not in CollateralLiquidity.values:
        raise ValidationFailed(
            _("collateral_liquidity: unknown liquidity"), extra={"field": "collateral_liquidity"}
        )
    rate = Decimal(str(annual_rate))
    if not Decimal(0) < rate < Decimal("0.24"):
        raise ValidationFailed(
            _(
                "annual_rate: a yearly fraction above 0 and below 0.24 "
                "(e.g. 0.0650 for 6.5 per cent)"
            ),
            extra={"field": "annual_rate"},
        )
    entry = PricingGridEntry(
        credit_grade=credit_grade,
        collateral_liquidity=collateral_liquidity,
        annual_rate=rate,
        effective_from=effective_from,
    )
    stamp(entry, actor=actor, reason="pricing grid rate added")
    try:
        with transaction.atomic():
            entry.save()
    except IntegrityError as exc:
        raise Conflict(
            _("effective_from: this cell already has a rate from that date"),
            extra={"field": "effective_from"},
        ) from exc
    return entry


def pricing_rate(*, credit_grade: str, collateral_liquidity: str, on: date) -> Decimal:
    entry = (
        PricingGridEntry.objects.filter(
            credit_grade=credit_grade,
            collateral_liquidity=collateral_liquidity,
            effective_from__lte=on,
        )
        .order_by("-effective_from")
        .first()
    )
    if entry is None:
        raise RuleViolation(
            _(
                "credit_grade: no price for grade %(grade)s and %(liquidity)s liquidity on "
                "%(on)s in the pricing grid"
            )
            % {"grade": credit_grade, "liquidity": collateral_liquidity, "on": on.isoformat()},
            code="pricing_missing",
            extra={"field": "credit_grade"},
        )
    return entry.annual_rate


# --- applications ---------------------------------------------------------------------------


def active_contract(investor: InvestorProfile) -> CreditContract | None:
    return investor.credit_contracts.filter(status=ContractStatus.ACTIVE).first()


def credit_application_submit(
    *,
    investor: InvestorProfile,
    requested_limit,
    requested_term_months,
    actor: User | None,
    purpose: str = "",
) -> CreditApplication:
    """The investor applies for a new credit line (or operations for them)."""
    require_investor_or_permission(
        actor, investor, "lending.add_creditapplication", action="apply for credit"
    )
    today = compliance_selectors.today()
    limit = _money(requested_limit, "requested_limit")
    months = _term(requested_term_months, "requested_term_months", on=today)
    if active_contract(investor) is not None:
        compliance_services.refuse_and_record(
            investor=investor,
            kind=RedFlagKind.SECOND_CREDIT_ACCOUNT,
            message=gettext_noop(
                "the investor already has an active credit contract and account "
                "(one per investor); apply for a renewal instead"
            ),
            details={"attempt": "credit application"},
            actor=actor,
            error=Conflict,
            code="second_credit_account",
        )
    return _application_create(
        investor=investor,
        kind=CreditApplicationKind.NEW,
        contract=None,
        limit=limit,
        months=months,
        purpose=purpose,
        actor=actor,
    )


def credit_renewal_apply(
    *, contract: CreditContract, requested_term_months, actor: User | None, purpose: str = ""
) -> CreditApplication:
    """Renewal of an active contract, through the same four-eyes path."""
    require_investor_or_permission(
        actor, contract.investor, "lending.add_creditapplication", action="apply for a renewal"
    )
    if contract.status != ContractStatus.ACTIVE:
        raise RuleViolation(
            _("contract: %(contract)s is %(status)s; only an active contract is renewed")
            % {"contract": contract.contract_number, "status": contract.get_status_display()},
            extra={"field": "contract"},
        )
    months = _term(requested_term_months, "requested_term_months", on=compliance_selectors.today())
    return _application_create(
        investor=contract.investor,
        kind=CreditApplicationKind.RENEWAL,
        contract=contract,
        limit=contract.credit_limit,
        months=months,
        purpose=purpose,
        actor=actor,
    )


def _application_create(*, investor, kind, contract, limit, months, purpose, actor):
    application = CreditApplication(
        investor=investor,
        kind=kind,
        contract=contract,
        requested_limit=limit,
        requested_term_months=months,
        purpose=purpose[:300],
        submitted_by=actor,
    )
    stamp(application, actor=actor, reason=f"{kind} credit application submitted")
    try:
        with transaction.atomic():
            application.save()
    except IntegrityError as exc:
        raise Conflict(
            _("investor: an application is already under review"), extra={"field": "investor"}
        ) from exc
    return application


def credit_application_withdraw(
    *, application: CreditApplication, investor: InvestorProfile, actor: User | None
) -> CreditApplication:
    require_investor_or_permission(
        actor, investor, "lending.change_creditapplication", action="withdraw an application"
    )
    if application.investor_id != investor.pk:
        raise NotFound(_("application: not found"))
    if application.status not in OPEN_APPLICATION_STATUSES:
        raise Conflict(
            _("application: already %(status)s") % {"status": application.get_status_display()},
            extra={"field": "application"},
        )
    application.status = CreditApplicationStatus.WITHDRAWN
    stamp(application, actor=actor, reason="withdrawn by the investor")
    application.save()
    return application


def _locked_application(application: CreditApplication) -> CreditApplication:
    return (
        CreditApplication.objects.select_for_update(of=("self",))
        .select_related("investor", "contract")
        .get(pk=application.pk)
    )


def credit_application_prepare(
    *,
    application: CreditApplication,
    actor: User,
    credit_grade: str,
    collateral_liquidity: str,
    proposed_limit,
    proposed_term_months,
    note: str,
) -> CreditApplication:
    """Operations (the maker) grades the case, proposes terms and runs the eligibility check."""
    require_permission(actor, PREPARE_PERM, action="prepare a credit application")
    if credit_grade not in CreditGrade.values:
        raise ValidationFailed(
            _("credit_grade: one of %(values)s") % {"values": ", ".join(CreditGrade.values)},
            extra={"field": "credit_grade"},
        )
    if collateral_liquidity not in CollateralLiquidity.values:
        raise ValidationFailed(
            _("collateral_liquidity: one of %(values)s")
            % {"values": ", ".join(CollateralLiquidity.values)},
            extra={"field": "collateral_liquidity"},
        )
    note = note.strip()
    if not note:
        raise ValidationFailed(
            _("note: the maker records why the terms are proposed"), extra={"field": "note"}
        )
    today = compliance_selectors.today()
    limit = _money(proposed_limit, "proposed_limit")
    months = _term(proposed_term_months, "proposed_term_months", on=today)
    # The check is evidence kept even if the preparation below is refused.
    check = compliance_services.eligibility_check_run(
        investor=application.investor, actor=actor, as_of=today
    )
    with transaction.atomic():
        application = _locked_application(application)
        if application.status not in OPEN_APPLICATION_STATUSES:
            raise Conflict(
                _("application: already %(status)s") % {"status": application.get_status_display()},
                extra={"field": "application"},
            )
        application.status = CreditApplicationStatus.PREPARED
        application.prepared_by, application.prepared_at = actor, timezone.now()
        application.preparation_note = note
        application.credit_grade, application.collateral_liquidity = (
            credit_grade,
            collateral_liquidity,
        )
        application.proposed_limit, application.proposed_term_months = limit, months
        application.eligibility_check = check
        stamp(application, actor=actor, reason=f"prepared: {note}")
        application.save()
    return application


def _check_checker(application: CreditApplication, actor: User) -> None:
    require_permission(actor, APPROVE_PERM, action="decide a credit application")
    require_second_factor(actor, action="deciding a credit application")
    if application.status != CreditApplicationStatus.PREPARED:
        raise Conflict(
            _("application: is %(status)s; only a prepared application is decided")
            % {"status": application.get_status_display()},
            extra={"field": "application"},
        )
    if application.prepared_by_id == actor.pk:
        raise PermissionDenied(
            _("actor: four eyes: the officer who prepared an application cannot decide it"),
            code="four_eyes",
            extra={"field": "actor"},
        )


def credit_application_reject(
    *, application: CreditApplication, actor: User, reason: str
) -> CreditApplication:
    reason = _require_reason(reason)
    with transaction.atomic():
        application = _locked_application(application)
        _check_checker(application, actor)
        application.status = CreditApplicationStatus.REJECTED
        application.decided_by, application.decided_at = actor, timezone.now()
        application.decision_reason = reason
        stamp(application, actor=actor, reason=f"rejected: {reason}")
        application.save()
    return application


def credit_application_approve(
    *, application: CreditApplication, actor: User, reason: str, signed_on: date | None = None
) -> CreditContract:
    """The checker approves: a new application opens the credit account and signs the
    contract; a renewal extends the active contract."""
    reason = _require_reason(reason)
    signed_on = signed_on or compliance_selectors.today()
    application.refresh_from_db()
    _check_checker(application, actor)
    investor = application.investor
    reasons = compliance_selectors.credit_blockers(investor, on=signed_on)
    if reasons:
        raise _blockers_error(reasons)
    if application.kind == CreditApplicationKind.RENEWAL:
        return _approve_renewal(application, actor=actor, reason=reason, signed_on=signed_on)
    if investor.credit_accounts.filter(status=CreditAccountStatus.OPEN).exists():
        _refuse_second_account(investor, actor, attempt=f"approval of application {application.pk}")
    try:
        with transaction.atomic():
            lock_in_order(investor_ids=[investor.pk])
            application = _locked_application(application)
            _check_checker(application, actor)
            account = _credit_account_create(
                investor=investor, account_name=investor.real_name, actor=actor
            )
            contract = _contract_sign(
                application=application, account=account, actor=actor, signed_on=signed_on
            )
            application.status = CreditApplicationStatus.APPROVED
            application.decided_by, application.decided_at = actor, timezone.now()
            application.decision_reason = reason
            stamp(application, actor=actor, reason=f"approved: {reason}")
            application.save()
    except IntegrityError as exc:
        if "lending_one_" in str(exc):
            _refuse_second_account(investor, actor, attempt="concurrent approval")
        raise
    return contract


def _refuse_second_account(investor: InvestorProfile, actor, *, attempt: str):
    compliance_services.refuse_and_record(
        investor=investor,
        kind=RedFlagKind.SECOND_CREDIT_ACCOUNT,
        message=gettext_noop(
            "a second credit account for the same investor is refused (one per investor)"
        ),
        details={"attempt": attempt},
        actor=actor,
        error=Conflict,
        code="second_credit_account",
    )


def _credit_account_create(*, investor, account_name, actor) -> CreditAccount:
    account = CreditAccount(
        investor=investor,
        account_number=f"CA{_next_number(ACCOUNT_NUMBER_SEQUENCE):010d}",
        account_name=account_name,
        opened_by=actor,
    )
    stamp(account, actor=actor, reason="credit account opened")
    account.save()
    return account


def credit_account_open(
    *, investor: InvestorProfile, account_name: str, actor: User | None
) -> CreditAccount:
    """Open the investor's credit account. Refused, and recorded as a red flag, when the
    investor already has one or the name differs from the investor's real name. Operations'
    onboarding (the maker of the credit file, lending.prepare_creditapplication)."""
    require_permission(actor, "lending.prepare_creditapplication", action="open a credit account")
    if account_name.strip() != investor.real_name.strip():
        compliance_services.refuse_and_record(
            investor=investor,
            kind=RedFlagKind.ACCOUNT_NAME_MISMATCH,
            message=f"account name {account_name!r} differs from the real name on record",
            details={"account_name": account_name},
            actor=actor,
            code="account_name_mismatch",
            field="account_name",
        )
    if investor.credit_accounts.filter(status=CreditAccountStatus.OPEN).exists():
        _refuse_second_account(investor, actor, attempt="open credit account")
    try:
        with transaction.atomic():
            lock_in_order(investor_ids=[investor.pk])
            return _credit_account_create(
                investor=investor, account_name=investor.real_name, actor=actor
            )
    except IntegrityError:
        _refuse_second_account(investor, actor, attempt="concurrent open")
        raise  # unreachable: _refuse_second_account raises


def _contract_sign(*, application, account, actor, signed_on: date) -> CreditContract:
    # the contract keeps the lines and financing margin ratio in force on the day it is signed
    lines = credit_selectors.lines_in_force(signed_on)
    investor = application.investor
    document = compliance_selectors.current_disclosure()
    assessment = compliance_selectors.valid_assessment(investor, on=signed_on)
    match = (
        compliance_selectors.current_match(
            investor, compliance_selectors.margin_product(), on=signed_on
        )
        if assessment
        else None
    )
    months = application.proposed_term_months
    contract = CreditContract(
        contract_number=f"MC{signed_on:%Y}{_next_number(CONTRACT_NUMBER_SEQUENCE):08d}",
        investor=investor,
        credit_account=account,
        application=application,
        credit_limit=application.proposed_limit,
        signed_on=signed_on,
        starts_on=signed_on,
        ends_on=calendar.add_months(signed_on, months),
        term_months=months,
        annual_interest_rate=pricing_rate(
            credit_grade=application.credit_grade,
            collateral_liquidity=application.collateral_liquidity,
            on=signed_on,
        ),
        credit_grade=application.credit_grade,
        collateral_liquidity=application.collateral_liquidity,
        warning_line=lines.warning,
        call_line=lines.call,
        target_line=lines.target,
        withdrawal_line=lines.withdrawal,
        financing_margin_ratio=credit_selectors.financing_margin_ratio_in_force(signed_on),
        commission_rate=compliance_selectors.parameter(P.COMMISSION_STANDARD_RATE, on=signed_on),
        penalty_rate=compliance_selectors.parameter(P.PENALTY_RATE_STANDARD, on=signed_on),
        disclosure=document,
        disclosure_sha256=document.sha256,
        suitability_assessment=assessment,
        suitability_match=match,
        eligibility_check=application.eligibility_check,
        approved_by=actor,
    )
    stamp(contract, actor=actor, reason=f"signed on approval of application {application.pk}")
    contract.save()
    return contract


def _approve_renewal(application, *, actor, reason, signed_on) -> CreditContract:
    with transaction.atomic():
        lock_in_order(investor_ids=[application.investor_id])
        application = _locked_application(application)
        _check_checker(application, actor)
        contract = CreditContract.objects.select_for_update(of=("self",)).get(
            pk=application.contract_id
        )
        if contract.status != ContractStatus.ACTIVE:
            raise RuleViolation(
                _("contract: %(contract)s is no longer active")
                % {"contract": contract.contract_number},
                extra={"field": "contract"},
            )
        # DOMAIN.md "Credit contracts": each renewal <= 6 months (credit.max_term_months on the
        # day of approval), counted from the contract's end date, never from the approval day:
        # an early approval does not stretch the contract, a late one does not either
        months = application.proposed_term_months
        maximum = int(compliance_selectors.parameter(P.MAX_TERM_MONTHS, on=signed_on))
        if months > maximum:
            raise RuleViolation(
                _("proposed_term_months: a renewal runs at most %(maximum)s months")
                % {"maximum": maximum},
                code="renewal_too_long",
                extra={"field": "proposed_term_months", "maximum": maximum},
            )
        new_end = calendar.add_months(contract.ends_on, months)
        if new_end < signed_on:
            raise RuleViolation(
                _(
                    "contract: %(contract)s ended on %(ended)s; renewed from its end date it "
                    "would end on %(new_end)s, before %(signed)s: a new credit application is "
                    "needed"
                )
                % {
                    "contract": contract.contract_number,
                    "ended": contract.ends_on.isoformat(),
                    "new_end": new_end.isoformat(),
                    "signed": signed_on.isoformat(),
                },
                code="renewal_too_late",
                extra={"field": "contract", "ends_on": contract.ends_on.isoformat()},
            )
        contract.ends_on = new_end
        contract.renewal_count += 1
        if application.proposed_limit:
            contract.credit_limit = application.proposed_limit
        stamp(contract, actor=actor, reason=f"renewed {months} months: {reason}")
        contract.save()
        application.status = CreditApplicationStatus.APPROVED
        application.decided_by, application.decided_at = actor, timezone.now()
        application.decision_reason = reason
        stamp(application, actor=actor, reason=f"approved renewal: {reason}")
        application.save()
    return contract


# --- deposits: screening against the bank account of record ----------------------------------


def client_deposit_receive_in_transaction(
    *,
    investor: InvestorProfile,
    amount,
    currency: str,
    bank_account: str,
    reference: str,
    idempotency_key: str,
    actor: User | None,
):
    """Money arriving for an investor, inside the caller's transaction (the bank statement's
    credit lines, lending.financing.bank_credits). From the bank account of record it is
    credited through custody (the JournalEntry is returned); from any other account it is held
    and flagged (the HeldDeposit is returned), never credited."""
    amount = _money(amount, "amount")
    if not investor.is_bank_account_of_record(bank_account):
        return compliance_services.deposit_hold(
            investor=investor,
            amount=amount,
            currency=currency,
            bank_account=bank_account,
            reference=reference,
            idempotency_key=idempotency_key,
            actor=actor,
        )
    return custody_services.client_deposit_post_in_transaction(
        investor=investor,
        amount=amount,
        currency=currency,
        bank_account=bank_account,
        reference=reference,
        actor=actor,
        idempotency_key=idempotency_key,
    )


def client_deposit_receive(**kwargs):
    """`client_deposit_receive_in_transaction` in its own transaction (tests and the demo
    seed; the desk receives money through the bank statement's credit lines)."""
    with transaction.atomic(durable=True):
        return client_deposit_receive_in_transaction(**kwargs)


def held_deposit_release(*, deposit: HeldDeposit, reason: str, actor: User):
    """Staff release a held deposit after review: marked released and credited through
    custody in one transaction, or neither."""
    with transaction.atomic(durable=True):
        deposit = compliance_services.held_deposit_resolve(
            deposit=deposit, release=True, reason=reason, actor=actor
        )
        return custody_services.held_deposit_credit_in_transaction(
            investor=deposit.investor,
            amount=deposit.amount,
            currency=deposit.currency,
            reference=f"released held deposit {deposit.pk}: {deposit.reference}",
            actor=actor,
            idempotency_key=f"held-deposit-{deposit.pk}",
        )


def held_deposit_return(*, deposit: HeldDeposit, reason: str, actor: User) -> HeldDeposit:
    """Staff send a held deposit back to its sender; the red flag is confirmed."""
    with transaction.atomic():
        return compliance_services.held_deposit_resolve(
            deposit=deposit, release=False, reason=reason, actor=actor
        )
