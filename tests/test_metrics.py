"""/metrics: the request latency series of a route (by its URL pattern name) after a request,
open margin calls by stage equal to the database's, the last mark-to-market run's duration,
Celery queue depth from Redis, and who may scrape."""

from datetime import timedelta

import pytest
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from tests.binaries import need_binary
from tools.private_services import PrivateRedis

pytestmark = pytest.mark.django_db

LATENCY = "django_http_requests_latency_seconds_by_view_method"


def scrape(client, **extra) -> dict:
    """{(sample name, frozenset(labels)): value} of one scrape."""
    response = client.get("/metrics", **extra)
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/plain; version=")
    samples = {}
    for family in text_string_to_metric_families(response.content.decode()):
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return samples


def value(samples, name, **labels):
    return samples.get((name, frozenset(labels.items())))


def test_a_request_shows_in_its_route_s_latency_series(client, make_investor):
    investor = make_investor()
    client.force_login(investor.user)
    before = value(scrape(client), f"{LATENCY}_count", view="v1:me", method="GET") or 0

    assert client.get("/api/v1/me/").status_code == 200
    assert client.get("/api/v1/me/").status_code == 200

    after = scrape(client)
    # two more requests on the route named v1:me (the pattern's name, not the path)
    assert value(after, f"{LATENCY}_count", view="v1:me", method="GET") == before + 2
    assert value(after, f"{LATENCY}_sum", view="v1:me", method="GET") > 0
    assert not [key for key in after if ("view", "/api/v1/me/") in key[1]]


def test_open_calls_by_stage_match_the_database(client, funded_account, staff):
    from lending.margin_calls import services as calls
    from lending.models import MarginCall
    from tests.lending.calls_fixtures import MOUTAI, PINGAN, overdue_call, sh

    empty = scrape(client)
    for stage in ("open", "overdue", "liquidating"):
        assert value(empty, "margindesk_margin_calls_open", stage=stage) == 0

    # given: one account's call overdue (issued 30 September, unpaid after 9 October), then a
    # second account's call issued on 12 October and still open
    book = {"deposit": "200000", "own": ((MOUTAI, 2000, "100.00"),)}
    first = funded_account(**book, financed=((PINGAN, 14000, "10.00"),))
    second = funded_account(**book, financed=((PINGAN, 14000, "10.00"),))
    overdue_call(first, staff)  # prices fall to 48.00 and 5.80; first's call overdue
    assert calls.account_revalue(credit_account=second, now=sh(2026, 10, 12, 10, 0)).call

    samples = scrape(client)

    # then: open 1, overdue 1, liquidating 0, as PostgreSQL counts them
    got = {s: value(samples, "margindesk_margin_calls_open", stage=s) for s in
           ("open", "overdue", "liquidating")}  # fmt: skip
    assert got == {"open": 1, "overdue": 1, "liquidating": 0}
    for stage, n in got.items():
        assert MarginCall.objects.filter(status=stage).count() == n


def test_the_last_run_s_duration_per_kind(client):
    from lending.models import MtmRun

    t0 = timezone.now() - timedelta(minutes=10)
    MtmRun.objects.create(
        kind="full", status="succeeded", started_at=t0, finished_at=t0 + timedelta(seconds=40)
    )
    later = t0 + timedelta(minutes=5)
    MtmRun.objects.create(  # the last one: 12.5 s
        kind="full",
        status="succeeded",
        started_at=later,
        finished_at=later + timedelta(seconds=12.5),
    )
    MtmRun.objects.create(kind="full", status="running", started_at=timezone.now())

    samples = scrape(client)

    name = "margindesk_mtm_last_run_duration_seconds"
    assert value(samples, name, kind="full", status="succeeded") == 12.5
    assert value(samples, "margindesk_mtm_runs", status="succeeded") == 2
    assert value(samples, "margindesk_mtm_runs", status="running") == 1


def test_queue_depth_is_the_redis_list_length(client, settings):
    need_binary("redis-server", "a private Redis for the queue depth")
    from config.celery import app, heartbeat

    server = PrivateRedis()
    server.start()
    try:
        settings.CELERY_BROKER_URL = server.url(0)
        settings.METRICS_CELERY_QUEUES = ["metrics-test"]
        with app.connection_for_write(server.url(0)) as conn:
            for _ in range(3):  # no worker consumes them
                heartbeat.apply_async(queue="metrics-test", connection=conn)
        samples = scrape(client)
    finally:
        server.stop()
    assert value(samples, "margindesk_celery_queue_length", queue="metrics-test") == 3
    default = settings.CELERY_TASK_DEFAULT_QUEUE
    assert value(samples, "margindesk_celery_queue_length", queue=default) == 0


def test_only_allowed_addresses_or_the_bearer_token_may_scrape(client, settings):
    settings.METRICS_TOKEN = "s3cret-scrape-token"
    outside = {"REMOTE_ADDR": "203.0.113.9"}
    assert client.get("/metrics", **outside).status_code == 403
    wrong = {**outside, "HTTP_AUTHORIZATION": "Bearer nope"}
    assert client.get("/metrics", **wrong).status_code == 403
    right = {**outside, "HTTP_AUTHORIZATION": "Bearer s3cret-scrape-token"}
    assert client.get("/metrics", **right).status_code == 200
    settings.METRICS_ALLOWED_NETWORKS = ["203.0.113.0/24"]
    assert client.get("/metrics", **outside).status_code == 200
    # without a token configured, a bearer header opens nothing
    settings.METRICS_TOKEN = ""
    settings.METRICS_ALLOWED_NETWORKS = ["127.0.0.1/32"]
    assert client.get("/metrics", **wrong).status_code == 403
    assert client.post("/metrics").status_code == 405
