"""The Celery application. Broker and behaviour come from settings (CELERY_* names)."""

import ctypes
import logging
import os
import socket

from celery import Celery
from celery.signals import (
    after_setup_logger,
    after_setup_task_logger,
    beat_init,
    before_task_publish,
    task_postrun,
    task_prerun,
    worker_init,
    worker_process_init,
)

from config.ops import request_id

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("margindesk")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


#: glibc mallopt parameters (malloc.h)
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3


def keep_freed_memory(**_kwargs) -> bool:
    """Let a worker process keep and reuse the memory it frees: a mark-to-market shard allocates
    arrays of tens of megabytes, which glibc by default maps fresh (and pays a page fault per
    4 KiB) and gives back to the system every time; measured, a quarter of a shard's load.
    Allocations up to 32 MiB come from the reusable heap, and freed heap is not trimmed below
    2 GiB. Nothing happens where the C library is not glibc."""
    try:
        libc = ctypes.CDLL("libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    return bool(
        mallopt(_M_MMAP_THRESHOLD, 32 * 1024 * 1024) and mallopt(_M_TRIM_THRESHOLD, 2**31 - 1)
    )


worker_init.connect(keep_freed_memory)  # the worker's own process (solo pool)
worker_process_init.connect(keep_freed_memory)  # each child of the prefork pool


@app.task(name="config.celery.heartbeat", ignore_result=False)
def heartbeat() -> dict:
    """Proves a worker can reach PostgreSQL; beat runs it so operators see the desk is alive."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT current_database(), now()")
        database, now = cursor.fetchone()
    logging.getLogger(__name__).info("heartbeat: %s reaches %s", socket.gethostname(), database)
    return {
        "worker": socket.gethostname(),
        "pid": os.getpid(),
        "database": database,
        "at": now.isoformat(),
    }


# --------------------------------------------------------------------------- operations
# (config/ops/): the request id travels with the tasks a request starts; the beat process
# records a heartbeat each time it sends a task, which /healthz reads.

_IN_BEAT = False


@beat_init.connect
def _mark_beat(**_kwargs) -> None:
    global _IN_BEAT  # one flag for the process: this is the beat process
    _IN_BEAT = True
    _beat_heartbeat_on_send()  # alive from its start, before its first send


@before_task_publish.connect
def _beat_heartbeat_on_send(**_kwargs) -> None:
    if not _IN_BEAT:
        return
    from config.ops.health import beat_heartbeat_record

    try:
        beat_heartbeat_record()
    except Exception:  # Redis down: the send fails too, and /healthz reports the broker
        logging.getLogger(__name__).warning("beat heartbeat not recorded", exc_info=True)


@app.task(name="config.celery.beat_heartbeat", ignore_result=True)
def beat_heartbeat() -> None:
    """Sent by beat every minute so its heartbeat (recorded when beat sends) stays fresh;
    the worker has nothing to do."""


@after_setup_logger.connect
@after_setup_task_logger.connect
def _request_id_in_worker_logs(logger=None, **_kwargs) -> None:
    """Celery's own log handlers get the request id filter (their formats,
    CELERY_WORKER_LOG_FORMAT and CELERY_WORKER_TASK_LOG_FORMAT, print it)."""
    for handler in getattr(logger, "handlers", []):
        handler.addFilter(request_id.RequestIdFilter())


before_task_publish.connect(request_id.on_before_task_publish)
task_prerun.connect(request_id.on_task_prerun)
task_postrun.connect(request_id.on_task_postrun)
