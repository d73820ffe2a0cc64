"""Reserve fund, reserve target and backup credit facilities, all posted through the ledger.

Every top-level service checks its permission (MOVE_PERM for moving house money); the
`*_in_transaction` variants trust their caller, a service that has checked its own (lending's
default handling, the risk run's target adoption)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.audit import stamp
from accounts.errors import RuleViolation, ValidationFailed
from accounts.models import InvestorProfile
from accounts.permissions import require_permission

from .. import money
from ..models import (
    CreditFacility,
    EntryKind,
    FacilityStatus,
    JournalEntry,
    ReserveTarget,
    UncoveredLoss,
    UncoveredLossStatus,
)
from .client import _key, investor_lock
from .ledger import (
    balances_lock,
    client_account,
    credit,
    debit,
    entry_post_in_transaction,
    house_account,
    normal_balance,
    run_retrying,
)

#: Moving house money (reserve fund, house capital, backup facilities, break resolution):
#: treasury's, granted through "custody.move_*" (accounts.roles).
MOVE_PERM = "custody.move_housemoney"


def _reason(reason: str) -> str:
    if not reason or not reason.strip():
        raise ValidationFailed(_("reason: a reason is required"), extra={"field": "reason"})
    return reason.strip()


def _durable(fn, what):
    def run():
        with transaction.atomic(durable=True):
            return fn()

    return run_retrying(run, what=what)


# --- reserve fund -----------------------------------------------------------------------------


def reserve_fund_contribute(
    *, amount: Decimal | str, currency: str, actor, reason: str, idempotency_key: str
) -> JournalEntry:
    """Set house money aside in the reserve fund: Dr reserve fund, Cr house bank."""
    require_permission(actor, MOVE_PERM, action="contribute to the reserve fund")
    amount = money.money_parse(amount)
    currency = money.currency_parse(currency)
    reason, key = _reason(reason), _key(idempotency_key)

    def run():
        fund = house_account("reserve_fund", currency, actor=actor)
        bank = house_account("house_bank", currency, actor=actor)
        return entry_post_in_transaction(
            legs=[debit(fund, amount), credit(bank, amount)],
            memo=f"Reserve fund contribution: {reason}",
            kind=EntryKind.RESERVE,
            actor=actor,
            idempotency_key=key,
        )

    return _durable(run, "reserve_fund_contribute")


def reserve_fund_use_in_transaction(
    *,
    investor: InvestorProfile,
    amount: Decimal | str,
    currency: str,
    actor,
    reason: str,
    idempotency_key: str,
) -> JournalEntry:
    """Cover a client's default inside the caller's transaction (a liquidation's closing):
    the unrecoverable receivable is written off (Dr defaults written off, Cr financing
    receivable) and the cash comes, in this order, from the reserve fund (Dr house bank, Cr
    reserve fund), then by drawing an available backup facility (Dr house bank, Cr facility),
    all in one entry. What neither covers is recorded as an `UncoveredLoss` for treasury to act
    on; the write-off stands, so the caller (the liquidation) is never rolled back by it. Only
    more than the client owes is refused."""
    amount = money.money_parse(amount)
    currency = money.currency_parse(currency)
    reason, key = _reason(reason), _key(idempotency_key)
    investor_lock(investor)
    done = JournalEntry.objects.filter(idempotency_key=key).first()
    if done is not None:
        return done
    receivable = client_account(investor, "financing_receivable", currency, actor=actor)
    fund = house_account("reserve_fund", currency, actor=actor)
    bank = house_account("house_bank", currency, actor=actor)
    written_off = house_account("defaults_written_off", currency, actor=actor)
    rows = balances_lock([receivable, fund, bank, written_off])
    owed = normal_balance(rows[receivable.pk])
    if amount > owed:
        raise RuleViolation(
            _("amount: %(amount)s exceeds what %(investor)s owes (%(account)s: %(owed)s)")
            % {
                "amount": money.fmt(amount, currency),
                "investor": investor.real_name,
                "account": receivable.purpose_key,
                "owed": money.fmt(owed, currency),
            },
            extra={"field": "amount", "balance": str(owed)},
        )
    from_reserve = min(amount, max(normal_balance(rows[fund.pk]), money.ZERO))
    legs = [debit(written_off, amount), credit(receivable, amount)]
    if from_reserve:
        legs += [debit(bank, from_reserve), credit(fund, from_reserve)]
    left = amount - from_reserve
    drawn_on = []
    for facility in _facilities_available(currency):
        if not left:
            break
        facility_rows = balances_lock([facility.account])
        available = facility.limit - normal_balance(facility_rows[facility.account_id])
        draw = min(left, available)
        if draw > 0:
            legs += [debit(bank, draw), credit(facility.account, draw)]
            drawn_on.append(f"#{facility.pk} {money.fmt(draw, currency)}")
            left -= draw
    memo = f"Default of {investor.real_name} (#{investor.pk}) written off: reserve fund " + (
        f"{money.fmt(from_reserve, currency)}"
    )
    if drawn_on:
        memo += f", facilities {', '.join(drawn_on)}"
    if left:
        memo += f", uncovered {money.fmt(left, currency)}"
    entry = entry_post_in_transaction(
        legs=legs,
        memo=f"{memo}: {reason}",
        kind=EntryKind.RESERVE,
        actor=actor,
        idempotency_key=key,
    )
    if left:
        loss = UncoveredLoss(investor=investor, currency=currency, amount=left, entry=entry)
        stamp(loss, actor=actor, reason=f"default beyond the reserve fund and facilities: {reason}")
        loss.save()
    return entry


def _facilities_available(currency: str) -> list[CreditFacility]:
    """Active facilities available today, the soonest expiring first, locked."""
    today = timezone.localdate()
    return list(
        CreditFacility.objects.select_for_update(of=("self",))
        .select_related("account")
        .filter(
            currency=currency,
            status=FacilityStatus.ACTIVE,
            start_date__lte=today,
            expiry_date__gt=today,
        )
        .order_by("expiry_date", "pk")
    )


def uncovered_loss_address(*, loss: UncoveredLoss, actor, action_taken: str) -> UncoveredLoss:
    """Treasury records what it did about an uncovered loss (capital paid in, a new facility,
    the board's decision); the row leaves the console's open list."""
    require_permission(actor, MOVE_PERM, action="address an uncovered loss")
    action_taken = _reason(action_taken)
    with transaction.atomic():
        locked = UncoveredLoss.objects.select_for_update().get(pk=loss.pk)
        if locked.status != UncoveredLossStatus.OPEN:
            raise RuleViolation(
                _("loss: #%(pk)s was already addressed") % {"pk": locked.pk},
                extra={"field": "loss"},
            )
        locked.status = UncoveredLossStatus.ADDRESSED
        locked.addressed_by, locked.addressed_at = actor, timezone.now()
        locked.action_taken = action_taken[:500]
        stamp(locked, actor=actor, reason=action_taken)
        locked.save()
    return locked


def reserve_fund_use(
    *,
    investor: InvestorProfile,
    amount: Decimal | str,
    currency: str,
    actor,
    reason: str,
    idempotency_key: str,
) -> JournalEntry:
    """Cover a client's default (see reserve_fund_use_in_transaction) in its own transaction."""
    require_permission(actor, MOVE_PERM, action="use the reserve fund")
    return _durable(
        lambda: reserve_fund_use_in_transaction(
            investor=investor,
            amount=amount,
            currency=currency,
            actor=actor,
            reason=reason,
            idempotency_key=idempotency_key,
        ),
        "reserve_fund_use",
    )


def reserve_target_set(
    *,
    currency: str,
    target: Decimal | str,
    as_of: date,
    source: str,
    actor,
    reason: str,
) -> ReserveTarget:
    """Record a reserve target by hand (treasury, custody.change_reservetarget); history keeps
    every previous target with who and why."""
    require_permission(actor, "custody.change_reservetarget", action="set the reserve target")
    with transaction.atomic():
        return reserve_target_set_in_transaction(
            currency=currency, target=target, as_of=as_of, source=source, actor=actor, reason=reason
        )


def reserve_target_set_in_transaction(
    *,
    currency: str,
    target: Decimal | str,
    as_of: date,
    source: str,
    actor,
    reason: str,
) -> ReserveTarget:
    """`reserve_target_set` for a service that has checked its own permission: lending's risk
    run adoption (lending.adopt_riskrun, four eyes, by a risk officer or a treasurer), which
    records the target (expected + stressed loss) its analytics computed."""
    currency = money.currency_parse(currency)
    target = money.money_parse(target, field="target", allow_zero=True)
    reason = _reason(reason)
    with transaction.atomic():
        row = ReserveTarget.objects.select_for_update().filter(currency=currency).first()
        row = row or ReserveTarget(currency=currency)
        row.target, row.as_of, row.source = target, as_of, source[:200]
        stamp(row, actor=actor, reason=reason)
        row.save()
    return row


# --- backup credit facilities ----------------------------------------------------------------


def facility_create(
    *,
    bank: str,
    limit: Decimal | str,
    currency: str,
    start_date: date,
    expiry_date: date,
    fee_rate: Decimal | str = "0",
    covenants: str = "",
    actor,
    reason: str,
) -> CreditFacility:
    require_permission(actor, MOVE_PERM, action="open a backup facility")
    limit = money.money_parse(limit, field="limit")
    currency = money.currency_parse(currency)
    fee_rate = money.amount_parse(fee_rate, field="fee_rate", places=6, allow_zero=True)
    reason = _reason(reason)
    if not bank.strip():
        raise ValidationFailed(_("bank: the lending bank is required"), extra={"field": "bank"})
    if expiry_date <= start_date:
        raise ValidationFailed(
            _("expiry_date: a facility expires after it starts"), extra={"field": "expiry_date"}
        )
    with transaction.atomic():
        facility = CreditFacility(
            bank=bank.strip(),
            limit=limit,
            currency=currency,
            start_date=start_date,
            expiry_date=expiry_date,
            fee_rate=fee_rate,
            covenants=covenants,
        )
        stamp(facility, actor=actor, reason=reason)
        facility.save()
        facility.account = house_account("facility", currency, suffix=str(facility.pk), actor=actor)
        stamp(facility, actor=actor, reason="ledger account attached")
        facility.save(update_fields=["account"])
    return facility


def _facility_locked(facility: CreditFacility) -> CreditFacility:
    return CreditFacility.objects.select_for_update(of=("self",)).get(pk=facility.pk)


def facility_draw(
    *, facility: CreditFacility, amount: Decimal | str, actor, reason: str, idempotency_key: str
) -> JournalEntry:
    """Draw on a facility (Dr house bank, Cr facility). Refused beyond the available amount
    (limit - drawn), before the start date, after expiry, or on a closed facility."""
    require_permission(actor, MOVE_PERM, action="draw on a backup facility")
    amount = money.money_parse(amount)
    reason, key = _reason(reason), _key(idempotency_key)

    def run():
        locked = _facility_locked(facility)
        today = timezone.localdate()
        bank = house_account("house_bank", locked.currency, actor=actor)
        if not JournalEntry.objects.filter(idempotency_key=key).exists():
            if locked.status != FacilityStatus.ACTIVE:
                raise RuleViolation(
                    _("facility: %(facility)s is closed") % {"facility": locked},
                    extra={"field": "facility"},
                )
            if not (locked.start_date <= today < locked.expiry_date):
                raise RuleViolation(
                    _("facility: %(facility)s is not available on %(day)s")
                    % {"facility": locked, "day": today},
                    extra={"field": "facility"},
                )
            rows = balances_lock([locked.account, bank])
            drawn = normal_balance(rows[locked.account_id])
            available = locked.limit - drawn
            if amount > available:
                raise RuleViolation(
                    _(
                        "amount: %(amount)s exceeds the available %(available)s on %(facility)s "
                        "(limit %(limit)s, drawn %(drawn)s)"
                    )
                    % {
                        "amount": money.fmt(amount, locked.currency),
                        "available": money.fmt(available, locked.currency),
                        "facility": locked,
                        "limit": locked.limit,
                        "drawn": drawn,
                    },
                    extra={"field": "amount", "available": str(available)},
                )
        return entry_post_in_transaction(
            legs=[debit(bank, amount), credit(locked.account, amount)],
            memo=f"Draw on {locked.bank} facility #{locked.pk}: {reason}",
            kind=EntryKind.FACILITY,
            actor=actor,
            idempotency_key=key,
        )

    return _durable(run, "facility_draw")


def facility_repay(
    *, facility: CreditFacility, amount: Decimal | str, actor, reason: str, idempotency_key: str
) -> JournalEntry:
    """Repay a facility (Dr facility, Cr house bank); never more than is drawn."""
    require_permission(actor, MOVE_PERM, action="repay a backup facility")
    amount = money.money_parse(amount)
    reason, key = _reason(reason), _key(idempotency_key)

    def run():
        locked = _facility_locked(facility)
        bank = house_account("house_bank", locked.currency, actor=actor)
        if not JournalEntry.objects.filter(idempotency_key=key).exists():
            rows = balances_lock([locked.account, bank])
            drawn = normal_balance(rows[locked.account_id])
            if amount > drawn:
                raise RuleViolation(
                    _("amount: %(amount)s is more than the %(drawn)s drawn on %(facility)s")
                    % {
                        "amount": money.fmt(amount, locked.currency),
                        "drawn": money.fmt(drawn, locked.currency),
                        "facility": locked,
                    },
                    extra={"field": "amount", "drawn": str(drawn)},
                )
        return entry_post_in_transaction(
            legs=[debit(locked.account, amount), credit(bank, amount)],
            memo=f"Repayment to {locked.bank} facility #{locked.pk}: {reason}",
            kind=EntryKind.FACILITY,
            actor=actor,
            idempotency_key=key,
        )

    return _durable(run, "facility_repay")


def facility_close(*, facility: CreditFacility, actor, reason: str) -> CreditFacility:
    require_permission(actor, MOVE_PERM, action="close a backup facility")
    reason = _reason(reason)
    with transaction.atomic():
        locked = _facility_locked(facility)
        from ..selectors import facility_drawn

        if facility_drawn(facility=locked) != 0:
            raise RuleViolation(
                _("facility: %(facility)s still has money drawn") % {"facility": locked},
                extra={"field": "facility"},
            )
        locked.status = FacilityStatus.CLOSED
        stamp(locked, actor=actor, reason=reason)
        locked.save(update_fields=["status"])
    return locked


def house_capital_contribute(
    *, amount: Decimal | str, currency: str, actor, reason: str, idempotency_key: str
) -> JournalEntry:
    """Shareholders pay capital into the house bank (Dr house bank, Cr house capital)."""
    require_permission(actor, MOVE_PERM, action="record house capital")
    amount = money.money_parse(amount)
    currency = money.currency_parse(currency)
    reason, key = _reason(reason), _key(idempotency_key)

    def run():
        bank = house_account("house_bank", currency, actor=actor)
        equity = house_account("house_equity", currency, actor=actor)
        return entry_post_in_transaction(
            legs=[debit(bank, amount), credit(equity, amount)],
            memo=f"House capital: {reason}",
            kind=EntryKind.TRANSFER,
            actor=actor,
            idempotency_key=key,
        )

    return _durable(run, "house_capital_contribute")
