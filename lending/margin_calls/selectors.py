"""Reads of the margin-call lifecycle for pages, the API and reports.

Visibility: an investor sees the calls, notices and plans of their own credit account only;
staff see everything their role may view (lending.view_margincall, ...); anyone else sees
nothing. A row outside what the user may see answers NotFound (404), never 403.
"""

from decimal import Decimal

from django.db.models import QuerySet
from django.utils.translation import gettext as _

from accounts.errors import NotFound
from lending.financing.models import BankCredit, BankCreditStatus
from lending.margin_calls.models import (
    UNFINISHED_CALL_STATUSES,
    AccountMarginState,
    MarginCall,
    MarginEvent,
    Notice,
)


def _visible(qs: QuerySet, user, perm: str, owner_field: str) -> QuerySet:
    if user is None or not user.is_authenticated:
        return qs.none()
    if getattr(user, "investor_profile", None) is not None and not user.is_staff:
        return qs.filter(**{owner_field: user})
    if user.is_staff and user.has_perm(perm):
        return qs
    return qs.none()


def calls_for(user, *, status: str | None = None) -> QuerySet[MarginCall]:
    qs = MarginCall.objects.select_related("credit_account__investor")
    qs = _visible(qs, user, "lending.view_margincall", "credit_account__investor__user")
    if status == "unfinished":
        qs = qs.filter(status__in=UNFINISHED_CALL_STATUSES)
    elif status:
        qs = qs.filter(status=status)
    return qs.order_by("-issued_at", "-pk")


def call_for(user, pk: int) -> MarginCall:
    call = calls_for(user).filter(pk=pk).first()
    if call is None:
        raise NotFound(_("margin call %(pk)s: not found") % {"pk": pk})
    return call


def open_calls(user) -> QuerySet[MarginCall]:
    """Unfinished calls, the nearest deadline first (the staff page)."""
    return calls_for(user, status="unfinished").order_by("deadline", "pk")


def notices_for(user, *, call: MarginCall | None = None) -> QuerySet[Notice]:
    qs = Notice.objects.select_related("credit_account", "call")
    qs = _visible(qs, user, "lending.view_notice", "credit_account__investor__user")
    if call is not None:
        qs = qs.filter(call=call)
    return qs.order_by("-created_at", "-pk")


def notice_for(user, pk: int) -> Notice:
    notice = notices_for(user).filter(pk=pk).first()
    if notice is None:
        raise NotFound(_("notice %(pk)s: not found") % {"pk": pk})
    return notice


def margin_state_of(credit_account) -> AccountMarginState | None:
    """No query when the account was read with its state joined (lending.portal.selectors)."""
    related = AccountMarginState.credit_account.field.remote_field  # CreditAccount.margin_state
    if related.is_cached(credit_account):
        return related.get_cached_value(credit_account)
    return AccountMarginState.objects.filter(credit_account=credit_account).first()


def events_of(call: MarginCall) -> QuerySet[MarginEvent]:
    return MarginEvent.objects.filter(call=call).select_related("actor").order_by("occurred_at")


def money_received_since(calls) -> dict[int, Decimal]:
    """{call id: what came into its account since it was issued and was credited} (the bank
    statement's credit lines), in one query: what the investor sees beside the calls that
    asked for money."""
    calls = list(calls)
    if not calls:
        return {}
    credits = list(
        BankCredit.objects.filter(
            investor_id__in={c.credit_account.investor_id for c in calls},
            status=BankCreditStatus.CREDITED,
            created_at__gte=min(c.issued_at for c in calls),
        ).values_list("investor_id", "created_at", "amount")
    )
    return {
        c.pk: sum(
            (
                amount
                for investor_id, at, amount in credits
                if investor_id == c.credit_account.investor_id and at >= c.issued_at
            ),
            Decimal(0),
        )
        for c in calls
    }
