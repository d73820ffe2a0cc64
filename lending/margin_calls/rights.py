"""Rights-issue notices (配股): each holder with rights in a credit account is told, on the
portal and by e-mail with proof of delivery like every margin notice, what they may subscribe
(stage 0, on the ex-date) and then the issue's outcome (stage 1: the shares booked or the money
refunded). Registered in lending.financing.corporate_actions.NOTICE_HOOKS by lending.apps and
called inside the booking transaction, so the notice exists exactly when the event does."""

from __future__ import annotations

from django.db.models import Sum
from django.utils import timezone
from django.utils.translation import gettext as _

from lending.domain.formats import fmt, fmt_shares
from lending.financing.models import (
    CorporateActionEntitlement,
    RightsOutcome,
    RightsSubscriptionStatus,
)
from lending.margin_calls.models import NoticeKind
from lending.margin_calls.services import notices_build, notices_save


def rights_message(stage: int, account, ctx: dict) -> tuple[str, str]:
    """Subject and body of a rights notice in the active language (notices_build writes every
    language of the site)."""
    values = {**ctx, "account": account}
    if stage == 0:
        return (
            _("Rights issue of %(instrument)s: you may subscribe %(quantity)s shares") % values,
            _(
                "You held %(held)s shares of %(instrument)s at the record date in credit account "
                "%(account)s: you may subscribe %(quantity)s rights shares at %(price)s CNY each "
                "(%(announcement)s), with your own money, from the portal's account page until "
                "%(end)s. Shares not subscribed by then lapse, and the price of the shares you "
                "hold has been adjusted for the issue."
            )
            % values,
        )
    if ctx.get("outcome") == RightsOutcome.ALLOTTED:
        return (
            _("Rights shares of %(instrument)s credited") % values,
            _(
                "The rights issue of %(instrument)s succeeded: %(subscribed)s shares you "
                "subscribed (%(paid)s CNY) are now in credit account %(account)s (custodian "
                "confirmation %(reference)s)."
            )
            % values,
        )
    return (
        _("Rights issue of %(instrument)s failed: your money is refunded") % values,
        _(
            "The rights issue of %(instrument)s did not succeed: the %(paid)s CNY you paid for "
            "%(subscribed)s shares is back in credit account %(account)s as free cash "
            "(custodian confirmation %(reference)s)."
        )
        % values,
    )


def rights_notices_write(*, entitlement_ids: list[int], stage: int) -> int:
    """lending.financing.corporate_actions.NOTICE_HOOKS: write the notices of one stage for the
    entitlements (once each: a stage already noticed is not written again). Returns how many
    notices were written."""
    rows = CorporateActionEntitlement.objects.filter(
        pk__in=list(entitlement_ids), credit_account__isnull=False
    ).select_related("corporate_action__instrument", "credit_account__investor__user")
    at = timezone.now()
    notices = []
    for e in rows.order_by("pk"):
        action = e.corporate_action
        context = {
            "instrument": action.instrument.ledger_unit,
            "held": fmt_shares(e.quantity_held),
            "quantity": fmt_shares(e.rights_quantity),
            "price": action.rights_price,
            "end": action.subscription_end.isoformat() if action.subscription_end else "",
            "announcement": action.source_reference,
            "outcome": action.allotment_outcome,
            "reference": action.allotment_reference,
        }
        if stage:
            settled = e.subscriptions.filter(
                status__in=[RightsSubscriptionStatus.ALLOTTED, RightsSubscriptionStatus.REFUNDED]
            ).aggregate(quantity=Sum("quantity"), amount=Sum("amount"))
            if not settled["quantity"]:
                continue
            context["subscribed"] = fmt_shares(settled["quantity"])
            context["paid"] = fmt(settled["amount"])
        notices += notices_build(
            account=e.credit_account,
            kind=NoticeKind.RIGHTS,
            stage=stage,
            entitlement=e,
            at=at,
            context=context,
        )
    return len(notices_save(notices))
