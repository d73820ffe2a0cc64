"""The margin-call state machine from explicit valuations (ratio, assets, liabilities, time)."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.core import mail
from django.db import IntegrityError, connection, transaction
from django.test.utils import CaptureQueriesContext

from accounts.errors import PermissionDenied
from compliance.calendar import CalendarExhausted
from lending.margin_calls import services as calls
from lending.models import AccountMarginState, MarginCall, MarginEvent, Notice
from tests.lending.calls_fixtures import sh

pytestmark = pytest.mark.django_db

D = Decimal


def apply(account, assets, liabilities, at, **kw):
    assets, liabilities = D(assets), D(liabilities)
    ratio = None if liabilities == 0 else assets / liabilities
    return calls.margin_state_apply(
        credit_account=account,
        ratio=ratio,
        total_assets=assets,
        total_liabilities=liabilities,
        valued_at=at,
        source="test",
        **kw,
    )


def test_warning_then_call_with_hand_computed_cure_and_holiday_deadline(
    credit_account, django_capture_on_commit_callbacks, celery_eager
):
    # given a healthy account
    t = apply(credit_account, "2000000", "1000000", sh(2026, 9, 28, 10, 0))
    assert t.to_state == "normal"
    # when the ratio falls below the warning line (140%)
    with django_capture_on_commit_callbacks(execute=True):
        t = apply(credit_account, "1380000", "1000000", sh(2026, 9, 29, 10, 0))
    # then a warning, on the portal and by e-mail
    assert (t.from_state, t.to_state, t.events) == ("normal", "warning", ("state_changed",))
    warning = Notice.objects.filter(kind="warning")
    assert sorted(warning.values_list("channel", flat=True)) == ["email", "portal"]
    assert len(mail.outbox) == 1 and "140.00%" in mail.outbox[0].body
    assert warning.get(channel="email").delivered is True

    # when it falls below the call line (130%) on Wednesday 30 September 2026
    with django_capture_on_commit_callbacks(execute=True):
        t = apply(credit_account, "1250000", "1000000", sh(2026, 9, 30, 10, 0))
    call = t.call
    assert t.to_state == "call" and "call_issued" in t.events
    # amount to cure = T·D - A = 1.5 * 1,000,000 - 1,250,000
    assert call.amount_to_cure == D("250000.00")
    assert (call.ratio_at_issue, call.target_line) == (D("1.25"), D("1.5"))
    # two Shanghai trading days later, skipping National Day (1-7 October): Fri 9 October
    assert call.deadline == sh(2026, 10, 9, 15, 0)
    assert Notice.objects.filter(call=call, kind="call").count() == 2
    assert len(mail.outbox) == 2 and "250000.00" in mail.outbox[1].body
    assert "2026-10-09 15:00" in mail.outbox[1].body
    # the notice is the same record in both languages, whatever language the caller runs in
    subject = mail.outbox[1].subject
    assert "追加担保物通知" in subject and "Margin call for credit account" in subject
    body = mail.outbox[1].body
    assert body.index("250000.00") < body.index("Deposit 250000.00")  # Chinese first
    state = AccountMarginState.objects.get(credit_account=credit_account)
    assert state.state == "call" and state.last_ratio == D("1.25")
    kinds = list(MarginEvent.objects.values_list("kind", "to_state"))
    assert ("call_issued", "") in kinds and ("state_changed", "call") in kinds


def test_an_email_whose_task_was_lost_is_sent_by_the_outbox_sweeper(
    credit_account, django_capture_on_commit_callbacks
):
    # given a warning committed while no worker takes the delivery task (it sits in the queue)
    with django_capture_on_commit_callbacks(execute=True):
        apply(credit_account, "1380000", "1000000", sh(2026, 9, 29, 10, 0))
    email = Notice.objects.get(kind="warning", channel="email")
    assert email.sent_at is None and not mail.outbox
    # a notice younger than the sweeper's delay is left to its task (created at the valuation)
    assert calls.notices_deliver_pending(older_than_seconds=400 * 86400) == []
    # when the sweeper runs after the delay, the e-mail goes once and the result is recorded
    sent = calls.notices_deliver_pending(older_than_seconds=0)
    assert [n.pk for n in sent] == [email.pk]
    email.refresh_from_db()
    assert email.delivered is True and email.sent_at is not None
    assert len(mail.outbox) == 1 and "140.00%" in mail.outbox[0].body
    assert calls.notices_deliver_pending(older_than_seconds=0) == []
    assert len(mail.outbox) == 1


def test_applying_the_same_valuation_twice_creates_nothing(
    credit_account, django_capture_on_commit_callbacks, celery_eager
):
    at = sh(2026, 9, 30, 10, 0)
    with django_capture_on_commit_callbacks(execute=True):
        first = apply(credit_account, "1250000", "1000000", at)
        second = apply(credit_account, "1250000", "1000000", at)
        # a later valuation still below the call line does not issue another call either
        third = apply(credit_account, "1200000", "1000000", at + timedelta(minutes=5))
    assert first.changed and not second.changed and not third.changed
    assert MarginCall.objects.count() == 1
    assert Notice.objects.count() == 2 and len(mail.outbox) == 1
    state = AccountMarginState.objects.get()
    history_rows = state.history.count()
    apply(credit_account, "1200000", "1000000", at + timedelta(minutes=5))
    assert state.history.count() == history_rows  # not even a history row


def test_the_database_refuses_a_second_open_call(credit_account):
    call = apply(credit_account, "1250000", "1000000", sh(2026, 9, 30, 10, 0)).call
    with pytest.raises(IntegrityError), transaction.atomic():
        MarginCall.objects.create(
            credit_account=credit_account,
            issued_at=call.issued_at,
            ratio_at_issue=call.ratio_at_issue,
            assets_at_issue=call.assets_at_issue,
            liabilities_at_issue=call.liabilities_at_issue,
            call_line=call.call_line,
            target_line=call.target_line,
            amount_to_cure=call.amount_to_cure,
            deadline=call.deadline,
            status="overdue",
        )
    with pytest.raises(IntegrityError), transaction.atomic():
        Notice.objects.create(
            credit_account=credit_account,
            call=call,
            kind="call",
            stage=0,
            channel="email",
            subject="again",
            body="again",
            created_at=call.issued_at,
        )


def test_cure_needs_the_target_and_closes_the_call(
    credit_account, django_capture_on_commit_callbacks, celery_eager
):
    call = apply(credit_account, "1250000", "1000000", sh(2026, 9, 30, 10, 0)).call
    # back above the call line but below the target (150%): still in call
    t = apply(credit_account, "1450000", "1000000", sh(2026, 9, 30, 11, 0))
    assert not t.changed and t.to_state == "call"
    call.refresh_from_db()
    assert call.status == "open"
    # the investor deposits the amount to cure: exactly the target
    with django_capture_on_commit_callbacks(execute=True):
        t = apply(credit_account, "1500000", "1000000", sh(2026, 10, 8, 9, 40))
    assert "call_cured" in t.events and t.to_state == "normal"
    call.refresh_from_db()
    assert call.status == "cured" and call.closed_at == sh(2026, 10, 8, 9, 40)
    assert Notice.objects.filter(call=call, kind="cured").count() == 2
    assert "cured" in mail.outbox[-1].subject.lower()
    # a later fall starts a fresh call
    t = apply(credit_account, "1250000", "1000000", sh(2026, 10, 9, 10, 0))
    assert t.call.pk != call.pk and MarginCall.objects.count() == 2


def test_stale_valuations_and_no_debt(credit_account):
    apply(credit_account, "1250000", "1000000", sh(2026, 9, 30, 10, 0))
    t = apply(credit_account, "900000", "1000000", sh(2026, 9, 29, 10, 0))
    assert t.stale and not t.changed
    # no debt at all: no ratio; an open call is cured, the account is normal
    t = apply(credit_account, "500000", "0", sh(2026, 9, 30, 14, 0))
    assert t.ratio is None and t.to_state == "normal" and "call_cured" in t.events


def test_overdue_escalation_after_the_deadline(credit_account, django_capture_on_commit_callbacks):
    call = apply(credit_account, "1250000", "1000000", sh(2026, 9, 30, 10, 0)).call
    assert calls.calls_escalate_overdue(now=sh(2026, 10, 9, 14, 59)) == []
    with django_capture_on_commit_callbacks(execute=True):
        escalated = calls.calls_escalate_overdue(now=sh(2026, 10, 9, 15, 1))
    assert [c.pk for c in escalated] == [call.pk]
    call.refresh_from_db()
    assert call.status == "overdue" and call.overdue_at == sh(2026, 10, 9, 15, 1)
    assert AccountMarginState.objects.get().state == "overdue"
    assert Notice.objects.filter(call=call, kind="overdue").count() == 2
    assert calls.calls_escalate_overdue(now=sh(2026, 10, 9, 16, 0)) == []
    # an overdue call can still be cured before a liquidation is approved
    t = apply(credit_account, "1600000", "1000000", sh(2026, 10, 9, 16, 0))
    assert "call_cured" in t.events


def test_staged_warning_reminders(credit_account, settings):
    settings.LENDING_MARGIN_CALLS = {"warning_reminder_hours": 4, "warning_max_reminders": 2}
    apply(credit_account, "1380000", "1000000", sh(2026, 9, 28, 10, 0))
    assert calls.margin_reminders_send(now=sh(2026, 9, 28, 13, 0)) == []
    assert len(calls.margin_reminders_send(now=sh(2026, 9, 28, 14, 0))) == 2
    assert calls.margin_reminders_send(now=sh(2026, 9, 28, 15, 0)) == []
    assert len(calls.margin_reminders_send(now=sh(2026, 9, 28, 18, 0))) == 2
    assert calls.margin_reminders_send(now=sh(2026, 9, 29, 18, 0)) == []  # at most 2
    stages = Notice.objects.filter(kind="reminder", channel="portal").values_list(
        "stage", flat=True
    )
    assert sorted(stages) == [1, 2]
    # back to normal and into warning again: a new episode starts at stage 0
    apply(credit_account, "1500000", "1000000", sh(2026, 9, 29, 10, 0))
    apply(credit_account, "1390000", "1000000", sh(2026, 9, 30, 10, 0))
    assert Notice.objects.filter(kind="warning", channel="portal").count() == 2


def test_call_reminder_before_the_deadline(credit_account):
    call = apply(credit_account, "1250000", "1000000", sh(2026, 9, 30, 10, 0)).call
    assert len(calls.margin_reminders_send(now=sh(2026, 10, 1, 11, 0))) == 2
    assert calls.margin_reminders_send(now=sh(2026, 10, 2, 11, 0)) == []
    assert Notice.objects.filter(call=call, kind="reminder").count() == 2


def test_deadline_beyond_the_known_calendar_is_refused(credit_account):
    with pytest.raises(CalendarExhausted):
        apply(credit_account, "1250000", "1000000", sh(2026, 12, 30, 10, 0))
    assert MarginCall.objects.count() == 0


def test_only_the_investor_acknowledges_a_notice(credit_account, staff):
    apply(credit_account, "1250000", "1000000", sh(2026, 9, 30, 10, 0))
    portal = Notice.objects.get(kind="call", channel="portal")
    with pytest.raises(PermissionDenied):
        calls.notice_acknowledge(notice=portal, actor=staff["risk"])
    calls.notice_acknowledge(notice=portal, actor=credit_account.investor.user)
    acknowledged = Notice.objects.filter(kind="call", acknowledged_at__isnull=False)
    assert acknowledged.count() == 2  # both channels of the same notice
    assert portal.history.first().history_user == credit_account.investor.user


def test_bulk_apply_in_account_order_with_history_only_on_state_changes(open_credit_account):
    a, b = open_credit_account(real_name="甲"), open_credit_account(real_name="乙")
    at = sh(2026, 9, 30, 10, 0)
    transitions = calls.margin_states_apply_many(
        valuations=[
            calls.AccountValuation(b.pk, D("1.25"), D("1250000"), D("1000000")),
            calls.AccountValuation(a.pk, D("2"), D("2000000"), D("1000000")),
        ],
        valued_at=at,
    )
    assert [t.credit_account_id for t in transitions] == sorted([a.pk, b.pk])
    assert MarginCall.objects.get().credit_account_id == b.pk
    state = AccountMarginState.objects.get(credit_account=a)
    rows = state.history.count()
    calls.margin_states_apply_many(
        valuations=[calls.AccountValuation(a.pk, D("1.9"), D("1900000"), D("1000000"))],
        valued_at=at + timedelta(minutes=1),
    )
    state.refresh_from_db()
    # the last valuation is refreshed; history grows only with state changes
    assert state.last_ratio == D("1.9") and state.history.count() == rows


def test_a_batch_is_set_based_the_same_statements_for_3_or_9_accounts(open_credit_account):
    """The mark-to-market applies hundreds of state changes per shard: the statements a batch
    issues do not grow with its accounts (each kind of write is one statement)."""
    accounts = [open_credit_account(real_name=f"批量{i}") for i in range(12)]
    at = sh(2026, 9, 30, 10, 0)
    debt = D("1000000")
    mix = (D("1380000"), D("1250000"), D("2000000"))  # warning, call, healthy

    def batch(group, when, assets_of):
        valuations = [
            calls.AccountValuation(a.pk, assets_of(i) / debt, assets_of(i), debt)
            for i, a in enumerate(group)
        ]
        with CaptureQueriesContext(connection) as queries:
            transitions = calls.margin_states_apply_many(valuations=valuations, valued_at=when)
        return transitions, len(queries)

    small, n_small = batch(accounts[:3], at, lambda i: mix[i % 3])
    large, n_large = batch(accounts[3:], at, lambda i: mix[i % 3])
    assert n_small == n_large
    assert [t.to_state for t in small] == ["warning", "call", "normal"]
    assert [t.to_state for t in large] == ["warning", "call", "normal"] * 3
    assert MarginCall.objects.filter(status="open").count() == 4
    # two notices (portal, e-mail) per warning and per call, each with its history row
    assert Notice.objects.count() == 16
    assert Notice.history.filter(history_change_reason__startswith="system: ").count() == 16
    # every state change left a history row naming the system and the ratio that caused it
    changed = AccountMarginState.history.filter(history_type="~")
    assert changed.count() == 8 and all("ratio" in h.history_change_reason for h in changed)

    # later, every called account is back above the target: the 4 calls are cured in bulk
    called = [a for a in accounts if MarginCall.objects.filter(credit_account=a).exists()]
    cured, _n = batch(called, at + timedelta(minutes=5), lambda i: D("1600000"))
    assert all("call_cured" in t.events and t.to_state == "normal" for t in cured)
    assert MarginCall.objects.filter(status="cured").count() == 4
    assert Notice.objects.filter(kind="cured").count() == 8
    events = MarginEvent.objects.filter(kind="call_cured")
    assert events.count() == 4 and all(e.call_id for e in events)
