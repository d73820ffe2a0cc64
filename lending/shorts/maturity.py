"""Maturity of short positions and their extension (展期): DOMAIN.md "Maturity and extension",
as a financing's (lending.financing.maturity).

* Due date. A short position is due at most `shorts.max_term_months` (dated; 6) after the
  sale, never after its contract's end (lending.shorts.positions.due_on_for, at the fill).
* Extension. Before the due date the investor asks for an extension of at most
  `financing.extension_max_months` (dated; 6, the one limit DOMAIN.md gives for both sides)
  from the due date (`short_extension_request`, the investor on their own account, or staff
  with lending.add_shortpositionextension on the investor's written instruction); operations
  check it (`short_extension_prepare`, lending.prepare_shortpositionextension); a different
  person approves or rejects it (`short_extension_approve` / `_reject`,
  lending.approve_shortpositionextension, a second factor; a CHECK constraint keeps the two
  apart). The new due date runs from the old one and never past the contract's end: min(old
  due date + months, contract end), computed again at approval (a contract renewed in between
  gives the whole term). The investor must qualify when asking and again at approval
  (`extension_blockers`): the suitability match for margin trading, no unfinished margin
  call, an active contract, and what the areas above add through QUALIFICATION_HOOKS (lending
  registers the maintenance ratio above the warning line, which needs the account's
  valuation: lending.financing.short_sales.short_extension_blockers). No cap on the number of
  extensions.
* Overdue. A position still open after its due date is overdue from the next day
  (`short_positions_mark_overdue`, run by the end of day's maturity step): `overdue_since` is
  set (the day after the due date, whenever the run is made), the position stays "open"
  (still owed), and a request not yet approved lapses (rejected by the system). The forced
  close is the margin calls' maturity run (lending.margin_calls.maturity): the account's
  maturity call, a plan buying back every overdue share, four eyes, the buy-in.
"""

from __future__ import annotations

from datetime import date, timedelta

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.audit import stamp
from accounts.errors import Conflict, NotFound, RuleViolation
from accounts.permissions import require_permission
from compliance import calendar
from compliance import selectors as compliance_selectors
from lending.common.inputs import reason_required
from lending.credit import extensions
from lending.credit.locks import credit_account_lock, lock_in_order
from lending.credit.permissions import require_owner_or_perm
from lending.domain.formats import fmt_shares
from lending.shorts.models import (
    ShortExtensionStatus,
    ShortPosition,
    ShortPositionExtension,
    ShortPositionStatus,
)

REQUEST_PERM = "lending.add_shortpositionextension"
PREPARE_PERM = "lending.prepare_shortpositionextension"
APPROVE_PERM = "lending.approve_shortpositionextension"
VIEW_PERM = "lending.view_shortpositionextension"

#: permission of the daily overdue marking run by the system (actor None)
OVERDUE_PERM = "lending.change_shortposition"

#: the reason a pending extension lapses with (its decision reason and its history row's)
LAPSED = "lapsed: not approved by the due date"

PENDING = (ShortExtensionStatus.REQUESTED, ShortExtensionStatus.PREPARED)

UNFINISHED_CALL_STATUSES = extensions.UNFINISHED_CALL_STATUSES

#: more qualification checks from the areas above: callables (credit_account, on) -> list of
#: Blocker (lending.apps registers the maintenance ratio's)
QUALIFICATION_HOOKS: list = []


def today() -> date:
    return compliance_selectors.today()


#: A reason the investor does not qualify (one type for every extension)
Blocker = extensions.Blocker


# --- overdue ----------------------------------------------------------------------------------


