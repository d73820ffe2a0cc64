"""Maturity of financings and their extension (展期): DOMAIN.md "Maturity and extension".

* Due date. A financing is due at most `financing.max_term_months` (dated; 6) after the day it
  opens, and never after its contract's end: due_on = min(opened_on + max term, contract end)
  (`due_on_for`, used when a financed buy is booked).
* Extension. Before the due date the investor asks for an extension of at most
  `financing.extension_max_months` (dated; 6) from the due date (`financing_extension_request`,
  investor on their own account, or staff on their written instruction); operations check it
  (`financing_extension_prepare`, lending.prepare_financingextension); a different person
  approves or rejects it (`financing_extension_approve` / `_reject`,
  lending.approve_financingextension, a second factor; a CHECK constraint keeps the two
  apart). At approval, on or before the due date, the investor must still qualify
  (`extension_blockers`): the suitability match for margin financing (C4+ or professional,
  assessment valid), no unfinished margin call, the maintenance ratio above the contract's
  warning line, and an active contract that runs at least to the new due date (else the
  contract is renewed first: a renewal runs from the contract's end date). What was checked is
  kept on the extension. No cap on the number of extensions (2019 rule revision).
* Overdue. A financing still owed after its due date is overdue from the next day
  (`financings_mark_overdue`, run daily by lending.margin_calls.maturity): `overdue_since` is
  set, it stays "open" (still owed: every reader of open financings keeps counting it), and a
  request not yet approved lapses (rejected by the system).
* Penalty interest (罚息). Every calendar day an overdue financing accrues penalty interest on
  its outstanding principal at its contract's `penalty_rate` (copied from the dated
  `financing.penalty_rate_standard` when the contract is signed), ACT/360 like interest,
  rounded to the cent per financing and day (`penalty_accrue`, beside the daily interest
  accrual): Dr client interest_receivable / Cr house interest_income "penalty" (a distinct
  income account), one entry and one PenaltyAccrual row per financing and day (unique: a
  second run posts nothing). It is added to the financing's unpaid interest (repaid first, as
  interest is) and kept apart in `penalty_charged`.
* Repayment. Repayments (cash, sale to repay, liquidation) pay interest first, then principal,
  overdue financings first (lending.financing.services._open_financings), so the overdue debt
  (`overdue_debt`: the account's interest receivable + the overdue principal) is what a sale
  must raise to clear it.
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

from django.db import IntegrityError, connection, transaction
from django.db.models import Sum
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.audit import stamp
from accounts.errors import Conflict, RuleViolation, ValidationFailed
from accounts.permissions import require_permission
from accounts.precision import RATIO
from compliance import calendar
from compliance import parameters as P
from compliance import selectors as compliance_selectors
from custody import services as custody
from custody.models import EntryKind
from custody.services.ledger import (
    ENTRY_ID_NEXTVAL,
    client_accounts_ensure_in_transaction,
    entries_post_two_leg_set_in_transaction,
)
from lending.common.inputs import reason_required
from lending.common.transactions import durable
from lending.credit import extensions
from lending.credit.locks import credit_account_lock
from lending.credit.models import ContractStatus, CreditContract
from lending.credit.permissions import require_owner_or_perm
from lending.domain.formats import fmt_ratio
from lending.financing.accrual import FMT_MONEY, history_insert_select
from lending.financing.models import (
    PENDING_EXTENSION_STATUSES,
    ExtensionStatus,
    Financing,
    FinancingExtension,
    FinancingStatus,
)
from lending.financing.services import CURRENCY, ZERO
from lending.financing.valuation import account_view

REQUEST_PERM = "lending.add_financingextension"
PREPARE_PERM = "lending.prepare_financingextension"
APPROVE_PERM = "lending.approve_financingextension"

#: the house income account (suffix of interest_income) penalty interest is credited to
PENALTY_INCOME_SUFFIX = "penalty"

#: MarginCall statuses that block an extension (lending.margin_calls.models, read through the
#: account's reverse relation: financing does not import margin_calls)
UNFINISHED_CALL_STATUSES = extensions.UNFINISHED_CALL_STATUSES


def today() -> date:
    return timezone.localdate()


# --- due date ----------------------------------------------------------------------------------


def due_on_for(*, opened_on: date, contract: CreditContract) -> date:
    """The due date of a financing opened on `opened_on` under `contract`: at most the dated
    maximum term after it opens, never after the contract's end."""
    months = int(compliance_selectors.parameter(P.FINANCING_MAX_TERM_MONTHS, on=opened_on))
    return min(calendar.add_months(opened_on, months), contract.ends_on)


