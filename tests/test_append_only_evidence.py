"""Append-only evidence (issue 19, item 4): PostgreSQL itself refuses to edit or remove what
an auditor relies on, whoever writes the SQL. Each test writes past the services with raw SQL
through a cursor, inside a savepoint, and expects the database's error naming the rule; the
legitimate one-way steps (an e-mail attempt recorded, a notice acknowledged, a warning
confirmed) still go through the real services."""

from datetime import timedelta

import pytest
from django.apps import apps
from django.core.mail.backends.base import BaseEmailBackend
from django.db import DatabaseError, connection, transaction
from django.test import override_settings
from django.utils import timezone

from accounts import append_only
from accounts.roles import Role
from compliance import selectors as compliance_selectors
from compliance import services as compliance
from compliance.models import DisclosureAcknowledgement, RestrictedDeclaration, SuitabilityMatch
from lending.margin_calls import services as calls
from lending.margin_calls.models import MarginEvent, Notice
from reports.models import Filing
from tests.lending.book_fixtures import price_set
from tests.lending.calls_fixtures import MOUTAI, PINGAN, sh

pytestmark = pytest.mark.django_db


def refused(sql: str, params, match: str) -> None:
    """The statement fails in PostgreSQL with `match` in the error; the savepoint rolls back."""
    with (
        pytest.raises(DatabaseError, match=match),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(sql, params)


def execute(sql: str, params) -> int:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.rowcount


def _call(account):
    """Prices fall on 30 September 2026 (600519 -> 48, 000001 -> 5.80): assets 96,000 +
    81,200 = 177,200 against debt 140,000, ratio 126.57% < 130%: a call, its events and its
    notices (portal, and e-mail left in the outbox: no commit in this test)."""
    price_set(MOUTAI, "48.00")
    price_set(PINGAN, "5.80")
    call = calls.account_revalue(credit_account=account, now=sh(2026, 9, 30, 10, 0)).call
    assert call is not None
    return call


class RefusingMailServer(BaseEmailBackend):
    """The mail server refuses the connection (a real failure the outbox records)."""

    def send_messages(self, email_messages):
        raise ConnectionRefusedError("mail server down")


# --- rows that never change -------------------------------------------------------------------


@pytest.fixture
def eligible(make_investor, make_eligible):
    """An investor through onboarding: a disclosure acknowledgement and a declaration."""
    return make_eligible(make_investor())


@pytest.mark.parametrize(
    ("model", "column", "value"),
    [
        (DisclosureAcknowledgement, "sha256", "0" * 64),
        (RestrictedDeclaration, "holds_none", False),
    ],
    ids=["disclosure_acknowledgement", "restricted_declaration"],
)
def test_compliance_acknowledgements_refuse_update_and_delete(eligible, model, column, value):
    row = model.objects.get(investor=eligible)
    table = model._meta.db_table
    before = model.objects.filter(pk=row.pk).values().get()
    refused(
        f"UPDATE {table} SET {column} = %s WHERE id = %s",  # noqa: S608 (names from meta)
        [value, row.pk],
        f"{table} is append-only evidence: UPDATE refused",
    )
    refused(
        f"DELETE FROM {table} WHERE id = %s",  # noqa: S608
        [row.pk],
        f"{table} is append-only evidence: DELETE refused",
    )
    assert model.objects.filter(pk=row.pk).values().get() == before


def test_margin_events_refuse_update_and_delete(account):
    call = _call(account)
    events = list(MarginEvent.objects.filter(credit_account=account).order_by("pk"))
    # normal -> call on 30 September: the transition is recorded with its ratio
    assert [e.to_state for e in events][-1] == "call" and events[-1].call_id == call.pk
    refused(
        "UPDATE lending_marginevent SET reason = 'rewritten', to_state = 'normal' WHERE id = %s",
        [events[-1].pk],
        "lending_marginevent is append-only evidence: UPDATE refused",
    )
    refused(
        "DELETE FROM lending_marginevent WHERE credit_account_id = %s",
        [account.pk],
        "lending_marginevent is append-only evidence: DELETE refused",
    )
    after = list(MarginEvent.objects.filter(credit_account=account).order_by("pk"))
    assert [(e.pk, e.to_state, e.reason) for e in after] == [
        (e.pk, e.to_state, e.reason) for e in events
    ]


# --- notices: content fixed, delivery proof recorded until delivered, acknowledgement once ----


def test_notice_content_never_changes_and_no_notice_is_deleted(account):
    call = _call(account)
    portal = Notice.objects.get(call=call, kind="call", channel="portal")
    for sql, params in (
        ("UPDATE lending_notice SET body = 'a milder message' WHERE id = %s", [portal.pk]),
        ("UPDATE lending_notice SET recipient = 'else@example.com' WHERE id = %s", [portal.pk]),
        (
            "UPDATE lending_notice SET created_at = created_at + interval '1 day' WHERE id = %s",
            [portal.pk],
        ),
    ):
        refused(sql, params, f"notice {portal.pk}: what a notice says, to whom and when")
    refused(
        "DELETE FROM lending_notice WHERE call_id = %s",
        [call.pk],
        "lending_notice is append-only evidence: DELETE refused",
    )
    assert Notice.objects.filter(call=call, kind="call").count() == 2  # portal and e-mail
    # a portal notice is delivered when written: its proof is final
    assert portal.delivered is True and portal.sent_at is not None
    refused(
        "UPDATE lending_notice SET delivered = false WHERE id = %s",
        [portal.pk],
        f"notice {portal.pk}: the delivery proof is final once delivered",
    )


def test_email_attempts_are_recorded_until_delivered_then_final(account):
    call = _call(account)
    email = Notice.objects.get(call=call, kind="call", channel="email")
    assert (email.sent_at, email.delivered) == (None, None)  # in the outbox

    # first attempt: the mail server refuses; the outbox records it (an allowed UPDATE)
    with override_settings(EMAIL_BACKEND=f"{__name__}.RefusingMailServer"):
        calls.notices_deliver([email.pk])
    email.refresh_from_db()
    assert email.delivered is False and "mail server down" in email.delivery_error
    # an attempt cannot be erased, even before a delivery
    refused(
        "UPDATE lending_notice SET sent_at = NULL, delivered = NULL, delivery_error = '' "
        "WHERE id = %s",
        [email.pk],
        f"notice {email.pk}: a delivery attempt is never erased",
    )

    # the sweeper tries again and the mail server accepts (the tests' in-memory backend)
    calls.notices_deliver([email.pk])
    email.refresh_from_db()
    assert (email.delivered, email.delivery_error) == (True, "")
    # both attempts are in the history: created (+), refused (~ delivered false), sent (~)
    trail = list(email.history.order_by("history_id").values_list("history_type", "delivered"))
    assert trail == [("+", None), ("~", False), ("~", True)]

    # once delivered the proof is final
    for sql in (
        "UPDATE lending_notice SET delivered = false WHERE id = %s",
        "UPDATE lending_notice SET sent_at = sent_at - interval '1 hour' WHERE id = %s",
        "UPDATE lending_notice SET delivery_error = 'bounced' WHERE id = %s",
    ):
        refused(sql, [email.pk], f"notice {email.pk}: the delivery proof is final once delivered")
    # and history rows are never rewritten either
    refused(
        "UPDATE lending_historicalnotice SET delivered = true WHERE id = %s",
        [email.pk],
        "lending_historicalnotice is append-only evidence: UPDATE refused",
    )


def test_acknowledgement_is_written_once_and_final(account):
    call = _call(account)
    portal = Notice.objects.get(call=call, kind="call", channel="portal")
    investor_user = account.investor.user
    # no acknowledgement can be written without its time
    refused(
        "UPDATE lending_notice SET acknowledged_by_id = %s WHERE id = %s",
        [investor_user.pk, portal.pk],
        f"notice {portal.pk}: an acknowledgement is written once",
    )
    calls.notice_acknowledge(notice=portal, actor=investor_user)
    # one acknowledgement covers the notice on both channels
    rows = Notice.objects.filter(call=call, kind="call")
    assert {(n.acknowledged_by_id, n.acknowledged_at is not None) for n in rows} == {
        (investor_user.pk, True)
    }
    for sql, params in (
        (
            "UPDATE lending_notice SET acknowledged_at = acknowledged_at + interval '3 days' "
            "WHERE id = %s",
            [portal.pk],
        ),
        (
            "UPDATE lending_notice SET acknowledged_at = NULL, acknowledged_by_id = NULL "
            "WHERE id = %s",
            [portal.pk],
        ),
    ):
        refused(sql, params, f"notice {portal.pk}: an acknowledgement is written once")
    # acknowledging again through the service changes nothing (and is not refused)
    before = Notice.objects.get(pk=portal.pk).acknowledged_at
    calls.notice_acknowledge(notice=portal, actor=investor_user)
    assert Notice.objects.get(pk=portal.pk).acknowledged_at == before


# --- suitability warning: the decision fixed, its confirmation once ---------------------------


def test_suitability_warning_is_confirmed_once_and_the_match_never_changes(make_investor, assess):
    c3 = make_investor()
    assess(c3, 3)  # a C3 investor and the margin product (R4): a written warning
    match = compliance.suitability_match_record(
        investor=c3, product=compliance_selectors.margin_product(), actor=c3.user
    )
    assert match.outcome == "warning" and match.confirmed_at is None
    refused(
        "UPDATE compliance_suitabilitymatch SET outcome = 'allowed' WHERE id = %s",
        [match.pk],
        f"suitability match {match.pk}: the decision and the warning shown never change",
    )
    refused(
        "UPDATE compliance_suitabilitymatch SET warning_text = '' WHERE id = %s",
        [match.pk],
        f"suitability match {match.pk}: the decision and the warning shown never change",
    )
    compliance.suitability_warning_confirm(
        match=match, investor=c3, ip_address="198.51.100.4", user_agent="ua", actor=c3.user
    )
    match.refresh_from_db()
    assert match.confirmed_ip == "198.51.100.4"
    for sql in (
        "UPDATE compliance_suitabilitymatch SET confirmed_ip = '203.0.113.1' WHERE id = %s",
        "UPDATE compliance_suitabilitymatch SET confirmed_at = NULL WHERE id = %s",
    ):
        refused(sql, [match.pk], f"suitability match {match.pk}: a warning is confirmed once")
    refused(
        "DELETE FROM compliance_suitabilitymatch WHERE id = %s",
        [match.pk],
        "compliance_suitabilitymatch is append-only evidence: DELETE refused",
    )
    assert SuitabilityMatch.objects.get(pk=match.pk).confirmed_ip == "198.51.100.4"


# --- filings: immutable once submitted --------------------------------------------------------


def test_a_submitted_filing_refuses_update_and_delete_a_prepared_one_does_not(make_user):
    officer = make_user(Role.COMPLIANCE)
    now = timezone.now()
    submitted = Filing.objects.create(
        kind="investor_register", as_of=now - timedelta(days=1), status="submitted",
        approved_by=officer, approved_at=now, submitted_by=officer, submitted_at=now,
        submission_reference="CSRC-2026-001",
    )  # fmt: skip
    prepared = Filing.objects.create(kind="investor_register", as_of=now, status="prepared")
    for sql in (
        "UPDATE reports_filing SET submission_reference = 'changed' WHERE id = %s",
        "UPDATE reports_filing SET status = 'prepared' WHERE id = %s",
        "DELETE FROM reports_filing WHERE id = %s",
    ):
        refused(sql, [submitted.pk], "Cannot update or delete rows from reports_filing")
    # the control: before submission a filing moves through its life cycle
    assert execute("UPDATE reports_filing SET progress = 50 WHERE id = %s", [prepared.pk]) == 1
    submitted.refresh_from_db()
    assert submitted.submission_reference == "CSRC-2026-001"


# --- history tables -------------------------------------------------------------------------


def history_models():
    return sorted(
        (m for m in apps.get_models() if m.__name__.startswith("Historical")),
        key=lambda m: m._meta.db_table,
    )


def test_every_history_table_of_every_app_carries_the_trigger():
    """A new model with HistoricalRecords needs its app's migration to protect its table
    (accounts.append_only.protect_history): this test names any that lacks it."""
    tables = {m._meta.db_table for m in history_models()}
    assert len(tables) >= 51  # 2 accounts + 8 custody + 19 compliance + 20 lending + 2 reports
    protected = append_only.protected_tables(connection)
    assert sorted(tables - protected) == []
    # and the evidence tables that never change
    assert {
        "lending_marginevent",
        "compliance_disclosureacknowledgement",
        "compliance_restricteddeclaration",
    } <= protected


def test_history_rows_refuse_update_and_delete(account, eligible, make_user):
    """Every history table that holds a row after a call, an onboarding and a filing refuses
    UPDATE and DELETE of it."""
    _call(account)
    officer = make_user(Role.COMPLIANCE)
    compliance.disclosure_publish(title="v2", content="v2 text", actor=officer)
    exercised = []
    for model in history_models():
        table = model._meta.db_table
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT min(history_id) FROM {table}")  # noqa: S608 (from meta)
            first = cursor.fetchone()[0]
        if first is None:
            continue
        refused(
            f"UPDATE {table} SET history_change_reason = 'rewritten' WHERE history_id = %s",  # noqa: S608
            [first],
            f"{table} is append-only evidence: UPDATE refused",
        )
        refused(
            f"DELETE FROM {table} WHERE history_id = %s",  # noqa: S608
            [first],
            f"{table} is append-only evidence: DELETE refused",
        )
        exercised.append(table)
    # users, investors, credit accounts, contracts, orders, financings, notices, calls,
    # assessments, acknowledgements, declarations, ledger accounts... hold rows by now
    for table in (
        "accounts_historicaluser",
        "accounts_historicalinvestorprofile",
        "custody_historicalledgeraccount",
        "compliance_historicaldisclosureacknowledgement",
        "compliance_historicalrestricteddeclaration",
        "lending_historicalnotice",
        "lending_historicalmargincall",
        "lending_historicalaccountmarginstate",
    ):
        assert table in exercised, table
    assert len(exercised) >= 15, exercised
    print(f"EVIDENCE history tables with a row refused UPDATE and DELETE: {len(exercised)}")