def short_positions_mark_overdue(*, on: date, actor=None) -> list[int]:
    """Every open short position whose due date is before `on` becomes overdue from the day
    after its due date (whenever this runs, the date is the same); a pending extension request
    lapses (rejected by the system). Idempotent: a position already overdue is left alone.
    Returns the ids of those marked, ascending. One transaction: the investors and credit
    accounts locked (the desk's order), then the positions; one history row per change."""
    require_permission(actor, OVERDUE_PERM, action="mark short positions overdue")
    due = ShortPosition.objects.filter(
        status=ShortPositionStatus.OPEN, overdue_since__isnull=True, due_on__lt=on
    )
    with transaction.atomic():
        accounts = sorted(set(due.values_list("credit_account_id", flat=True)))
        if not accounts:
            return []
        lock_in_order(credit_account_ids=accounts)
        positions = list(
            due.select_for_update(of=("self",))
            .filter(credit_account_id__in=accounts)
            .order_by("pk")
        )
        for position in positions:
            position.overdue_since = position.due_on + timedelta(days=1)
            stamp(
                position,
                actor=actor,
                reason=f"overdue: due on {position.due_on.isoformat()}, "
                f"{fmt_shares(position.quantity_outstanding)} shares owed",
            )
            position.save(update_fields=["overdue_since"])
        ids = [p.pk for p in positions]
        lapsed = ShortPositionExtension.objects.select_for_update(of=("self",)).filter(
            position_id__in=ids, status__in=PENDING
        )
        for extension in lapsed.order_by("pk"):
            extension.status = ShortExtensionStatus.REJECTED
            extension.decided_by, extension.decided_at = None, timezone.now()
            extension.decision_reason = LAPSED
            stamp(extension, actor=actor, reason=LAPSED)
            extension.save()
    return ids


# --- extensions -------------------------------------------------------------------------------


def _before_due(position: ShortPosition, on: date, doing: str) -> None:
    if position.status != ShortPositionStatus.OPEN:
        raise RuleViolation(
            _("position: short position #%(pk)s is %(status)s; only an open one is extended")
            % {"pk": position.pk, "status": position.get_status_display()},
            code="short_position_not_open",
            extra={"field": "position"},
        )
    if position.overdue_since is not None or on > position.due_on:
        message = (
            _(
                "position: short position #%(pk)s was due on %(due)s; an extension is "
                "requested only on or before the due date"
            )
            if doing == "requested"
            else _(
                "position: short position #%(pk)s was due on %(due)s; an extension is "
                "approved only on or before the due date"
            )
        )
        raise RuleViolation(
            message % {"pk": position.pk, "due": position.due_on.isoformat()},
            code="past_due_date",
            extra={"field": "position", "due_on": position.due_on.isoformat()},
        )


def new_due_on_for(position: ShortPosition, months: int) -> date:
    """The due date after an extension of `months`: from the due date, never past the
    contract's end."""
    return min(calendar.add_months(position.due_on, months), position.contract.ends_on)


def _contract_end_check(position: ShortPosition, new_due: date) -> None:
    if new_due <= position.due_on:
        contract = position.contract
        raise RuleViolation(
            _(
                "position: the contract %(contract)s ends on %(ends)s, the due date of short "
                "position #%(pk)s: renew the contract first (a renewal runs from its end date)"
            )
            % {
                "contract": contract.contract_number,
                "ends": contract.ends_on.isoformat(),
                "pk": position.pk,
            },
            code="contract_ends_first",
            extra={"field": "position", "contract_ends_on": contract.ends_on.isoformat()},
        )


def extension_blockers(position: ShortPosition, *, on: date) -> list[Blocker]:
    """Why the investor does not qualify for an extension today (empty: they do)."""
    account = position.credit_account
    reasons = extensions.account_blockers(account, position.contract, on=on)
    for hook in list(QUALIFICATION_HOOKS):
        reasons.extend(hook(account, on))
    return reasons


def _locked_position(pk: int) -> ShortPosition:
    return (
        ShortPosition.objects.select_for_update(of=("self",))
        .select_related("contract", "credit_account__investor", "instrument")
        .get(pk=pk)
    )