def is_overdue(financing: Financing) -> bool:
    return financing.status == FinancingStatus.OPEN and financing.overdue_since is not None


def overdue_debt(credit_account) -> Decimal:
    """What a sale must repay to clear the account's overdue financings: the account's unpaid
    interest and penalty (repayments pay interest first, whichever lot it accrued on) plus the
    overdue financings' outstanding principal (paid before the other lots' principal). 0 when
    nothing is overdue."""
    principal = Financing.objects.filter(
        credit_account=credit_account, status=FinancingStatus.OPEN, overdue_since__isnull=False
    ).aggregate(total=Sum("principal_outstanding"))["total"]
    if principal is None:
        return ZERO
    return principal + account_view(credit_account).accrued_interest


# --- extensions --------------------------------------------------------------------------------


def _before_due(financing: Financing, on: date, doing: str) -> None:
    if financing.status != FinancingStatus.OPEN:
        raise RuleViolation(
            _("financing: #%(pk)s is %(status)s; only an open financing is extended")
            % {"pk": financing.pk, "status": financing.get_status_display()},
            code="financing_not_open",
            extra={"field": "financing"},
        )
    if financing.overdue_since is not None or on > financing.due_on:
        message = (
            _(
                "financing: #%(pk)s was due on %(due)s; an extension is requested only on or "
                "before the due date"
            )
            if doing == "requested"
            else _(
                "financing: #%(pk)s was due on %(due)s; an extension is approved only on or "
                "before the due date"
            )
        )
        raise RuleViolation(
            message % {"pk": financing.pk, "due": financing.due_on.isoformat()},
            code="past_due_date",
            extra={"field": "financing", "due_on": financing.due_on.isoformat()},
        )


def extension_blockers(
    financing: Financing, *, on: date, new_due_on: date, contract_end: bool = True
) -> list[extensions.Blocker]:
    """Why the investor does not qualify for an extension to `new_due_on` today (empty: they
    do). DOMAIN.md: C4+ (the suitability match for margin financing, assessment valid), no
    open call, the ratio above the warning line, the contract valid (active and, unless
    `contract_end` is False, running to the new due date: a request may come before the
    contract's renewal, the approval may not)."""
    account = financing.credit_account
    contract = financing.contract
    reasons = extensions.account_blockers(account, contract, on=on)
    if contract.status == ContractStatus.ACTIVE and contract_end and contract.ends_on < new_due_on:
        reasons.append(
            extensions.Blocker(
                "contract_ends_first",
                _(
                    "contract %(contract)s ends on %(ends)s, before the new due date %(due)s: "
                    "renew the contract first (a renewal runs from its end date)"
                )
                % {
                    "contract": contract.contract_number,
                    "ends": contract.ends_on.isoformat(),
                    "due": new_due_on.isoformat(),
                },
            )
        )
    view = account_view(account)
    ratio = view.maintenance_ratio
    if ratio is not None and ratio <= view.lines.warning:
        reasons.append(
            extensions.Blocker(
                "ratio_at_or_below_warning",
                _("maintenance ratio %(ratio)s is not above the warning line %(warning)s")
                % {"ratio": fmt_ratio(ratio), "warning": fmt_ratio(view.lines.warning)},
            )
        )
    return reasons


