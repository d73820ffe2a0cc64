"""Rights issues (配股): the holder's subscription with own money, and the custodian's outcome
(docs/corporate-actions.md, "Rights issues").

On the ex-date lending.financing.corporate_actions records each holder's entitlement
(floor(quantity × ratio) rights shares) and the holder gets a notice with proof of delivery
(lending.margin_calls.rights, through `corporate_actions.NOTICE_HOOKS`). Then:

* `rights_subscribe`: the investor (portal, API), or operations on the investor's written
  instruction, subscribes up to the entitlement still unsubscribed, from the ex-date until the
  subscription ends, paying quantity × rights price from the credit account's free cash (cash
  not held back by working buys, as for an own-cash purchase: it is own money, never
  financing). One ledger entry: the client's money becomes an entitlement receivable
  (Dr client_money / Cr entitlement_receivable) and the cash leaves the client omnibus bank for
  the custodian (Dr custodian_entitlements / Cr client_bank). The receivable is "other
  collateral" at its face value (a claim on the custodian for the shares or the refund), so the
  maintenance ratio does not move when the investor subscribes.
* `rights_subscription_cancel`: before the subscription ends, the investor withdraws a
  subscription and the money comes back (the reverse legs).
* `rights_settle`: after the subscription period, operations record the custodian's
  confirmation of the issue's outcome (its reference). Allotted: every paid subscription's
  shares are booked from that confirmation (Dr custodian / Cr client_securities in the
  instrument's unit) and the receivable is settled against the custodian's claim; failed (an
  issue under-subscribed is void by law and the money refunded): the money returns to each
  subscriber's free cash. One entry per subscription, all in one transaction, and a notice to
  each subscriber. Shares not subscribed lapse; nothing is booked for them.
"""

from __future__ import annotations

from datetime import date
from decimal import ROUND_FLOOR, ROUND_HALF_UP, Decimal

from django.db.models import QuerySet, Sum
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.audit import stamp
from accounts.errors import Conflict, NotFound, RuleViolation, ValidationFailed
from accounts.permissions import require_permission
from custody import services as custody
from custody.models import EntryKind
from lending.common.inputs import idempotency_key_required, reason_required, shares_parsed
from lending.common.transactions import durable
from lending.credit.locks import lock_in_order, open_credit_account_lock
from lending.credit.permissions import require_owner_or_perm
from lending.domain.formats import fmt, fmt_shares, money_rounded
from lending.financing import corporate_actions
from lending.financing.held_back import held_back
from lending.financing.models import (
    CorporateAction,
    CorporateActionEntitlement,
    CorporateActionKind,
    CorporateActionStatus,
    RightsOutcome,
    RightsSubscription,
    RightsSubscriptionStatus,
)
from lending.financing.valuation import account_view

SUBSCRIBE_PERM = "lending.add_rightssubscription"
CANCEL_PERM = "lending.change_rightssubscription"
SETTLE_PERM = corporate_actions.CHANGE_PERM
CURRENCY = "CNY"
FEN = Decimal("0.01")
ZERO = Decimal(0)

#: notice stages of a rights issue (lending.margin_calls.rights writes them)
STAGE_ANNOUNCED = 0
STAGE_SETTLED = 1


def today() -> date:
    return timezone.localdate()


# --- reads -------------------------------------------------------------------------------------


def require_may_act(user, perm: str, *, action: str) -> None:
    """An investor acts on their own rights (checked on the object); staff need `perm`. Lets
    the API refuse a user without the permission before reading what they sent."""
    if getattr(user, "investor_profile", None) is None:
        require_permission(user, perm, action=action)


def entitlement_for(user, pk) -> CorporateActionEntitlement:
    """A rights entitlement the user may act on: the investor's own (another's answers 404),
    any for staff who may view corporate actions."""
    rows = CorporateActionEntitlement.objects.select_related(
        "corporate_action__instrument", "credit_account"
    ).filter(corporate_action__kind=CorporateActionKind.RIGHTS)
    profile = getattr(user, "investor_profile", None)
    if profile is not None:
        rows = rows.filter(investor=profile)
    elif not user.has_perm("lending.view_corporateaction"):
        rows = rows.none()
    found = rows.filter(pk=pk).first() if str(pk).isdigit() else None
    if found is None:
        raise NotFound(f"entitlement: no rights entitlement #{pk}", extra={"field": "entitlement"})
    return found


