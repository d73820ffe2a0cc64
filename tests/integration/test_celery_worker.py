"""A real Celery worker process on the local Redis completes a task against PostgreSQL."""

import pytest

from config.celery import heartbeat

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def test_worker_process_runs_a_task_through_redis(celery_worker_process):
    result = heartbeat.apply_async(queue=celery_worker_process.queue)
    payload = result.get(timeout=60)
    assert payload["pid"] == celery_worker_process.pid
    assert payload["database"] == celery_worker_process.database
