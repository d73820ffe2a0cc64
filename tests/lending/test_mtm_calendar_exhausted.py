"""Issue 18 item 7: when a mark-to-market run cannot compute a margin call's deadline (the
Shanghai calendar is not known far enough: CalendarExhausted), the run still stores every
account's state and ratio, records why (`deadline_problems`, `problems`), puts the accounts
below the call line in "call" with the call pending, and the staff dashboard shows it; the
first run after the next year's holidays are entered issues the calls with their deadlines.

The calendar of the test database is cut so that no session is left after the valuation day
(today): the year's remaining weekdays are made closures and later years removed, so a deadline
two trading days after today falls in next year, whose holidays are not entered yet (the
situation of the desk on the last session of a year). On 2026-12-05 that is every weekday from
2026-12-07 to 2026-12-31, and the deadline would fall in 2027.
"""

from datetime import date, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from compliance import calendar
from compliance import services as compliance_services
from compliance.models import CalendarYear, ExchangeHoliday
from lending.models import AccountMarginState, MarginCall, MarginEvent, MtmShard
from lending.mtm import services as mtm
from tests.lending.mtm_fixtures import expected_calls
from tests.second_factor import login_verified

pytestmark = pytest.mark.django_db

SHANGHAI = ZoneInfo("Asia/Shanghai")
D = Decimal


def close_the_rest_of_the_year(day: date) -> int:
    """No session known after `day`: its year's remaining weekdays closed, later years
    removed. Returns the year whose holidays must be entered next."""
    following = day + timedelta(days=1)
    while following.year == day.year:
        if following.weekday() < 5:
            ExchangeHoliday.objects.get_or_create(
                date=following, defaults={"name": "test: no session"}
            )
        following += timedelta(days=1)
    CalendarYear.objects.filter(year__gt=day.year).delete()
    return day.year + 1


def second_weekday_after_new_year(year: int) -> date:
    """Two sessions into `year` when only 1 January is a holiday (weekends skipped)."""
    day, found = date(year, 1, 1), 0
    while found < 2:
        day += timedelta(days=1)
        found += day.weekday() < 5
    return day


def run_in_process(shard_size=2):
    run = mtm.mtm_run_create(trigger="test", shard_size=shard_size)
    for shard in range(run.shards_total):
        mtm.mtm_shard_process(run_id=run.pk, shard=shard)
    run.refresh_from_db()
    return run


def test_a_run_without_deadlines_stores_every_state_and_shows_why(mtm_book, staff, client):
    # given the mtm book (tests/lending/mtm_fixtures.py): two accounts under the call line, two
    # in warning, three healthy; and no trading session known after the valuation day
    in_call = expected_calls(mtm_book)
    assert len(in_call) == 2
    today = timezone.localdate()  # the valuation day: the run's prices are ticked now
    next_year = close_the_rest_of_the_year(today)
    with pytest.raises(calendar.CalendarExhausted):
        calendar.add_trading_days(today, 2)

    # when a run values the book
    run = run_in_process()

    # then it finishes (the valuation is not lost), recording why no call could be issued
    assert run.status == "succeeded" and run.error == ""
    assert run.calls_issued == 0
    assert run.deadline_problems == 2
    assert run.problems.startswith("2 account(s) below the call line without a call: ")
    assert f"{next_year}-01-01 is beyond the known Shanghai exchange calendar" in run.problems
    assert f"enter the {next_year} exchange holidays" in run.problems
    assert sum(MtmShard.objects.filter(run=run).values_list("deadline_problems", flat=True)) == 2
    assert not MarginCall.objects.exists()
    # every account the run sent to the state machine has its state and ratio stored:
    # deposit 200,000 buys 2,000 SSE:600519 @ 100 (cash 0); 14,000 SZSE:000001 @ 10 financed
    # (debt 140,000); at 48.00 / 5.80 the assets are 2,000 x 48 + 14,000 x 5.80 = 177,200.00,
    # so the ratio is 177,200 / 140,000 = 126.5714% (< the 130% call line)
    for pk in in_call:
        state = AccountMarginState.objects.get(credit_account_id=pk)
        assert state.state == "call"
        assert state.last_ratio == D("1.265714")
        assert (state.last_assets, state.last_liabilities) == (D("177200.00"), D("140000.00"))
        assert state.last_valued_at == run.prices_as_of
        event = MarginEvent.objects.get(credit_account_id=pk, kind="call_deadline_pending")
        assert f"{next_year}-01-01" in event.data["problem"] and event.source == run.source
    # the two in warning were applied as usual: 205,000 deposit -> 182,200 / 140,000 = 130.1429%
    warned = AccountMarginState.objects.filter(state="warning").order_by("last_ratio")
    assert [s.last_ratio for s in warned] == [D("1.301429"), D("1.372857")]

    # and the staff dashboard shows the problem
    login_verified(client, staff["risk"])
    page = client.get("/staff/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert 'id="mtm-run-problems"' in page
    assert f"Run {run.pk}: accounts below the call line without a margin call" in page
    assert "the deadline cannot be computed: 2." in page
    assert f"{next_year}-01-01 is beyond the known Shanghai exchange calendar" in page

    # when the next year's holidays are entered (as the system here: the four-eyes path is tested in
    # tests/compliance/test_calendar_four_eyes.py) and the next run values the same prices
    compliance_services.calendar_year_add(
        year=next_year,
        holidays=[(date(next_year, 1, 1), "New Year")],
        source="SSE notice (test)",
        actor=None,
    )
    again = run_in_process()
    # then the calls are issued, their deadline two sessions after the day of the valuation:
    # no session left this year, 1 January closed -> the second weekday after it (on
    # 2026-12-05: 2027-01-04 is the first session, 2027-01-05 the second)
    assert again.calls_issued == 2 and again.deadline_problems == 0 and again.problems == ""
    calls = MarginCall.objects.filter(status="open")
    assert sorted(c.credit_account_id for c in calls) == sorted(in_call)
    deadline = second_weekday_after_new_year(next_year)
    assert {c.deadline.astimezone(SHANGHAI).date() for c in calls} == {deadline}
    # the pending event was recorded once, not at every run
    assert MarginEvent.objects.filter(kind="call_deadline_pending").count() == 2
    page = client.get("/staff/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert 'id="mtm-run-problems"' not in page


def test_outside_a_run_the_refusal_stays_loud(mtm_book):
    """A single revaluation (a person's or a service's) is still refused: nothing is stored."""
    from lending.margin_calls import services as calls

    close_the_rest_of_the_year(timezone.localdate())
    pk = sorted(expected_calls(mtm_book))[0]

    def stored():
        row = AccountMarginState.objects.filter(credit_account_id=pk).first()
        return None if row is None else (row.state, row.last_ratio, row.last_valued_at)

    before = stored()
    assert before in (None, ("normal", None, None))
    with pytest.raises(calendar.CalendarExhausted):
        calls.account_revalue(credit_account=mtm_book[0].__class__.objects.get(pk=pk))
    # no valuation stored, no call: at most the empty state row the machine creates first
    assert stored() in (None, ("normal", None, None))
    assert not MarginCall.objects.exists()
    assert not MarginEvent.objects.filter(credit_account_id=pk).exists()
