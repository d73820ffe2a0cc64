"""End of day, set-based (issue 21 item 2, margin calls): overdue escalation, staged reminders
and the maturity run over several accounts at once, with hand-built data.

Calls come from explicit valuations (services.margin_state_apply, as in test_calls_state):
assets 1,250,000 / debt 1,000,000 = 125% < the 130% call line on Wednesday 30 September 2026
10:00 gives a call due two Shanghai trading days later, skipping National Day (1-7 October):
Friday 9 October 15:00. The same on Thursday 8 October gives Monday 12 October 15:00.
Overdue financings are plain rows (no ledger: the account's valuation has no assets and no
debt, so the maturity call's amount is the overdue principal and its ratio 0)."""

from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.core import mail

from lending.credit.models import CreditContract
from lending.financing.models import Financing
from lending.margin_calls import maturity
from lending.margin_calls import services as calls
from lending.models import AccountMarginState, MarginCall, MarginEvent, Notice
from tests.lending.book_fixtures import _key
from tests.lending.calls_fixtures import PINGAN, sh

pytestmark = pytest.mark.django_db

D = Decimal
DEADLINE_REASON = "deadline 2026-10-09 15:00 (Shanghai) passed"


def apply(account, assets, liabilities, at):
    assets, liabilities = D(assets), D(liabilities)
    return calls.margin_state_apply(
        credit_account=account,
        ratio=assets / liabilities,
        total_assets=assets,
        total_liabilities=liabilities,
        valued_at=at,
        source="test",
    )


def counts() -> tuple:
    return (
        MarginEvent.objects.count(),
        Notice.objects.count(),
        MarginCall.history.count(),
        AccountMarginState.history.count(),
    )


@pytest.fixture
def four_accounts(make_credit_account):
    return [make_credit_account() for _ in range(4)]


def test_three_overdue_calls_escalated_in_one_run_and_a_rerun_writes_nothing(
    four_accounts, django_capture_on_commit_callbacks, celery_eager
):
    # given three calls due Friday 9 October 15:00 and one due Monday 12 October 15:00
    due = [apply(a, "1250000", "1000000", sh(2026, 9, 30, 10, 0)).call for a in four_accounts[:3]]
    later = apply(four_accounts[3], "1250000", "1000000", sh(2026, 10, 8, 10, 0)).call
    assert {c.deadline for c in due} == {sh(2026, 10, 9, 15, 0)}
    assert later.deadline == sh(2026, 10, 12, 15, 0)
    mail.outbox.clear()
    before = counts()

    # when the end of day runs after the deadline
    with django_capture_on_commit_callbacks(execute=True):
        escalated = calls.calls_escalate_overdue(now=sh(2026, 10, 9, 15, 5))

    # then the three calls, and only they, are overdue
    assert [c.pk for c in escalated] == [c.pk for c in due]
    for call in due:
        call.refresh_from_db()
        assert (call.status, call.overdue_at) == ("overdue", sh(2026, 10, 9, 15, 5))
        state = AccountMarginState.objects.get(credit_account_id=call.credit_account_id)
        assert (state.state, state.since) == ("overdue", sh(2026, 10, 9, 15, 5))
        events = MarginEvent.objects.filter(call=call, source="escalation").order_by("pk")
        assert [(e.kind, e.from_state, e.to_state, e.reason, e.actor_id) for e in events] == [
            ("call_overdue", "", "", DEADLINE_REASON, None),
            ("state_changed", "call", "overdue", DEADLINE_REASON, None),
        ]
        assert events[1].ratio == D("1.25")
        notices = Notice.objects.filter(call=call, kind="overdue")
        assert sorted(notices.values_list("channel", flat=True)) == ["email", "portal"]
        assert "2026-10-09 15:00" in notices.get(channel="portal").body
        # one history row each, with the reason and no user (the system)
        last = call.history.first()
        assert (last.status, last.history_change_reason, last.history_user_id) == (
            "overdue",
            "system: deadline passed",
            None,
        )
        assert state.history.first().history_change_reason == (
            f"system: call -> overdue: {DEADLINE_REASON}"
        )
        assert state.history.first().state == "overdue"
    # exactly: 3 x (2 events, 2 notices, 1 call history row, 1 state history row)
    after = counts()
    assert [b - a for a, b in zip(before, after, strict=True)] == [6, 6, 3, 3]
    # the e-mails are sent after the commit by the outbox task
    assert len(mail.outbox) == 3
    # the call not yet due is untouched
    later.refresh_from_db()
    assert (later.status, later.overdue_at) == ("open", None)
    assert AccountMarginState.objects.get(credit_account=four_accounts[3]).state == "call"
    assert not MarginEvent.objects.filter(call=later, source="escalation").exists()

    # a rerun (even later) writes nothing
    assert calls.calls_escalate_overdue(now=sh(2026, 10, 9, 16, 0)) == []
    assert counts() == after


