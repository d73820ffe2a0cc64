"""/metrics for Prometheus (text exposition format).

Request metrics come from django-prometheus's two middlewares (first and last in MIDDLEWARE):
`django_http_requests_latency_seconds_by_view_method{view, method}` is the request latency by
route, labelled with the URL pattern's name ("v1:margin-call-detail"), never the raw path, so
ids do not explode the series. Desk metrics are read at scrape time, so every web process
answers the same and nothing is lost with a restart (DeskCollector):

- margindesk_margin_calls_open{stage}: unfinished margin calls by stage (open, overdue,
  liquidating), from PostgreSQL;
- margindesk_mtm_last_run_duration_seconds{kind} and ..._finished_timestamp_seconds{kind}: the
  last finished mark-to-market run of each kind; margindesk_mtm_runs{status} over the last
  24 hours (running ones included);
- margindesk_celery_queue_length{queue}: messages waiting in each Celery queue (Redis LLEN);
- margindesk_beat_heartbeat_age_seconds and margindesk_calendar_days_left.

Access: only from the addresses in METRICS_ALLOWED_NETWORKS, or with
`Authorization: Bearer <METRICS_TOKEN>` when a token is set; anything else is 403.

Several gunicorn workers: set PROMETHEUS_MULTIPROC_DIR (an empty directory, emptied at each
start) so prometheus-client keeps the request metrics in shared files and every worker's
/metrics answers for all of them (docs/OPERATIONS.md)."""

from __future__ import annotations

import hmac
import ipaddress
import logging
import os
from datetime import timedelta

from django.conf import settings
from django.http import HttpResponse, HttpResponseForbidden
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector

log = logging.getLogger(__name__)

#: stages of a margin call that is not finished (lending.margin_calls.models
#: UNFINISHED_CALL_STATUSES), always all reported, 0 when none
OPEN_CALL_STAGES = ("open", "overdue", "liquidating")


def celery_queues() -> list[str]:
    """The queues whose depth is reported: the default queue and METRICS_CELERY_QUEUES."""
    names = [settings.CELERY_TASK_DEFAULT_QUEUE, *settings.METRICS_CELERY_QUEUES]
    return list(dict.fromkeys(names))


class DeskCollector:
    """Read at each scrape; one failing source is logged and skipped, never a 500."""

    def collect(self):
        for source in (self._calls, self._runs, self._queues, self._beat, self._calendar):
            try:
                yield from source()
            except Exception:
                log.warning("metrics: %s failed", source.__name__, exc_info=True)

    def _calls(self):
        from django.db.models import Count

        from lending.models import MarginCall

        counts = dict(
            MarginCall.objects.filter(status__in=OPEN_CALL_STAGES)
            .order_by()
            .values("status")
            .annotate(n=Count("pk"))
            .values_list("status", "n")
        )
        family = GaugeMetricFamily(
            "margindesk_margin_calls_open", "Unfinished margin calls by stage.", labels=["stage"]
        )
        for stage in OPEN_CALL_STAGES:
            family.add_metric([stage], counts.get(stage, 0))
        yield family

    def _runs(self):
        from django.db.models import Count

        from lending.models import MtmRun

        duration = GaugeMetricFamily(
            "margindesk_mtm_last_run_duration_seconds",
            "Duration of the last finished mark-to-market run of each kind.",
            labels=["kind", "status"],
        )
        finished = GaugeMetricFamily(
            "margindesk_mtm_last_run_finished_timestamp_seconds",
            "When the last finished mark-to-market run of each kind ended (Unix time).",
            labels=["kind", "status"],
        )
        for kind in MtmRun.objects.order_by().values_list("kind", flat=True).distinct():
            run = (
                MtmRun.objects.filter(
                    kind=kind, finished_at__isnull=False, started_at__isnull=False
                )
                .order_by("-finished_at", "-pk")
                .only("kind", "status", "started_at", "finished_at")
                .first()
            )
            if run is None:
                continue
            seconds = (run.finished_at - run.started_at).total_seconds()
            duration.add_metric([run.kind, run.status], seconds)
            finished.add_metric([run.kind, run.status], run.finished_at.timestamp())
        yield duration
        yield finished
        since = timezone.now() - timedelta(hours=24)
        by_status = dict(
            MtmRun.objects.filter(created_at__gte=since)
            .order_by()
            .values("status")
            .annotate(n=Count("pk"))
            .values_list("status", "n")
        )
        runs = GaugeMetricFamily(
            "margindesk_mtm_runs",
            "Mark-to-market runs created in the last 24 hours by status.",
            labels=["status"],
        )
        for status in ("pending", "running", "succeeded", "failed"):
            runs.add_metric([status], by_status.get(status, 0))
        yield runs

    def _queues(self):
        from config.ops.health import _redis

        family = GaugeMetricFamily(
            "margindesk_celery_queue_length",
            "Messages waiting in each Celery queue (Redis list length).",
            labels=["queue"],
        )
        client = _redis()
        try:
            for queue in celery_queues():
                family.add_metric([queue], client.llen(queue))
        finally:
            client.close()
        yield family

    def _beat(self):
        from config.ops.health import beat_heartbeat_age

        age = beat_heartbeat_age()
        if age is not None:
            yield GaugeMetricFamily(
                "margindesk_beat_heartbeat_age_seconds",
                "Seconds since celery beat last sent a task.",
                value=age,
            )

    def _calendar(self):
        from compliance.selectors import calendar_horizon

        horizon = calendar_horizon()
        if horizon.days_left is not None:
            yield GaugeMetricFamily(
                "margindesk_calendar_days_left",
                "Calendar days until the last session of the known trading calendar.",
                value=horizon.days_left,
            )


class _ProcessMetrics:
    """This process's own registry (django-prometheus's request metrics) as one collector."""

    def collect(self):
        return REGISTRY.collect()


def registry_for_scrape() -> CollectorRegistry:
    """A registry for one scrape: this process's metrics, or under PROMETHEUS_MULTIPROC_DIR
    every process's files merged, plus the desk's metrics read now. A new registry each time,
    so concurrent scrapes in threads share nothing."""
    registry = CollectorRegistry(auto_describe=False)
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        MultiProcessCollector(registry)
    else:
        registry.register(_ProcessMetrics())
    registry.register(DeskCollector())
    return registry


def allowed(request) -> bool:
    token = settings.METRICS_TOKEN
    header = request.headers.get("Authorization", "")
    if token and header.startswith("Bearer "):
        return hmac.compare_digest(header.removeprefix("Bearer ").strip(), token)
    try:
        address = ipaddress.ip_address(request.META.get("REMOTE_ADDR", ""))
    except ValueError:
        return False
    return any(
        address in ipaddress.ip_network(net, strict=False)
        for net in settings.METRICS_ALLOWED_NETWORKS
    )


@never_cache
@require_safe
def metrics(request):
    if not allowed(request):
        return HttpResponseForbidden(
            "metrics: not from an allowed address and no valid bearer token\n",
            content_type="text/plain; charset=utf-8",
        )
    return HttpResponse(generate_latest(registry_for_scrape()), content_type=CONTENT_TYPE_LATEST)
