"""The request id: taken from X-Request-ID when sane, made up otherwise, sent back, written on
every log line of the request (text and JSON formats), and carried into the tasks the
request publishes."""

import json
import logging
import re

import pytest
from django.urls import path

from config.ops import request_id
from config.urls import urlpatterns as site_urlpatterns
from tests.integration.conftest import celery_worker_process  # noqa: F401  (a fixture)

pytestmark = pytest.mark.django_db

log = logging.getLogger("margindesk.test.request_id")


def logging_view(request):
    from django.http import HttpResponse

    log.warning("inside the view")
    return HttpResponse("ok")


def failing_view(request):
    from django.http import HttpResponse

    return HttpResponse("gone", status=503)


urlpatterns = [
    path("test-logging/", logging_view),
    path("test-failing/", failing_view),
    *site_urlpatterns,
]


class Capture(logging.Handler):
    """The console handler's filters and both formats, capturing the lines."""

    def __init__(self):
        super().__init__()
        self.records: list[logging.LogRecord] = []
        self.addFilter(request_id.RequestIdFilter())

    def emit(self, record):
        self.records.append(record)


@pytest.fixture
def captured(settings):
    settings.ROOT_URLCONF = "tests.test_request_id"
    handler = Capture()
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield handler
    finally:
        root.removeHandler(handler)


def test_a_sane_incoming_id_is_kept_and_on_every_log_line(client, captured):
    response = client.get("/test-logging/", HTTP_X_REQUEST_ID="lb-7f3c.42:trace")
    assert response["X-Request-ID"] == "lb-7f3c.42:trace"
    mine = [r for r in captured.records if r.name == log.name]
    assert [r.request_id for r in mine] == ["lb-7f3c.42:trace"]


def test_django_s_own_line_for_an_error_answer_carries_the_id(client, captured):
    """Django logs a 5xx answer after the middleware has returned: the id is still set."""
    response = client.get("/test-failing/", HTTP_X_REQUEST_ID="abc-503")
    assert response.status_code == 503
    lines = [r for r in captured.records if r.name == "django.request"]
    assert lines and {r.request_id for r in lines} == {"abc-503"}


@pytest.mark.parametrize(
    "incoming",
    [
        "",  # none
        "two words",  # a space
        "evil\r\nX-Injected: 1",  # a header/log-line injection
        "x" * 129,  # too long
        "-starts-with-dash",
    ],
)
def test_a_missing_or_malformed_id_is_replaced_by_a_new_one(client, captured, incoming):
    response = client.get("/test-logging/", HTTP_X_REQUEST_ID=incoming)
    made = response["X-Request-ID"]
    assert re.fullmatch(r"[0-9a-f]{32}", made), made
    mine = [r for r in captured.records if r.name == log.name]
    assert [r.request_id for r in mine] == [made]


def test_two_requests_get_two_ids_and_none_leaks_after(client, captured):
    first = client.get("/test-logging/")["X-Request-ID"]
    second = client.get("/test-logging/")["X-Request-ID"]
    assert first != second
    # outside a request, a log line says "-"
    log.warning("after the requests")
    assert captured.records[-1].request_id == "-"


def test_the_text_and_json_formats_show_it():
    from django.conf import settings

    record = logging.LogRecord("x", logging.INFO, __file__, 1, "hello %s", ("world",), None)
    token = request_id.request_id.set("rid-1")
    try:
        request_id.RequestIdFilter().filter(record)
    finally:
        request_id.request_id.reset(token)
    text = logging.Formatter(settings.LOGGING["formatters"]["plain"]["format"]).format(record)
    assert " INFO [rid-1] x hello world" in text
    data = json.loads(request_id.JsonFormatter().format(record))
    assert data["request_id"] == "rid-1" and data["message"] == "hello world"
    assert data["level"] == "INFO" and data["logger"] == "x"


def test_a_task_published_inside_a_request_carries_the_id_into_the_worker():
    """The publish signal adds the id to the message headers; the worker's prerun signal
    sets it for the task's run (and its postrun restores what was there)."""
    headers: dict = {}
    token = request_id.request_id.set("from-web-1")
    try:
        request_id.on_before_task_publish(headers=headers)
    finally:
        request_id.request_id.reset(token)
    assert headers == {request_id.TASK_HEADER: "from-web-1"}

    class Req:
        id = "task-uuid"

    class Task:
        request = Req()

    setattr(Task.request, request_id.TASK_HEADER, headers[request_id.TASK_HEADER])
    task = Task()
    request_id.on_task_prerun(task=task)
    assert request_id.current() == "from-web-1"
    request_id.on_task_postrun(task=task)
    assert request_id.current() is None
    # a task started by beat (no id) logs under its own task id
    delattr(Task.request, request_id.TASK_HEADER)
    request_id.on_task_prerun(task=task)
    assert request_id.current() == "task-task-uuid"
    request_id.on_task_postrun(task=task)


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_a_real_worker_logs_the_task_under_the_request_s_id(celery_worker_process):  # noqa: F811
    from config.celery import heartbeat

    token = request_id.request_id.set("web-req-5e1f")
    try:
        result = heartbeat.apply_async(queue=celery_worker_process.queue)
    finally:
        request_id.request_id.reset(token)
    result.get(timeout=60)
    lines = celery_worker_process.log_path.read_text().splitlines()
    mine = [line for line in lines if "heartbeat: " in line]
    assert mine and all("[web-req-5e1f] heartbeat: " in line for line in mine), lines