def test_escalation_by_a_person_and_by_shards(four_accounts, staff):
    for a in four_accounts[:3]:
        apply(a, "1250000", "1000000", sh(2026, 9, 30, 10, 0))
    # one shard (credit account id mod 2) at a time: each call once, in its account's shard
    first = calls.calls_escalate_overdue(now=sh(2026, 10, 9, 15, 5), shards=2, shard=0)
    second = calls.calls_escalate_overdue(
        now=sh(2026, 10, 9, 15, 5), shards=2, shard=1, actor=staff["risk"]
    )
    assert {c.credit_account_id % 2 for c in first} <= {0}
    assert {c.credit_account_id % 2 for c in second} <= {1}
    assert len(first) + len(second) == 3
    for call in second:
        row = MarginCall.objects.get(pk=call.pk).history.first()
        assert (row.history_user_id, row.history_change_reason) == (
            staff["risk"].pk,
            "deadline passed",
        )
        assert MarginEvent.objects.get(call=call, kind="call_overdue").actor_id == staff["risk"].pk
    assert calls.calls_escalate_overdue(now=sh(2026, 10, 9, 16, 0), shards=3) == []


def test_warning_reminders_stage_by_stage_and_call_reminders(four_accounts, settings):
    settings.LENDING_MARGIN_CALLS = {"warning_reminder_hours": 4, "warning_max_reminders": 2}
    a, b, c, _d = four_accounts
    # a in warning at 10:00, b at 12:00 (138% < the 140% warning line), c in call at 10:00
    apply(a, "1380000", "1000000", sh(2026, 9, 28, 10, 0))
    apply(b, "1380000", "1000000", sh(2026, 9, 28, 12, 0))

    def stages(account):
        return sorted(
            Notice.objects.filter(credit_account=account, kind="reminder", channel="portal")
            .values_list("stage", flat=True)
        )  # fmt: skip

    assert calls.margin_reminders_send(now=sh(2026, 9, 28, 13, 59)) == []
    assert len(calls.margin_reminders_send(now=sh(2026, 9, 28, 14, 0))) == 2  # a: 1
    assert (stages(a), stages(b)) == ([1], [])
    assert len(calls.margin_reminders_send(now=sh(2026, 9, 28, 16, 0))) == 2  # b: 1
    assert calls.margin_reminders_send(now=sh(2026, 9, 28, 17, 59)) == []
    assert len(calls.margin_reminders_send(now=sh(2026, 9, 28, 20, 0))) == 4  # a: 2, b: 2
    assert (stages(a), stages(b)) == ([1, 2], [1, 2])
    assert calls.margin_reminders_send(now=sh(2026, 9, 30, 8, 0)) == []  # at most 2
    reminder = Notice.objects.get(credit_account=a, kind="reminder", stage=2, channel="portal")
    assert "138.00%" in reminder.body and "140.00%" in reminder.body
    assert "(reminder 2)" in reminder.body and reminder.warning_episode == 1

    # a call issued Wednesday 10:00 gets its one reminder 24 hours later, before its deadline
    call = apply(c, "1250000", "1000000", sh(2026, 9, 30, 10, 0)).call
    assert calls.margin_reminders_send(now=sh(2026, 10, 1, 9, 59)) == []
    assert len(calls.margin_reminders_send(now=sh(2026, 10, 1, 10, 0))) == 2
    assert calls.margin_reminders_send(now=sh(2026, 10, 2, 11, 0)) == []
    assert Notice.objects.filter(call=call, kind="reminder", stage=1).count() == 2
    # after the deadline: no reminder for a call (none due anyway)
    assert calls.margin_reminders_send(now=sh(2026, 10, 9, 16, 0)) == []


