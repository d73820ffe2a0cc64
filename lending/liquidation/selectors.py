"""Reads of liquidation plans for pages and the API, within what the user may see."""

from django.db.models import QuerySet

from accounts.errors import NotFound
from lending.liquidation.models import (
    UNFINISHED_PLAN_STATUSES,
    LiquidationOrder,
    LiquidationOrderStatus,
    LiquidationPlan,
)
from lending.margin_calls.selectors import _visible


def plans_for(user, *, status: str | None = None) -> QuerySet[LiquidationPlan]:
    qs = LiquidationPlan.objects.select_related(
        "call__credit_account", "prepared_by", "approved_by"
    ).prefetch_related("lines")
    qs = _visible(qs, user, "lending.view_liquidationplan", "call__credit_account__investor__user")
    if status == "unfinished":
        qs = qs.filter(status__in=UNFINISHED_PLAN_STATUSES)
    elif status:
        qs = qs.filter(status=status)
    return qs.order_by("-prepared_at", "-pk")


def plan_for(user, pk: int) -> LiquidationPlan:
    plan = plans_for(user).filter(pk=pk).first()
    if plan is None:
        raise NotFound(f"liquidation plan {pk}: not found")
    return plan


def orders_of(plan: LiquidationPlan) -> QuerySet[LiquidationOrder]:
    """Every order sent for `plan` (a plan the caller may see), oldest first."""
    return LiquidationOrder.objects.filter(line__plan=plan).select_related("line")


def working_orders_of(plan: LiquidationPlan) -> QuerySet[LiquidationOrder]:
    """The orders of `plan` still working: not filled, cancelled or rejected."""
    return orders_of(plan).filter(status=LiquidationOrderStatus.WORKING)