def subscriptions_for(user) -> QuerySet[RightsSubscription]:
    """The subscriptions the user may see: an investor's own; all for staff who may view them."""
    rows = RightsSubscription.objects.select_related(
        "entitlement__corporate_action__instrument", "credit_account"
    )
    profile = getattr(user, "investor_profile", None)
    if profile is not None:
        return rows.filter(credit_account__investor=profile)
    if user.has_perm("lending.view_rightssubscription"):
        return rows
    return rows.none()


def subscription_for(user, pk) -> RightsSubscription:
    found = subscriptions_for(user).filter(pk=pk).first() if str(pk).isdigit() else None
    if found is None:
        raise NotFound(f"subscription: no rights subscription #{pk}")
    return found


def subscribed_quantity(entitlement_id: int) -> Decimal:
    """Rights shares of the entitlement already paid for (not cancelled)."""
    total = (
        RightsSubscription.objects.filter(entitlement_id=entitlement_id)
        .exclude(status=RightsSubscriptionStatus.CANCELLED)
        .aggregate(total=Sum("quantity"))["total"]
    )
    return total or ZERO


# --- rules -------------------------------------------------------------------------------------


def _open_for_subscription(action: CorporateAction, on: date) -> None:
    if action.kind != CorporateActionKind.RIGHTS:
        raise ValidationFailed("entitlement: not a rights issue", extra={"field": "entitlement"})
    if action.status != CorporateActionStatus.EX_PROCESSED:
        raise RuleViolation(
            _("entitlement: the rights issue is %(status)s; subscriptions are closed")
            % {"status": action.get_status_display()},
            code="rights_closed",
            extra={"field": "entitlement"},
        )
    if on < action.ex_date:
        raise RuleViolation(
            _("entitlement: subscriptions open on the ex-date %(ex)s")
            % {"ex": action.ex_date.isoformat()},
            code="rights_not_open",
            extra={"field": "entitlement"},
        )
    if on > action.subscription_end:
        raise RuleViolation(
            _("entitlement: the subscription ended on %(end)s")
            % {"end": action.subscription_end.isoformat()},
            code="rights_subscription_ended",
            extra={"field": "entitlement", "subscription_end": str(action.subscription_end)},
        )


def _legs_to_custodian(investor, amount: Decimal, actor) -> list:
    """The money leaves the client's free cash for the custodian (receivable until settled)."""
    return [
        custody.debit(
            custody.client_account(investor, "client_money", CURRENCY, actor=actor), amount
        ),
        custody.credit(
            custody.client_account(investor, "entitlement_receivable", CURRENCY, actor=actor),
            amount,
        ),
        custody.debit(
            custody.house_account("custodian_entitlements", CURRENCY, actor=actor), amount
        ),
        custody.credit(custody.house_account("client_bank", CURRENCY, actor=actor), amount),
    ]


# --- the investor's subscription ----------------------------------------------------------------


def _repeat(key: str, **fields) -> RightsSubscription | None:
    existing = RightsSubscription.objects.filter(idempotency_key=key).first()
    if existing is None:
        return None
    if all(getattr(existing, k) == v for k, v in fields.items()):
        return existing
    raise Conflict(
        f"idempotency_key: {key!r} was already used for rights subscription #{existing.pk}",
        extra={"field": "idempotency_key"},
    )


