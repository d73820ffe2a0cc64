"""The Celery application. Broker and behaviour come from settings (CELERY_* names)."""

import os
import socket

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("margindesk")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@app.task(name="config.celery.heartbeat", ignore_result=False)
def heartbeat() -> dict:
    """Proves a worker can reach PostgreSQL; beat runs it so operators see the desk is alive."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT current_database(), now()")
        database, now = cursor.fetchone()
    return {
        "worker": socket.gethostname(),
        "pid": os.getpid(),
        "database": database,
        "at": now.isoformat(),
    }