# --------------------------------------------------------------------------- maturity


def financing(account, instrument, principal, due_on, *, overdue=True) -> Financing:
    contract = CreditContract.objects.get(credit_account=account, status="active")
    return Financing.objects.create(
        credit_account=account,
        contract=contract,
        instrument=instrument,
        quantity=D("1000"),
        price=D("10.00"),
        amount=D(principal),
        principal_outstanding=D(principal),
        quantity_held=D("1000"),
        opened_on=date(2026, 6, 1),
        due_on=due_on,
        overdue_since=due_on + timedelta(days=1) if overdue else None,
        idempotency_key=_key("financing"),
    )


def test_maturity_calls_one_per_account_and_a_deferred_event_once_a_day(
    four_accounts, book_instruments
):
    a, b, c, _d = four_accounts
    pingan = book_instruments[PINGAN]
    fa1 = financing(a, pingan, "10000.00", date(2026, 12, 1))
    fa2 = financing(a, pingan, "5000.00", date(2026, 11, 30))
    fb = financing(b, pingan, "20000.00", date(2026, 12, 1))
    fc = financing(c, pingan, "30000.00", date(2026, 12, 1))
    ordinary = apply(c, "1250000", "1000000", sh(2026, 12, 1, 10, 0)).call  # c has a call

    run = maturity.MaturityRun(on=date(2026, 12, 2))
    maturity.maturity_calls_issue(now=sh(2026, 12, 2, 8, 40), run=run)

    # one maturity call each for a and b, already overdue; c waits for its ordinary call
    assert len(run.calls) == 2 and run.deferred == [c.pk]
    ca = MarginCall.objects.get(credit_account=a, source="maturity")
    cb = MarginCall.objects.get(credit_account=b, source="maturity")
    # a: the earliest due date (30 November) is the call's; the debt is both principals
    assert (ca.status, ca.amount_to_cure, ca.issued_at, ca.deadline) == (
        "overdue",
        D("15000.00"),
        sh(2026, 11, 30, 0, 0),
        sh(2026, 12, 1, 0, 0),
    )
    assert ca.reason == (
        f"financing unpaid at maturity (#{fa2.pk} due 2026-11-30, #{fa1.pk} due 2026-12-01): "
        "15,000.00 overdue debt to repay by a forced close"
    )
    assert cb.amount_to_cure == D("20000.00") and cb.ratio_at_issue == D("0")
    assert ca.history.first().history_change_reason == (
        "system: maturity call issued: financing overdue"
    )
    for account, call, fs in ((a, ca, [fa2.pk, fa1.pk]), (b, cb, [fb.pk])):
        event = MarginEvent.objects.get(credit_account=account, kind="maturity_overdue")
        assert event.call_id == call.pk and event.data["financings"] == fs
        state = AccountMarginState.objects.get(credit_account=account)
        assert state.state == "overdue"
        assert state.history.first().history_change_reason == (
            f"system: normal -> overdue: {call.reason}"
        )
        changed = MarginEvent.objects.get(credit_account=account, kind="state_changed")
        assert (changed.from_state, changed.to_state, changed.call_id) == (
            "normal",
            "overdue",
            call.pk,
        )
    # the overdue notice of every financing, c's included, on both channels
    for f in (fa1, fa2, fb, fc):
        assert Notice.objects.filter(financing=f, kind="maturity", stage=0).count() == 2
    deferred = MarginEvent.objects.get(kind="maturity_call_deferred")
    assert deferred.credit_account_id == c.pk and deferred.call_id == ordinary.pk
    assert AccountMarginState.objects.get(credit_account=c).state == "call"

    # again the same day: nothing new; the deferred event is recorded once a day
    before = counts()
    again = maturity.MaturityRun(on=date(2026, 12, 2))
    maturity.maturity_calls_issue(now=sh(2026, 12, 2, 11, 0), run=again)
    assert again.calls == [] and again.deferred == [c.pk]
    assert counts() == before
    maturity.maturity_calls_issue(
        now=sh(2026, 12, 3, 8, 40), run=maturity.MaturityRun(on=date(2026, 12, 3)), shards=2
    )
    assert MarginEvent.objects.filter(kind="maturity_call_deferred").count() == 2
    assert MarginCall.objects.filter(source="maturity").count() == 2

    # b repays (the row, as a repayment leaves it): its maturity call closes as cured
    Financing.objects.filter(pk=fb.pk).update(status="repaid", principal_outstanding=0)
    closed = maturity.maturity_calls_close_repaid(now=sh(2026, 12, 3, 9, 0))
    assert [call.pk for call in closed] == [cb.pk]
    cb.refresh_from_db()
    assert (cb.status, cb.reason, cb.closed_at) == (
        "cured",
        "overdue financing repaid",
        sh(2026, 12, 3, 9, 0),
    )
    assert MarginEvent.objects.filter(call=cb, kind="maturity_repaid").count() == 1
    # no debt left in the valuation: the account is normal again
    assert AccountMarginState.objects.get(credit_account=b).state == "normal"
    assert maturity.maturity_calls_close_repaid(now=sh(2026, 12, 3, 9, 30)) == []