def financing_extension_request(
    *, financing: Financing, months, actor, reason: str = "", on: date | None = None
) -> FinancingExtension:
    """The investor asks to extend one financing by `months` from its due date (before it).
    Staff may record it on the investor's written instruction, whose reference `reason` gives.
    Refused when one is already pending for the financing, or the investor does not qualify
    now (the checks run again at approval, with the contract's end: the contract may be
    renewed in between)."""
    require_owner_or_perm(actor, financing.credit_account, REQUEST_PERM, action="extension")
    if actor is not None and getattr(actor, "investor_profile", None) is None:
        reason = reason_required(reason)
    on = on or today()
    months = extensions.extension_months(months, on=on)
    with transaction.atomic():
        credit_account_lock(financing.credit_account)
        financing = (
            Financing.objects.select_for_update(of=("self",))
            .select_related("contract", "credit_account__investor")
            .get(pk=financing.pk)
        )
        _before_due(financing, on, "requested")
        new_due = calendar.add_months(financing.due_on, months)
        # the contract's end is checked at approval: it may be renewed in the meantime
        reasons = extension_blockers(financing, on=on, new_due_on=new_due, contract_end=False)
        if reasons:
            raise extensions.blocked(reasons)
        extension = FinancingExtension(
            financing=financing,
            credit_account=financing.credit_account,
            months=months,
            old_due_on=financing.due_on,
            new_due_on=new_due,
            requested_by=actor,
            requested_on=on,
            reason=(reason or "").strip()[:300],
        )
        stamp(extension, actor=actor, reason=f"extension of {months} months requested")
        try:
            with transaction.atomic():
                extension.save()
        except IntegrityError:
            raise Conflict(
                _("financing: #%(pk)s already has an extension request under review")
                % {"pk": financing.pk},
                code="extension_pending",
                extra={"field": "financing"},
            ) from None
    return extension


def _locked_extension(extension: FinancingExtension) -> FinancingExtension:
    return (
        FinancingExtension.objects.select_for_update(of=("self",))
        .select_related("financing__contract", "credit_account__investor")
        .get(pk=extension.pk)
    )


def financing_extension_prepare(
    *, extension: FinancingExtension, actor, note: str
) -> FinancingExtension:
    """Operations check a request (the maker's step) and send it for approval."""
    require_permission(actor, PREPARE_PERM, action="check a financing extension")
    note = reason_required(note)
    with transaction.atomic():
        credit_account_lock(extension.credit_account)
        extension = _locked_extension(extension)
        if extension.status != ExtensionStatus.REQUESTED:
            raise Conflict(
                _("extension: #%(pk)s is %(status)s, not requested")
                % {"pk": extension.pk, "status": extension.get_status_display()},
                code="extension_decided",
                extra={"field": "extension"},
            )
        extension.status = ExtensionStatus.PREPARED
        extension.prepared_by, extension.prepared_at = actor, timezone.now()
        extension.preparation_note = note[:300]
        stamp(extension, actor=actor, reason=f"checked: {note}")
        extension.save()
    return extension


def _check_checker(extension: FinancingExtension, actor, action: str) -> None:
    extensions.checker_check(extension, actor, permission=APPROVE_PERM, action=action)


def financing_extension_approve(
    *, extension: FinancingExtension, actor, reason: str, on: date | None = None
) -> FinancingExtension:
    """A second person approves a checked extension, on or before the due date, after the
    qualification is checked again; the financing's due date moves to the new one."""
    reason = reason_required(reason)
    _check_checker(extension, actor, "approve a financing extension")
    on = on or today()
    with transaction.atomic():
        credit_account_lock(extension.credit_account)
        extension = _locked_extension(extension)
        if extension.status != ExtensionStatus.PREPARED:
            raise Conflict(
                _("extension: #%(pk)s is %(status)s; only a checked request is approved")
                % {"pk": extension.pk, "status": extension.get_status_display()},
                code="extension_not_prepared",
                extra={"field": "extension"},
            )
        _check_checker(extension, actor, "approve a financing extension")
        financing = Financing.objects.select_for_update(of=("self",)).get(pk=extension.financing_id)
        _before_due(financing, on, "approved")
        if financing.due_on != extension.old_due_on:
            raise Conflict(
                _("financing: #%(pk)s is now due on %(due)s, not %(old)s: ask again")
                % {
                    "pk": financing.pk,
                    "due": financing.due_on.isoformat(),
                    "old": extension.old_due_on.isoformat(),
                },
                code="due_date_changed",
                extra={"field": "financing"},
            )
        reasons = extension_blockers(financing, on=on, new_due_on=extension.new_due_on)
        if reasons:
            raise extensions.blocked(reasons)
        view = account_view(financing.credit_account)
        extension.qualification = {
            "checked_on": on.isoformat(),
            "suitability": "matched",
            "unfinished_calls": 0,
            "ratio": None
            if view.maintenance_ratio is None
            else str(view.maintenance_ratio.quantize(RATIO.quantum)),
            "warning_line": str(view.lines.warning),
            "contract_ends_on": financing.contract.ends_on.isoformat(),
        }
        extension.status = ExtensionStatus.APPROVED
        extension.decided_by, extension.decided_at = actor, timezone.now()
        extension.decision_reason = reason[:300]
        stamp(extension, actor=actor, reason=f"approved: {reason}")
        extension.save()
        financing.due_on = extension.new_due_on
        stamp(
            financing,
            actor=actor,
            reason=f"extended {extension.months} months to {extension.new_due_on.isoformat()} "
            f"(extension #{extension.pk}): {reason}",
        )
        financing.save(update_fields=["due_on"])
    return extension