def short_extension_request(
    *, position: ShortPosition, months, actor, reason: str = "", on: date | None = None
) -> ShortPositionExtension:
    """The investor asks to extend one short position by `months` from its due date (on or
    before it). Staff may record it on the investor's written instruction, whose reference
    `reason` gives. Refused when one is already pending for the position, when the contract
    ends on the due date, or when the investor does not qualify now."""
    require_owner_or_perm(actor, position.credit_account, REQUEST_PERM, action="extension")
    if actor is not None and getattr(actor, "investor_profile", None) is None:
        reason = reason_required(reason)
    on = on or today()
    months = extensions.extension_months(months, on=on)
    with transaction.atomic():
        credit_account_lock(position.credit_account)
        position = _locked_position(position.pk)
        _before_due(position, on, "requested")
        new_due = new_due_on_for(position, months)
        _contract_end_check(position, new_due)
        reasons = extension_blockers(position, on=on)
        if reasons:
            raise extensions.blocked(reasons)
        extension = ShortPositionExtension(
            position=position,
            months=months,
            old_due_on=position.due_on,
            new_due_on=new_due,
            requested_by=actor,
            reason=(reason or "").strip()[:300],
        )
        stamp(extension, actor=actor, reason=f"extension of {months} months requested")
        try:
            with transaction.atomic():
                extension.save()
        except IntegrityError:
            raise Conflict(
                _("position: short position #%(pk)s already has an extension request under review")
                % {"pk": position.pk},
                code="extension_pending",
                extra={"field": "position"},
            ) from None
    return extension


def _locked_extension(extension: ShortPositionExtension) -> ShortPositionExtension:
    return (
        ShortPositionExtension.objects.select_for_update(of=("self",))
        .select_related("position__contract", "position__credit_account__investor")
        .get(pk=extension.pk)
    )


def short_extension_prepare(
    *, extension: ShortPositionExtension, actor, note: str
) -> ShortPositionExtension:
    """Operations check a request (the maker's step) and send it for approval; the note is
    kept as the history row's reason."""
    require_permission(actor, PREPARE_PERM, action="check a short position extension")
    note = reason_required(note)
    with transaction.atomic():
        credit_account_lock(extension.position.credit_account)
        extension = _locked_extension(extension)
        if extension.status != ShortExtensionStatus.REQUESTED:
            raise Conflict(
                _("extension: #%(pk)s is %(status)s, not requested")
                % {"pk": extension.pk, "status": extension.get_status_display()},
                code="extension_decided",
                extra={"field": "extension"},
            )
        extension.status = ShortExtensionStatus.PREPARED
        extension.prepared_by, extension.prepared_at = actor, timezone.now()
        stamp(extension, actor=actor, reason=f"checked: {note}"[:300])
        extension.save()
    return extension


def _check_checker(extension: ShortPositionExtension, actor, action: str) -> None:
    extensions.checker_check(extension, actor, permission=APPROVE_PERM, action=action)


def short_extension_approve(
    *, extension: ShortPositionExtension, actor, reason: str, on: date | None = None
) -> ShortPositionExtension:
    """A second person approves a checked extension, on or before the due date, after the
    qualification is checked again; the position's due date moves to the new one (from the
    old due date, never past the contract's end as it is now)."""
    reason = reason_required(reason)
    _check_checker(extension, actor, "approve a short position extension")
    on = on or today()
    with transaction.atomic():
        credit_account_lock(extension.position.credit_account)
        extension = _locked_extension(extension)
        if extension.status != ShortExtensionStatus.PREPARED:
            raise Conflict(
                _("extension: #%(pk)s is %(status)s; only a checked request is approved")
                % {"pk": extension.pk, "status": extension.get_status_display()},
                code="extension_not_prepared",
                extra={"field": "extension"},
            )
        _check_checker(extension, actor, "approve a short position extension")
        position = _locked_position(extension.position_id)
        _before_due(position, on, "approved")
        if position.due_on != extension.old_due_on:
            raise Conflict(
                _("position: short position #%(pk)s is now due on %(due)s, not %(old)s: ask again")
                % {
                    "pk": position.pk,
                    "due": position.due_on.isoformat(),
                    "old": extension.old_due_on.isoformat(),
                },
                code="due_date_changed",
                extra={"field": "position"},
            )
        new_due = new_due_on_for(position, extension.months)
        _contract_end_check(position, new_due)
        reasons = extension_blockers(position, on=on)
        if reasons:
            raise extensions.blocked(reasons)
        extension.status = ShortExtensionStatus.APPROVED
        extension.new_due_on = new_due
        extension.decided_by, extension.decided_at = actor, timezone.now()
        extension.decision_reason = reason[:300]
        stamp(extension, actor=actor, reason=f"approved: {reason}"[:300])
        extension.save()
        position.due_on = new_due
        stamp(
            position,
            actor=actor,
            reason=f"extended {extension.months} months to {new_due.isoformat()} "
            f"(extension #{extension.pk}): {reason}"[:300],
        )
        position.save(update_fields=["due_on"])
    return extension


