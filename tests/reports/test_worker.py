"""The Celery path through a real worker process on Redis, against the test database."""

import time
import uuid

import pytest
from django.db import connection
from django.utils import timezone

from config.celery import app
from reports import canonical, services
from reports.models import Filing
from tests.integration.conftest import start_worker, stop_worker, wait_until_ready
from tests.second_factor import login_verified

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def reports_worker(tmp_path, settings, monkeypatch):
    media = tmp_path / "media"
    settings.MEDIA_ROOT = media
    monkeypatch.setenv("MEDIA_ROOT", str(media))  # the worker process stores files there
    queue = f"test-reports-{uuid.uuid4().hex[:12]}"
    settings.REPORTS_TASK_QUEUE = queue
    log_path = tmp_path / "worker.log"
    worker = start_worker(queue, connection.settings_dict["NAME"], "reports", log_path)
    try:
        wait_until_ready(worker, log_path)
        yield worker
    finally:
        stop_worker(worker)
        with app.connection_for_write() as conn:
            conn.default_channel.queue_delete(queue)


def test_filing_is_generated_by_a_worker_process(client, officers, make_investor, reports_worker):
    from custody.services.client import client_deposit_post

    investor = make_investor(bank_account="6217000000000000444")
    client_deposit_post(
        investor=investor,
        amount="500.00",
        currency="CNY",
        bank_account="6217000000000000444",
        reference="t",
        actor=None,
        idempotency_key="w-1",
    )
    as_of = timezone.now()
    login_verified(client, officers[0])
    response = client.post(
        "/api/v1/filings/", {"kind": "segregation", "as_of": as_of.isoformat()}, "application/json"
    )
    assert response.status_code == 202
    filing_id = response.json()["id"]
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        filing = Filing.objects.get(pk=filing_id)
        if filing.status in ("prepared", "failed"):
            break
        time.sleep(0.5)
    assert filing.status == "prepared", (filing.error, filing.progress_note)
    assert filing.progress == 100
    assert canonical.sha256_hex(filing.pdf_file.open("rb").read()) == filing.pdf_sha256
    # the worker's data hash is the one this process computes for the same as-of time ...
    expected = canonical.data_hash(services.filing_snapshot(kind="segregation", as_of=as_of))
    assert filing.data_sha256 == expected
    # ... and money booked after as_of (in its own transaction) does not change it
    client_deposit_post(
        investor=investor,
        amount="7.00",
        currency="CNY",
        bank_account="6217000000000000444",
        reference="later",
        actor=None,
        idempotency_key="w-2",
    )
    again = canonical.data_hash(services.filing_snapshot(kind="segregation", as_of=as_of))
    assert again == filing.data_sha256
    later = canonical.data_hash(services.filing_snapshot(kind="segregation", as_of=timezone.now()))
    assert later != filing.data_sha256
