"""Reads of liquidation plans for pages and the API, within what the user may see."""

from django.db.models import Q, QuerySet
from django.utils.translation import gettext as _

from accounts.errors import NotFound
from lending.liquidation.models import (
    UNFINISHED_PLAN_STATUSES,
    LiquidationOrder,
    LiquidationOrderStatus,
    LiquidationPlan,
    LiquidationPlanStatus,
)
from lending.margin_calls.selectors import _visible
from lending.orders.models import WORKING


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
        raise NotFound(_("liquidation plan %(pk)s: not found") % {"pk": pk})
    return plan


def orders_of(plan: LiquidationPlan) -> QuerySet[LiquidationOrder]:
    """Every order placed for `plan` (a plan the caller may see), oldest first, with its
    `lending.Order`."""
    return LiquidationOrder.objects.filter(line__plan=plan).select_related("line", "order")


def working_orders_of(plan: LiquidationPlan) -> QuerySet[LiquidationOrder]:
    """The orders of `plan` still working: not filled, cancelled, rejected or expired (read
    on the order itself where there is one)."""
    return orders_of(plan).filter(
        Q(order__isnull=False, order__status__in=WORKING)
        | Q(order__isnull=True, status=LiquidationOrderStatus.WORKING)
    )


def replannable(plan: LiquidationPlan) -> bool:
    """A plan being executed with something unsold and no order working: its remainder is
    re-planned (liquidation_replan)."""
    if plan.status != LiquidationPlanStatus.EXECUTING:
        return False
    if working_orders_of(plan).exists():
        return False
    return any(line.remaining_quantity > 0 for line in plan.lines.all())