def short_extension_reject(
    *, extension: ShortPositionExtension, actor, reason: str
) -> ShortPositionExtension:
    """A second person rejects a request (checked or not), with the reason the investor is
    told."""
    reason = reason_required(reason)
    _check_checker(extension, actor, "reject a short position extension")
    with transaction.atomic():
        credit_account_lock(extension.position.credit_account)
        extension = _locked_extension(extension)
        if extension.status not in PENDING:
            raise Conflict(
                _("extension: #%(pk)s is already %(status)s")
                % {"pk": extension.pk, "status": extension.get_status_display()},
                code="extension_decided",
                extra={"field": "extension"},
            )
        _check_checker(extension, actor, "reject a short position extension")
        extension.status = ShortExtensionStatus.REJECTED
        extension.decided_by, extension.decided_at = actor, timezone.now()
        extension.decision_reason = reason[:300]
        stamp(extension, actor=actor, reason=f"rejected: {reason}"[:300])
        extension.save()
    return extension


# --- reads (pages and API) --------------------------------------------------------------------


def extensions_for(user):
    """The short position extensions `user` may see: staff with the view permission all of
    them, an investor their own."""
    qs = ShortPositionExtension.objects.select_related(
        "position__instrument",
        "position__credit_account",
        "requested_by",
        "prepared_by",
        "decided_by",
    )
    profile = getattr(user, "investor_profile", None)
    if profile is not None:
        return qs.filter(position__credit_account__investor=profile)
    if user.has_perm(VIEW_PERM):
        return qs
    return qs.none()


def position_for(user, pk: int) -> ShortPosition:
    """One short position `user` may act on: the investor's own (another's answers 404), any
    for staff who may view short positions."""
    qs = ShortPosition.objects.select_related("contract", "credit_account__investor", "instrument")
    profile = getattr(user, "investor_profile", None)
    if profile is not None:
        qs = qs.filter(credit_account__investor=profile)
    elif not user.has_perm("lending.view_shortposition"):
        qs = qs.none()
    found = qs.filter(pk=pk).first()
    if found is None:
        raise NotFound(_("position: no short position #%(pk)s") % {"pk": pk})
    return found


def extensions_overview(*, on: date, within_days: int = 20) -> dict:
    """The staff page's lists: the requests to decide, the latest decisions, the short
    positions overdue and those due within `within_days`."""
    open_ = ShortPosition.objects.filter(status=ShortPositionStatus.OPEN).select_related(
        "instrument", "credit_account"
    )
    rows = ShortPositionExtension.objects.select_related(
        "position__instrument", "position__credit_account", "prepared_by", "decided_by"
    )
    return {
        "pending": rows.filter(status__in=PENDING).order_by("created_at", "pk"),
        "decided": rows.exclude(status__in=PENDING).order_by("-decided_at", "-pk")[:50],
        "overdue": open_.filter(overdue_since__isnull=False).order_by("due_on", "pk")[:200],
        "due_soon": open_.filter(
            overdue_since__isnull=True, due_on__gte=on, due_on__lte=on + timedelta(days=within_days)
        ).order_by("due_on", "pk")[:200],
    }


def pending_extension(position: ShortPosition) -> ShortPositionExtension | None:
    return position.extensions.filter(status__in=PENDING).first()