def rights_subscribe(
    *,
    entitlement: CorporateActionEntitlement,
    quantity,
    actor,
    idempotency_key: str,
    reason: str = "",
    on: date | None = None,
) -> RightsSubscription:
    """Subscribe `quantity` rights shares of the entitlement with own money (module docstring).
    Refused, naming the field and the rule, beyond the entitlement left, outside the
    subscription period, or beyond the free cash (with the largest quantity it would pay)."""
    credit_account = entitlement.credit_account
    if credit_account is None:
        raise RuleViolation(
            "entitlement: held outside a credit account; subscribe through the custodian",
            code="no_credit_account",
            extra={"field": "entitlement"},
        )
    require_owner_or_perm(actor, credit_account, SUBSCRIBE_PERM, action="subscribe rights")
    key = idempotency_key_required(idempotency_key)
    quantity = shares_parsed(quantity)
    repeat = _repeat(key, entitlement_id=entitlement.pk, quantity=quantity)
    if repeat is not None:
        return repeat
    on = on or today()

    def run() -> RightsSubscription:
        account = open_credit_account_lock(credit_account)
        repeat = _repeat(key, entitlement_id=entitlement.pk, quantity=quantity)
        if repeat is not None:
            return repeat
        action = CorporateAction.objects.select_related("instrument").get(
            pk=entitlement.corporate_action_id
        )
        _open_for_subscription(action, on)
        left = entitlement.rights_quantity - subscribed_quantity(entitlement.pk)
        if quantity > left:
            raise RuleViolation(
                _(
                    "quantity: %(quantity)s is more than the %(left)s rights shares left to "
                    "subscribe"
                )
                % {"quantity": fmt_shares(quantity), "left": fmt_shares(left)},
                code="beyond_entitlement",
                extra={"field": "quantity", "allowed": str(left.quantize(Decimal(1)))},
            )
        price = action.rights_price
        amount = (quantity * price).quantize(FEN, rounding=ROUND_HALF_UP)
        view = account_view(account)
        held = held_back(account.pk)
        free = view.cash - held.cash - money_rounded(held.financing * view.financing_margin_ratio)
        if amount > free:
            most = max((free / price).to_integral_value(rounding=ROUND_FLOOR), ZERO)
            raise RuleViolation(
                _(
                    "quantity: %(quantity)s rights shares cost %(amount)s but the account has "
                    "only %(free)s of free cash (own money; rights are never financed); the "
                    "most it pays for is %(most)s"
                )
                % {
                    "quantity": fmt_shares(quantity),
                    "amount": fmt(amount),
                    "free": fmt(max(free, ZERO)),
                    "most": fmt_shares(min(most, left)),
                },
                code="insufficient_cash",
                extra={"field": "quantity", "amount": str(amount), "cash": str(free)},
            )
        unit = action.instrument.ledger_unit
        entry = custody.entry_post_in_transaction(
            legs=_legs_to_custodian(account.investor, amount, actor),
            memo=f"Rights subscription {fmt_shares(quantity)} {unit} at {price} = {fmt(amount)} "
            f"({action.source_reference}), paid to the custodian",
            kind=EntryKind.CORPORATE_ACTION,
            actor=actor,
            idempotency_key=f"rights-subscribe:{key}",
        )
        subscription = RightsSubscription(
            entitlement=entitlement,
            credit_account=account,
            quantity=quantity,
            price=price,
            amount=amount,
            idempotency_key=key,
            entry=entry,
            requested_by=actor,
            reason=(reason or "")[:300],
        )
        stamp(
            subscription,
            actor=actor,
            reason=f"subscribed {quantity} {unit} rights at {price}: {amount} {reason}".strip(),
        )
        subscription.save()
        return subscription

    return durable(run, "rights_subscribe")


def rights_subscription_cancel(
    *, subscription: RightsSubscription, actor, reason: str = "", on: date | None = None
) -> RightsSubscription:
    """Withdraw a paid subscription before the subscription ends: the money comes back."""
    require_owner_or_perm(
        actor, subscription.credit_account, CANCEL_PERM, action="cancel a rights subscription"
    )
    on = on or today()

    def run() -> RightsSubscription:
        account = open_credit_account_lock(subscription.credit_account)
        locked = RightsSubscription.objects.select_for_update().get(pk=subscription.pk)
        if locked.status != RightsSubscriptionStatus.SUBSCRIBED:
            raise Conflict(
                f"subscription: already {locked.status}", extra={"field": "subscription"}
            )
        action = CorporateAction.objects.select_related("instrument").get(
            pk=locked.entitlement.corporate_action_id
        )
        _open_for_subscription(action, on)
        entry = custody.entry_post_in_transaction(
            legs=corporate_actions.entitlement_cash_legs(account.investor, locked.amount, actor),
            memo=f"Rights subscription #{locked.pk} cancelled: {fmt(locked.amount)} back "
            f"({action.source_reference})",
            kind=EntryKind.CORPORATE_ACTION,
            actor=actor,
            idempotency_key=f"rights-cancel:{locked.pk}",
        )
        locked.status = RightsSubscriptionStatus.CANCELLED
        locked.cancel_entry = entry
        locked.cancelled_at = timezone.now()
        stamp(locked, actor=actor, reason=f"cancelled: {reason}".strip(": "))
        locked.save(update_fields=["status", "cancel_entry", "cancelled_at"])
        return locked

    return durable(run, "rights_subscription_cancel")


# --- the custodian's outcome --------------------------------------------------------------------


