"""Duplicate and out-of-order price ticks through the API, with the revaluation they trigger.

tests/lending/test_book_services.py (test_prices_idempotent_and_out_of_order_never_overwrite)
already checks the ingest service's counts and that an older tick never overwrites the latest
price. This extends it end to end: POST /api/v1/prices/ in committed transactions, so the price
hook runs (lending.mtm.tasks.on_prices_moved, Celery in eager mode: the revaluation runs here)
and a tick that moves the latest price revalues its holders once. A repeated tick (again, or
twice in one batch) and an older tick must not: no second incremental run, no call or notice
twice; the calls always equal the independent computation at the latest prices."""

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from config.celery import app
from lending.instruments import services as instruments_services
from lending.models import LatestPrice, MarginCall, MtmRun, Notice
from lending.mtm import services as mtm
from tests.faults.conftest import assert_ledger_intact, duplicate_notices, ledger_state, report
from tests.lending.calls_fixtures import MOUTAI
from tests.lending.mtm_fixtures import expected_calls

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

S = timezone.timedelta(seconds=1)


@pytest.fixture
def quiet_book(request, monkeypatch):
    """mtm_book built with the price hooks off (they would send to the shared Redis); the
    test turns them back on, with Celery eager."""
    hooks = list(instruments_services.PRICE_HOOKS)
    monkeypatch.setattr(instruments_services, "PRICE_HOOKS", [])
    accounts = request.getfixturevalue("mtm_book")
    monkeypatch.setattr(instruments_services, "PRICE_HOOKS", hooks)
    saved = {k: app.conf[k] for k in ("task_always_eager", "task_eager_propagates")}
    app.conf.update(task_always_eager=True, task_eager_propagates=True)
    try:
        yield accounts
    finally:
        app.conf.update(saved)


def test_duplicate_and_older_ticks_change_nothing_and_revalue_nobody(quiet_book, staff):
    api = APIClient()
    api.force_authenticate(staff["risk"])
    tried = {"ticks": 0, "accepted": 0, "ignored": 0}

    def post(*ticks):
        body = {
            "source": "feed",
            "ticks": [{"instrument": i, "price": p, "at": at.isoformat()} for i, p, at in ticks],
        }
        response = api.post("/api/v1/prices/", body, format="json")
        assert response.status_code == 200, response.content
        data = response.json()
        tried["ticks"] += len(ticks)
        tried["accepted"] += data["accepted"]
        tried["ignored"] += data["ignored"]
        return data["accepted"], data["ignored"]

    def revaluations():
        return MtmRun.objects.filter(kind="incremental").count()

    def calls():
        return sorted(MarginCall.objects.values_list("credit_account_id", flat=True))

    # given: the book valued at the fixture's prices (MOUTAI 48.00): two calls
    run = mtm.mtm_run_create(trigger="test", shard_size=50)
    mtm.mtm_shard_process(run_id=run.pk, shard=0)
    assert calls() == sorted(expected_calls(quiet_book)) and len(calls()) == 2
    ledger_before = ledger_state()
    t = LatestPrice.objects.get(instrument__code="600519").at

    # a newer tick moves MOUTAI to 45.00: one revaluation of its holders, one call more
    assert post((MOUTAI, "45.00", t + S)) == (1, 0)
    assert revaluations() == 1
    after_move = calls()
    assert after_move == sorted(expected_calls(quiet_book)) and len(after_move) == 3

    # the same tick again, and twice in one batch with a fresh one
    assert post((MOUTAI, "45.00", t + S)) == (0, 1)
    assert post((MOUTAI, "44.90", t + 2 * S), (MOUTAI, "44.90", t + 2 * S)) == (1, 1)
    assert revaluations() == 2  # the fresh one moved the price: one revaluation, not two
    notices = Notice.objects.count()
    assert post((MOUTAI, "44.90", t + 2 * S)) == (0, 1)

    # older ticks (a feed replaying the morning) are kept as history, never as the price
    assert post((MOUTAI, "30.00", t - 60 * S)) == (1, 0)
    assert post((MOUTAI, "10.00", t - 120 * S), (MOUTAI, "44.90", t + 2 * S)) == (1, 1)
    latest = LatestPrice.objects.get(instrument__code="600519")
    assert (str(latest.price), latest.at) == ("44.9000", t + 2 * S)

    # then: nothing beyond the two moves was revalued, called or noticed
    assert revaluations() == 2
    assert calls() == after_move == sorted(expected_calls(quiet_book))
    assert Notice.objects.count() == notices and duplicate_notices() == 0
    again = mtm.mtm_run_create(trigger="test", shard_size=50)
    mtm.mtm_shard_process(run_id=again.pk, shard=0)
    again.refresh_from_db()
    assert again.calls_issued == 0 and calls() == after_move
    assert_ledger_intact(ledger_before, ledger_state())
    report(
        f"price-ticks: {tried['ticks']} ticks posted in 6 requests: {tried['accepted']} "
        f"accepted (2 moved the latest price, 2 older kept as history only), "
        f"{tried['ignored']} ignored as repeats; 2 revaluations (one per move); calls 2 -> "
        f"{len(calls())}, none twice; latest price unchanged by the older ticks"
    )
