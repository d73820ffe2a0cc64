"""The staff console's home: the risk dashboard and the work queues, read through
reports.dashboard from a real book (credit accounts, a price fall, a margin call)."""

import pytest
from django.urls import reverse

from reports import dashboard
from tests.lending.book_fixtures import price_set
from tests.lending.calls_fixtures import MOUTAI, PINGAN, sh

pytestmark = pytest.mark.django_db


@pytest.fixture
def called(account):
    """`account` after a fall below the call line (ratio 126.57%) and a margin call."""
    from lending.margin_calls import services as calls

    price_set(MOUTAI, "48.00")
    price_set(PINGAN, "5.80")
    return calls.account_revalue(credit_account=account, now=sh(2026, 9, 30, 10, 0)).call


def test_dashboard_counts_states_ratios_and_calls(called, make_credit_account, staff):
    make_credit_account()  # a second account, never valued: counted as normal, no ratio
    board = dashboard.dashboard_for(staff["risk"])
    by_state = {s.state: s.count for s in board.states}
    assert board.accounts_total == 2
    assert by_state["call"] == 1 and by_state["normal"] == 1
    assert board.distribution.source == "last_valuation"
    bucket = next(b for b in board.distribution.buckets if b.count)
    assert bucket.label == "110–130%" and board.distribution.total == 1
    assert [c.pk for c in board.open_calls] == [called.pk] and board.open_calls_total == 1
    queues = {q.key: q for q in board.queues}
    assert set(queues) == {"credit", "liquidations", "breaks", "filings", "held"}
    assert queues["credit"].count == 0 and queues["liquidations"].count == 0


def test_mtm_run_snapshots_feed_the_distribution_and_runs_show_progress(account, staff):
    from lending.mtm.models import MtmRun, MtmSnapshot

    done = MtmRun.objects.create(status="succeeded", shards_total=2, shards_done=2)
    MtmSnapshot.objects.create(
        run=done,
        shard=0,
        accounts=[account.pk, account.pk + 1],
        ratios=[2.4, float("inf")],  # the second without debt
        assets=[1.0, 1.0],
        liabilities=[1.0, 0.0],
        states=[0, 0],
        stored_states=[0, 0],
    )
    running = MtmRun.objects.create(status="running", shards_total=4, shards_done=1)
    board = dashboard.dashboard_for(staff["auditor"])
    assert board.distribution.source == "mtm" and board.distribution.run == done
    assert [(b.label, b.count) for b in board.distribution.buckets if b.count] == [("200–300%", 1)]
    assert board.distribution.no_debt == 1
    assert board.runs[0] == running and board.running


def test_dashboard_page_in_both_languages_with_the_second_factor_banner(called, make_user, client):
    client.force_login(make_user("operations"))  # no authenticator enrolled yet
    page = client.get(reverse("staff:home"), HTTP_ACCEPT_LANGUAGE="en")
    html = page.content.decode()
    assert page.status_code == 200
    assert "Set up two-factor sign-in" in html
    assert "Distribution of maintenance ratios" in html and "<svg" in html
    assert f'href="{reverse("staff:lending-margin-call-detail", args=[called.pk])}"' in html
    assert 'data-queue="credit"' in html
    page = client.get(reverse("staff:home"), HTTP_ACCEPT_LANGUAGE="zh-CN")
    assert "维持担保比例分布" in page.content.decode()


def test_dashboard_is_staff_only(make_user, client):
    client.force_login(make_user("investor"))
    assert client.get(reverse("staff:home")).status_code == 403