def test_maturity_reminders_ten_and_three_trading_days_before_once_each(
    four_accounts, book_instruments
):
    # due Tuesday 1 December 2026: 10 trading days before is Tuesday 17 November, 3 trading
    # days before Thursday 26 November (no exchange holiday in November 2026)
    a, b, _c, _d = four_accounts
    pingan = book_instruments[PINGAN]
    fs = [
        financing(a, pingan, "10000.00", date(2026, 12, 1), overdue=False),
        financing(a, pingan, "5000.00", date(2026, 12, 1), overdue=False),
        financing(b, pingan, "20000.00", date(2026, 12, 1), overdue=False),
    ]

    def remind(day, hour=8):
        run = maturity.MaturityRun(on=day)
        maturity.maturity_reminders_send(
            on=day, now=sh(day.year, day.month, day.day, hour), run=run
        )
        return run

    assert remind(date(2026, 11, 16)).reminders == []
    assert len(remind(date(2026, 11, 17)).reminders) == 6  # 3 financings x 2 channels
    assert remind(date(2026, 11, 17), hour=9).reminders == []
    assert remind(date(2026, 11, 18)).reminders == []
    assert len(remind(date(2026, 11, 26)).reminders) == 6
    assert remind(date(2026, 11, 27)).reminders == []
    for f in fs:
        for stage in (10, 3):
            notices = Notice.objects.filter(financing=f, kind="maturity", stage=stage)
            assert sorted(notices.values_list("channel", flat=True)) == ["email", "portal"]
            assert "2026-12-01" in notices.get(channel="portal").body
        events = MarginEvent.objects.filter(kind="maturity_reminder", data__financing=f.pk)
        assert sorted(e.data["stage"] for e in events) == [3, 10]
    event = MarginEvent.objects.get(kind="maturity_reminder", data__financing=fs[0].pk,
                                    data__stage=10)  # fmt: skip
    assert (
        event.reason == f"financing #{fs[0].pk} due on 2026-12-01: reminder 10 trading days before"
    )
    assert len(event.data["notices"]) == 2