def financing_extension_reject(
    *, extension: FinancingExtension, actor, reason: str
) -> FinancingExtension:
    """A second person rejects a checked extension, with the reason the investor is told."""
    reason = reason_required(reason)
    _check_checker(extension, actor, "reject a financing extension")
    with transaction.atomic():
        credit_account_lock(extension.credit_account)
        extension = _locked_extension(extension)
        if extension.status not in PENDING_EXTENSION_STATUSES:
            raise Conflict(
                _("extension: #%(pk)s is already %(status)s")
                % {"pk": extension.pk, "status": extension.get_status_display()},
                code="extension_decided",
                extra={"field": "extension"},
            )
        if extension.status == ExtensionStatus.REQUESTED:
            # rejected unchecked: the rejecting officer is the only pair of eyes on record
            extension.prepared_by = None
        _check_checker(extension, actor, "reject a financing extension")
        extension.status = ExtensionStatus.REJECTED
        extension.decided_by, extension.decided_at = actor, timezone.now()
        extension.decision_reason = reason[:300]
        stamp(extension, actor=actor, reason=f"rejected: {reason}")
        extension.save()
    return extension


# --- overdue and penalty interest --------------------------------------------------------------


#: permission of the daily maturity steps run by the system (actor None)
OVERDUE_PERM = "lending.change_financing"

#: the reason a pending extension lapses with (its decision reason and its history row's)
LAPSED = "lapsed: not approved by the due date"

# an open financing still owed after its due date, not yet marked overdue
_OVERDUE = "f.status = 'open' AND f.overdue_since IS NULL AND f.due_on < %(on)s"


def financings_mark_overdue(*, on: date, actor=None) -> list[int]:
    """Every open financing whose due date is before `on` becomes overdue from the day after
    its due date (whenever this runs, the date is the same); a pending extension request
    lapses (rejected by the system). Idempotent: a financing already overdue is left alone.
    Returns the ids of those marked, ascending.

    Set-based, in one transaction: the investors locked (the desk's order, step 1), one
    UPDATE ... RETURNING for the financings and one for the extensions, their history rows by
    INSERT ... SELECT (one per changed row, the reason and the actor as before)."""
    require_permission(actor, OVERDUE_PERM, action="mark financings overdue")
    params = {"on": on}
    with transaction.atomic(), connection.cursor() as c:
        c.execute(
            "SELECT count(*) FROM (SELECT i.id FROM accounts_investorprofile i "  # noqa: S608
            "WHERE i.id IN (SELECT ca.investor_id FROM lending_financing f "
            "JOIN lending_creditaccount ca ON ca.id = f.credit_account_id "
            f"WHERE {_OVERDUE}) ORDER BY i.id FOR UPDATE OF i) locked",
            params,
        )
        if not c.fetchone()[0]:
            return []
        c.execute(
            "UPDATE lending_financing f SET overdue_since = f.due_on + 1 "  # noqa: S608
            f"WHERE f.id IN (SELECT f.id FROM lending_financing f WHERE {_OVERDUE} "
            f"ORDER BY f.id FOR UPDATE OF f) AND {_OVERDUE} RETURNING f.id",
            params,
        )
        ids = sorted(row[0] for row in c.fetchall())
        if not ids:
            return []
        history_insert_select(
            c,
            Financing,
            source=(
                "SELECT f.id, 'overdue: due on ' || to_char(f.due_on, 'YYYY-MM-DD') || ', ' || "  # noqa: S608
                f"to_char(f.principal_outstanding, '{FMT_MONEY}') || ' principal unpaid' "
                "AS reason FROM lending_financing f WHERE f.id = ANY(%(ids)s)"
            ),
            params={"ids": ids},
            actor=actor,
        )
        c.execute(
            "UPDATE lending_financingextension e SET status = %(rejected)s, "
            "decided_by_id = NULL, decided_at = %(now)s, decision_reason = %(lapsed)s "
            "WHERE e.financing_id = ANY(%(ids)s) AND e.status = ANY(%(pending)s) RETURNING e.id",
            {
                "rejected": ExtensionStatus.REJECTED,
                "now": timezone.now(),
                "lapsed": LAPSED,
                "ids": ids,
                "pending": list(PENDING_EXTENSION_STATUSES),
            },
        )
        lapsed = [row[0] for row in c.fetchall()]
        if lapsed:
            history_insert_select(
                c,
                FinancingExtension,
                source="SELECT unnest(%(ids)s::bigint[]) AS id",
                params={"ids": lapsed},
                actor=actor,
                reason=LAPSED,
            )
    return ids


