"""A request id in every log line: taken from the X-Request-ID header when it is a sane token
(a proxy or load balancer set it), made up otherwise, sent back on the response, and carried
into the Celery tasks the request starts.

`RequestIdMiddleware` (first in MIDDLEWARE) sets a context variable for the request (cleared
when it is finished); `RequestIdFilter` (on the console handler) copies it onto every record as
`request_id` ("-" outside a request or task); `JsonFormatter` writes one JSON object per line
(LOG_FORMAT=json). Celery: a task published while an id is set carries it in its message
headers (before_task_publish), and the worker sets it for the task's run (task_prerun), so the
worker's log lines of that task show the same id as the web request that queued it."""

from __future__ import annotations

import contextlib
import json
import logging
import re
import uuid
from contextvars import ContextVar

from django.core.signals import request_finished

HEADER = "X-Request-ID"
TASK_HEADER = "margindesk_request_id"

#: what an incoming id may look like: a UUID, a load balancer's trace id (letters, digits,
#: "-", "_", ".", ":", "/", "=", "+"), at most 128 characters. Anything else is replaced, so a
#: header cannot inject a newline or a forged field into a log line.
VALID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:/=+-]{0,127}")

request_id: ContextVar[str | None] = ContextVar("request_id", default=None)


def new_id() -> str:
    return uuid.uuid4().hex


def accepted(value: str | None) -> str | None:
    """`value` when it is a valid id, else None."""
    if value and VALID.fullmatch(value):
        return value
    return None


def current() -> str | None:
    return request_id.get()


class RequestIdMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        rid = accepted(request.headers.get(HEADER)) or new_id()
        request.request_id = rid
        # left set after the response: Django logs a 4xx/5xx answer after the middleware
        # returns, and that line must carry the id too; request_finished clears it
        request_id.set(rid)
        response = self.get_response(request)
        response[HEADER] = rid
        return response


def clear(**_kwargs) -> None:
    request_id.set(None)


request_finished.connect(clear, dispatch_uid="margindesk-request-id-clear")


class RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = request_id.get() or "-"
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object a line: time, level, logger, request_id, message (and the exception)."""

    def format(self, record: logging.LogRecord) -> str:
        data = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S%z"),
            "level": record.levelname,
            "logger": record.name,
            "request_id": getattr(record, "request_id", None) or request_id.get() or "-",
            "message": record.getMessage(),
        }
        if record.exc_info:
            data["exception"] = self.formatException(record.exc_info)
        return json.dumps(data, ensure_ascii=False)


# --------------------------------------------------------------------------- Celery


def on_before_task_publish(headers=None, **_kwargs) -> None:
    """A task published inside a request (or another task) carries the id."""
    rid = request_id.get()
    if rid and headers is not None and TASK_HEADER not in headers:
        headers[TASK_HEADER] = rid


def on_task_prerun(task=None, **_kwargs) -> None:
    rid = accepted(getattr(task.request, TASK_HEADER, None)) if task is not None else None
    if rid is None and task is not None:
        rid = accepted((getattr(task.request, "headers", None) or {}).get(TASK_HEADER))
    task._margindesk_request_id_token = request_id.set(rid or f"task-{task.request.id}")


def on_task_postrun(task=None, **_kwargs) -> None:
    token = getattr(task, "_margindesk_request_id_token", None)
    if token is not None:
        task._margindesk_request_id_token = None
        with contextlib.suppress(ValueError):  # set in another context (never expected)
            request_id.reset(token)
