"""Compliance's Celery tasks (beat): the daily check of the trading calendar's horizon."""

import logging

from celery import shared_task

logger = logging.getLogger(__name__)


@shared_task(name="compliance.tasks.calendar_horizon_check", acks_late=True, time_limit=120)
def calendar_horizon_check() -> str:
    """Warn (the log and the staff pages) from the dated warning period before the last
    session the calendar knows, naming the year whose holidays must be entered."""
    from compliance import selectors

    horizon = selectors.calendar_horizon()
    if horizon.level != "ok":
        logger.warning(
            "trading calendar %s: last known session %s (%s days); enter the %s holidays",
            horizon.level,
            horizon.last_session,
            horizon.days_left,
            horizon.next_year,
        )
    return horizon.level