def rights_settle(
    *,
    action: CorporateAction,
    outcome: str,
    custodian_reference: str,
    actor,
    reason: str,
    on: date | None = None,
) -> CorporateAction:
    """Record the custodian's confirmation of a rights issue's outcome after its subscription
    period and book every paid subscription: the shares (allotted) or the money back (failed)."""
    require_permission(actor, SETTLE_PERM, action="settle a rights issue")
    if outcome not in RightsOutcome.values:
        raise ValidationFailed(
            f"outcome: {outcome!r} is not one of {', '.join(RightsOutcome.values)}",
            extra={"field": "outcome"},
        )
    reference = (custodian_reference or "").strip()
    if not reference or len(reference) > 64:
        raise ValidationFailed(
            "custodian_reference: the custodian's confirmation reference (1 to 64 characters)",
            extra={"field": "custodian_reference"},
        )
    reason = reason_required(reason)
    on = on or today()
    if action.kind != CorporateActionKind.RIGHTS:
        raise ValidationFailed("action: not a rights issue", extra={"field": "action"})
    if on <= action.subscription_end:
        raise RuleViolation(
            _("action: the subscription runs until %(end)s; the outcome comes after it")
            % {"end": action.subscription_end.isoformat()},
            code="rights_subscription_open",
            extra={"field": "action"},
        )

    def run() -> CorporateAction:
        paid = list(
            RightsSubscription.objects.filter(
                entitlement__corporate_action_id=action.pk,
                status=RightsSubscriptionStatus.SUBSCRIBED,
            ).order_by("pk")
        )
        locked = lock_in_order(
            credit_account_ids=sorted({s.credit_account_id for s in paid})
        ).credit_accounts
        current = (
            CorporateAction.objects.select_for_update(of=("self",))
            .select_related("instrument")
            .get(pk=action.pk)
        )
        if current.status != CorporateActionStatus.EX_PROCESSED:
            raise Conflict(
                f"action: already {current.status}; a rights issue is settled once",
                extra={"field": "action"},
            )
        subscriptions = list(
            RightsSubscription.objects.select_for_update()
            .filter(pk__in=[s.pk for s in paid], status=RightsSubscriptionStatus.SUBSCRIBED)
            .order_by("pk")
        )
        unit = current.instrument.ledger_unit
        specs = []
        house = corporate_actions.custodian_cash_accounts(actor)
        claim = house[1]
        custodian = custody.house_account("custodian", unit, actor=actor)
        for s in subscriptions:
            investor = locked[s.credit_account_id].investor
            if outcome == RightsOutcome.ALLOTTED:
                receivable = custody.client_account(
                    investor, "entitlement_receivable", CURRENCY, actor=actor
                )
                legs = [
                    custody.debit(receivable, s.amount),
                    custody.credit(claim, s.amount),
                    custody.debit(custodian, s.quantity),
                    custody.credit(
                        custody.client_account(investor, "client_securities", unit, actor=actor),
                        s.quantity,
                    ),
                ]
                memo = (
                    f"Rights shares allotted {fmt_shares(s.quantity)} {unit} at {s.price} "
                    f"(custodian {reference}, {current.source_reference})"
                )
            else:
                legs = corporate_actions.entitlement_cash_legs(investor, s.amount, actor, house)
                memo = (
                    f"Rights issue failed: subscription {fmt(s.amount)} refunded "
                    f"(custodian {reference}, {current.source_reference})"
                )
            specs.append(
                custody.EntrySpec(
                    legs=legs,
                    memo=memo,
                    kind=EntryKind.CORPORATE_ACTION,
                    idempotency_key=f"rights-settle:{s.pk}",
                )
            )
        posted = custody.entries_post_in_transaction(entries=specs, actor=actor) if specs else []
        now = timezone.now()
        status = (
            RightsSubscriptionStatus.ALLOTTED
            if outcome == RightsOutcome.ALLOTTED
            else RightsSubscriptionStatus.REFUNDED
        )
        for s, entry in zip(subscriptions, posted, strict=True):
            s.status, s.settle_entry, s.settled_at = status, entry, now
            stamp(s, actor=actor, reason=f"{outcome} (custodian {reference}): {reason}")
            s.save(update_fields=["status", "settle_entry", "settled_at"])
        current.status = CorporateActionStatus.SETTLED
        current.allotment_outcome = outcome
        current.allotment_reference = reference
        current.settled_at = now
        current.settled_by = actor
        stamp(
            current,
            actor=actor,
            reason=f"rights {outcome} (custodian {reference}): {len(subscriptions)} "
            f"subscription(s); {reason}",
        )
        current.save(
            update_fields=[
                "status", "allotment_outcome", "allotment_reference", "settled_at", "settled_by"
            ]
        )  # fmt: skip
        corporate_actions.notices_send(
            entitlement_ids=sorted({s.entitlement_id for s in subscriptions}),
            stage=STAGE_SETTLED,
        )
        return current

    return durable(run, "rights_settle")


__all__ = [
    "entitlement_for",
    "rights_settle",
    "rights_subscribe",
    "rights_subscription_cancel",
    "subscription_for",
    "subscriptions_for",
]