_PENALTY = "eod_penalty_fin"

# an open financing overdue on %(day)s with principal outstanding, in the shard, not yet
# charged for the day
_PENALTY_CANDIDATES = """
    f.status = 'open' AND f.overdue_since IS NOT NULL AND f.overdue_since <= %(day)s
    AND f.principal_outstanding > 0 AND mod(f.contract_id, %(shards)s) = %(shard)s
    AND NOT EXISTS (SELECT 1 FROM lending_penaltyaccrual p
                     WHERE p.financing_id = f.id AND p.business_date = %(day)s)
"""


def penalty_accrue(*, business_date: date, actor=None, shard: int = 0, shards: int = 1) -> int:
    """One day of penalty interest on every financing overdue on `business_date` (of one shard
    of contracts: contract id mod `shards` == `shard`; the whole book by default): outstanding
    principal x contract penalty rate / 360, to the cent (accrual.daily_interest: PostgreSQL's
    round(numeric, 2), ties away from zero), one ledger entry (Dr client interest_receivable /
    Cr house interest_income "penalty", key `penalty:{financing_id}:{day}`) and one
    PenaltyAccrual per financing and day (a second run posts nothing). Returns the number of
    financings charged (PenaltyAccrual rows written, amount 0 included).

    Set-based, in one transaction (docs/eod.md, "Penalty interest"): the investors locked
    (the desk's order), the financings FOR UPDATE, the accrual rows and the financings'
    interest_accrued and penalty_charged by INSERT/UPDATE ... SELECT with one history row per
    changed financing (reason "penalty interest {day}: {amount}"), the entries through custody's
    set-based posting, last (they credit one house account)."""
    from lending.financing.accrual import PERM

    require_permission(actor, PERM, action="accrue penalty interest")
    day = date.fromisoformat(business_date) if isinstance(business_date, str) else business_date
    shard, shards = int(shard), int(shards)
    if shards < 1 or not 0 <= shard < shards:
        raise ValidationFailed(
            _("shard: %(shard)s is not one of 0..%(last)s") % {"shard": shard, "last": shards - 1},
            extra={"field": "shard"},
        )

    def run() -> int:
        return _penalty_accrue_in_transaction(day=day, shard=shard, shards=shards, actor=actor)

    try:
        return durable(run, "penalty_accrue")
    except IntegrityError:
        # a concurrent run charged some financings first: the second pass skips them
        return durable(run, "penalty_accrue")


