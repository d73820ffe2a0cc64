"""Project wiring: settings, URLs, the Celery app. Holds no business rules."""

from .celery import app as celery_app

__all__ = ("celery_app",)
