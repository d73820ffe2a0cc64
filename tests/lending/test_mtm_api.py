"""Mark-to-market API and staff page: the risk role starts a run (others get 403); progress is
readable while it runs; the page lists runs with a progress bar and the start button."""

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from lending.models import MtmRun

pytestmark = pytest.mark.django_db


def client_for(user):
    client = APIClient()
    client.force_authenticate(user)
    return client


def test_start_and_follow_a_run(staff, django_capture_on_commit_callbacks):
    url = reverse("v1:lending-mtm-run-list")
    assert client_for(staff["ops"]).post(url, {}, format="json").status_code == 403
    response = client_for(staff["risk"]).post(url, {}, format="json")
    assert response.status_code == 202, response.content
    body = response.json()
    # an empty book: the run finishes at once without enqueueing anything
    assert body["status"] == "succeeded" and body["progress"] == 0
    run = MtmRun.objects.get(pk=body["id"])
    detail = client_for(staff["ops"]).get(reverse("v1:lending-mtm-run-detail", args=[run.pk]))
    assert detail.status_code == 200
    for key in ("status", "progress", "accounts", "calls_issued", "started_at", "finished_at"):
        assert key in detail.json()
    listing = client_for(staff["auditor"]).get(url)
    assert listing.status_code == 200 and listing.json()[0]["id"] == run.pk


def test_staff_page_lists_runs_and_offers_the_start_to_risk(client, staff):
    MtmRun.objects.create(status="running", shards_total=4, shards_done=1)
    client.force_login(staff["risk"])
    page = client.get(reverse("staff:lending-mtm-runs"))
    assert page.status_code == 200
    html = page.content.decode()
    assert "<progress" in html and "data-polling" in html and "mtm.js" in html
    assert "Start run" in html or "启动估值" in html
    client.force_login(staff["ops"])
    html = client.get(reverse("staff:lending-mtm-runs")).content.decode()
    assert "Start run" not in html and "启动估值" not in html