def _penalty_accrue_in_transaction(*, day: date, shard: int, shards: int, actor) -> int:
    iso = day.isoformat()
    params = {"day": day, "iso": iso, "shard": shard, "shards": shards}
    with connection.cursor() as c:
        c.execute(
            "SELECT pg_advisory_xact_lock(hashtext('lending.penalty_accrue'), "
            "hashtext(%(iso)s || ':' || %(shards)s || ':' || %(shard)s))",
            params,
        )
        # 1. the investors (desk's lock order, step 1), in primary-key order
        c.execute(
            "SELECT count(*) FROM (SELECT i.id FROM accounts_investorprofile i "  # noqa: S608
            "WHERE i.id IN (SELECT ca.investor_id FROM lending_financing f "
            "JOIN lending_creditaccount ca ON ca.id = f.credit_account_id "
            f"WHERE {_PENALTY_CANDIDATES}) ORDER BY i.id FOR UPDATE OF i) locked",
            params,
        )
        if not c.fetchone()[0]:
            return 0
        # 2. the financings, locked, with their day's penalty and entry (ids reserved)
        c.execute(f"DROP TABLE IF EXISTS {_PENALTY}")
        c.execute(
            f"CREATE TEMP TABLE {_PENALTY} (id bigint PRIMARY KEY, investor_id bigint, "
            "principal numeric, rate numeric, amount numeric, due_on date, "
            "contract_number text, key text, receivable_id bigint, entry_id bigint) "
            "ON COMMIT DROP"
        )
        c.execute(
            f"INSERT INTO {_PENALTY} WITH locked AS (SELECT f.id, f.contract_id, "  # noqa: S608
            "f.credit_account_id, f.principal_outstanding, f.due_on FROM lending_financing f "
            f"WHERE {_PENALTY_CANDIDATES} ORDER BY f.id FOR UPDATE OF f), "
            "priced AS (SELECT l.*, k.penalty_rate, k.contract_number, "
            "round(l.principal_outstanding * k.penalty_rate / 360, 2) AS amount FROM locked l "
            "JOIN lending_creditcontract k ON k.id = l.contract_id) "
            "SELECT p.id, ca.investor_id, p.principal_outstanding, p.penalty_rate, p.amount, "
            "p.due_on, p.contract_number, 'penalty:' || p.id || ':' || %(iso)s, NULL, "
            f"CASE WHEN p.amount > 0 THEN {ENTRY_ID_NEXTVAL} END "
            "FROM priced p JOIN lending_creditaccount ca ON ca.id = p.credit_account_id "
            "ORDER BY p.id",
            params,
        )
        charged = c.rowcount
        if not charged:
            return 0
        # 3. each investor's interest receivable (opened on first use)
        client_accounts_ensure_in_transaction(
            investor_source=f"SELECT investor_id FROM {_PENALTY} WHERE amount > 0",  # noqa: S608
            params={},
            purpose="interest_receivable",
            unit=CURRENCY,
            actor=actor,
            reason=f"standard account created on first use (penalty interest {iso})",
        )
        c.execute(
            f"UPDATE {_PENALTY} t SET receivable_id = a.id FROM custody_ledgeraccount a "  # noqa: S608
            "WHERE t.amount > 0 AND a.purpose_key = "
            "'client:' || t.investor_id || ':interest_receivable:' || %(unit)s",
            {"unit": CURRENCY},
        )
        # 4. the accrual rows, linked to their entries (the foreign key is checked after the
        #    entries are posted)
        c.execute(
            "INSERT INTO lending_penaltyaccrual (financing_id, business_date, principal, "  # noqa: S608
            "annual_rate, amount, entry_id, created_at) SELECT t.id, %(day)s, t.principal, "
            f"t.rate, t.amount, t.entry_id, now() FROM {_PENALTY} t ORDER BY t.id",
            params,
        )
        # 5. the financings' unpaid interest and penalty charged, and their history rows
        c.execute(
            "UPDATE lending_financing f SET interest_accrued = f.interest_accrued + t.amount, "  # noqa: S608
            "penalty_charged = f.penalty_charged + t.amount "
            f"FROM {_PENALTY} t WHERE f.id = t.id AND t.amount > 0"
        )
        history_insert_select(
            c,
            Financing,
            source=(
                "SELECT id, 'penalty interest ' || %(iso)s || ': ' || "  # noqa: S608
                f"to_char(amount, '{FMT_MONEY}') AS reason FROM {_PENALTY} WHERE amount > 0"
            ),
            params={"iso": iso},
            actor=actor,
        )
    # 6. the entries, last: the house income balance row they credit is held to the commit
    income = custody.house_account(
        "interest_income", CURRENCY, suffix=PENALTY_INCOME_SUFFIX, actor=actor
    )
    posting = entries_post_two_leg_set_in_transaction(
        source=(
            "SELECT key AS idempotency_key, 'Penalty interest ' || %(iso)s || "  # noqa: S608
            "' on overdue financing #' || id || ' (' || "
            f"to_char(principal, '{FMT_MONEY}') || ' at ' || trim_scale(rate)::text || "
            "' ACT/360, due ' || to_char(due_on, 'YYYY-MM-DD') || '; ' || contract_number || "
            "')' AS memo, %(day)s::date AS effective_date, entry_id, "
            "receivable_id AS debit_account_id, %(income)s::bigint AS credit_account_id, amount "
            f"FROM {_PENALTY} WHERE amount > 0 ORDER BY id"
        ),
        params={"iso": iso, "day": day, "income": income.pk},
        kind=EntryKind.INTEREST,
        unit=CURRENCY,
        actor=actor,
        ids_reserved=True,
    )
    with connection.cursor() as c:
        if posting.repeated:
            # a key posted before (by hand): link its first entry
            c.execute(
                "UPDATE lending_penaltyaccrual a SET entry_id = j.id "  # noqa: S608
                f"FROM {_PENALTY} t JOIN custody_journalentry j ON j.idempotency_key = t.key "
                "WHERE a.financing_id = t.id AND a.business_date = %(day)s "
                "AND a.entry_id IS DISTINCT FROM j.id",
                params,
            )
        c.execute(f"DROP TABLE {_PENALTY}")
    return charged


