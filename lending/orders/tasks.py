"""Thin Celery tasks of orders: apply the execution reports the gateway stored, and sweep up
reports whose task was lost."""

from celery import shared_task

from lending.common.tasks import LIMITS


@shared_task(name="lending.tasks.execution_reports_apply", reject_on_worker_lost=True, **LIMITS)
def execution_reports_apply(order_id: int) -> int:
    """Apply the order's stored execution reports, in the order received, once each."""
    from lending.orders import services

    return services.execution_reports_apply(order_id=order_id)


@shared_task(name="lending.tasks.execution_reports_sweep", **LIMITS)
def execution_reports_sweep() -> int:
    """Re-enqueue the orders whose reports wait unapplied (a worker lost, the broker down)."""
    from lending.orders import services

    order_ids = services.unapplied_orders()
    for order_id in order_ids:
        execution_reports_apply.delay(order_id)
    return len(order_ids)


@shared_task(name="lending.tasks.orders_expire_unsent", **LIMITS)
def orders_expire_unsent(trade_date: str | None = None) -> int:
    """At the close: orders the gateway never sent expire and hold nothing back."""
    from datetime import date

    from django.utils import timezone

    from lending.orders import services

    day = date.fromisoformat(trade_date) if trade_date else timezone.localdate()
    return services.expire_unsent_orders(trade_date=day)


__all__ = ["execution_reports_apply", "execution_reports_sweep", "orders_expire_unsent"]