# --- reads (pages and API) ---------------------------------------------------------------------


def extensions_for(user):
    """The extension requests `user` may see: staff with the view permission all of them, an
    investor their own."""
    qs = FinancingExtension.objects.select_related(
        "financing__instrument", "credit_account__investor", "prepared_by", "decided_by"
    )
    profile = getattr(user, "investor_profile", None)
    if profile is not None:
        return qs.filter(credit_account__investor=profile)
    if user.has_perm("lending.view_financingextension"):
        return qs
    return qs.none()


def financing_for(user, pk: int) -> Financing:
    """One financing `user` may act on: the investor's own (another's answers 404), any for
    staff who may view financings."""
    from accounts.errors import NotFound

    qs = Financing.objects.select_related("contract", "credit_account__investor", "instrument")
    profile = getattr(user, "investor_profile", None)
    if profile is not None:
        qs = qs.filter(credit_account__investor=profile)
    elif not user.has_perm("lending.view_financing"):
        qs = qs.none()
    found = qs.filter(pk=pk).first()
    if found is None:
        raise NotFound(_("financing %(pk)s: not found") % {"pk": pk})
    return found


def maturities_overview(*, on: date, within_days: int = 20) -> dict:
    """The staff page's lists: financings due within `within_days`, overdue financings, the
    extension requests to decide and the latest decisions."""
    open_ = Financing.objects.filter(status=FinancingStatus.OPEN).select_related(
        "instrument", "credit_account", "contract"
    )
    return {
        "due_soon": open_.filter(
            overdue_since__isnull=True, due_on__gte=on, due_on__lte=on + timedelta(days=within_days)
        ).order_by("due_on", "pk")[:200],
        "overdue": open_.filter(overdue_since__isnull=False).order_by("due_on", "pk")[:200],
        "pending": FinancingExtension.objects.filter(status__in=PENDING_EXTENSION_STATUSES)
        .select_related("financing__instrument", "credit_account", "prepared_by")
        .order_by("created_at", "pk"),
        "decided": FinancingExtension.objects.exclude(status__in=PENDING_EXTENSION_STATUSES)
        .select_related("financing__instrument", "credit_account", "prepared_by", "decided_by")
        .order_by("-decided_at", "-pk")[:50],
    }


def extendable(credit_account, *, on: date) -> list[Financing]:
    """The account's financings an extension may be asked for today: open, not past due, no
    request pending."""
    return list(
        Financing.objects.filter(
            credit_account=credit_account,
            status=FinancingStatus.OPEN,
            overdue_since__isnull=True,
            due_on__gte=on,
        )
        .exclude(extensions__status__in=PENDING_EXTENSION_STATUSES)
        .select_related("instrument")
        .order_by("due_on", "pk")
    )
