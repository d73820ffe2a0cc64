"""End-of-day benchmark steps, margin calls (issue 21 item 2): overdue escalation, staged
reminders and the maturity run on the synthetic book of bench/mtm.

The lead's driver calls these on a loaded book (bench.mtm.run.generate_and_load):

    prepare(cursor, fraction=0.01) -> dict      # the day's work, see below; call before each
    service_escalate(now) -> int                # calls escalated (services.calls_escalate_overdue)
    baseline_escalate(cursor, now) -> int       # the same writes in plain SQL
    service_reminders(now) -> int               # notices written (services.margin_reminders_send)
    baseline_reminders(cursor, now) -> int
    service_maturity(on, now) -> int            # maturity calls + reminder notices written
    baseline_maturity(cursor, on, now) -> int   # (maturity.maturity_process)

`prepare` empties what these steps write (margin states, calls, events, notices and their
history, liquidation rows hanging on calls) and puts back the financings' due dates, then
makes, each for `fraction` of the accounts with a financing (disjoint groups, by account id):
1. an open call issued five days ago, its deadline an hour ago (escalation);
2. the state "warning" (episode 1) with its warning notice 25 hours old (warning reminder 1);
3. an open call issued 25 hours ago, its deadline tomorrow (call reminder);
4. a financing overdue since yesterday (a maturity call, an overdue notice);
5. the same with an ordinary open call not yet due (the maturity call deferred: an event);
6. a financing due 10 trading days after today (reminder 10), and 7. 3 trading days after
   (reminder 3).
Every other account gets a normal state row (a real book has one per account). It returns
{"now", "on", and the size of each group}. Nothing in it is audited (it is a fixture).

Baselines: plain set-based SQL doing the same writes as the service in one transaction (the
rows, their history rows, the events, both notices of each event with their history rows), none
of the service's checks or locks; notice texts are concatenated in SQL (both languages) instead
of built by the message code; a maturity call's ratio, assets and liabilities are the state
row's last valuation instead of a valuation now.

Alone, on its own database (created, migrated, loaded):
    DJANGO_DEBUG=true .venv/bin/python bench/eod/steps_calls.py --accounts 2000
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from bench import common  # noqa: E402
from bench.mtm import run as mtm_bench  # noqa: E402

BENCH_DB = "margindesk_bench_h_calls"
SHANGHAI = ZoneInfo("Asia/Shanghai")

WRITTEN = (
    "lending_notice, lending_historicalnotice, lending_marginevent, lending_margincall, "
    "lending_historicalmargincall, lending_accountmarginstate, "
    "lending_historicalaccountmarginstate"
)

_NOTICE_COLUMNS = (
    "credit_account_id, call_id, warning_episode, financing_id, kind, stage, channel, "
    "recipient, subject, body, texts, created_at, sent_at, delivered, delivery_error"
)


def _groups(fraction: float) -> int:
    if not 0 < fraction <= 1 / 8:
        raise ValueError("fraction: more than 0, at most 1/8 (seven disjoint groups)")
    return round(1 / fraction)


def prepare(cursor, fraction: float = 0.01, *, on: date | None = None) -> dict:
    """The day's work on the loaded book (see the module docstring), in one transaction;
    `on`: the business date the reminders are counted from (default today, Shanghai)."""
    from django.db import transaction

    with transaction.atomic():
        return _prepare(cursor, fraction, on)


def _prepare(cursor, fraction: float, on: date | None = None) -> dict:
    from compliance import calendar

    m = _groups(fraction)
    now = datetime.now(UTC).replace(microsecond=0)
    on = on or now.astimezone(SHANGHAI).date()
    due10 = calendar.add_trading_days(on, 10)
    due3 = calendar.add_trading_days(on, 3)
    p = {"m": m, "now": now, "on": on, "due10": due10, "due3": due3}
    cursor.execute(f"TRUNCATE {WRITTEN} RESTART IDENTITY CASCADE")
    cursor.execute(
        "UPDATE lending_financing f SET due_on = k.ends_on, overdue_since = NULL "
        "FROM lending_creditcontract k WHERE k.id = f.contract_id "
        "AND (f.due_on <> k.ends_on OR f.overdue_since IS NOT NULL)"
    )
    # the accounts with a financing, grouped by id: group g = ids with id mod m = g
    cursor.execute(
        "CREATE TEMP TABLE bench_calls_acc ON COMMIT DROP AS "
        "SELECT DISTINCT credit_account_id AS id, mod(credit_account_id, %(m)s) AS g "
        "FROM lending_financing WHERE status = 'open'",
        p,
    )
    # every account a state row: normal, or the group's
    cursor.execute(
        "INSERT INTO lending_accountmarginstate (credit_account_id, state, since, last_ratio, "
        "last_assets, last_liabilities, last_valued_at, warning_episode) "
        "SELECT ca.id, CASE a.g WHEN 1 THEN 'call' WHEN 2 THEN 'warning' WHEN 3 THEN 'call' "
        "WHEN 5 THEN 'call' ELSE 'normal' END, %(now)s - interval '5 days', "
        "CASE WHEN a.g IN (1, 3, 5) THEN 1.25 WHEN a.g = 2 THEN 1.38 END, "
        "1250000, 1000000, %(now)s - interval '1 day', CASE WHEN a.g = 2 THEN 1 ELSE 0 END "
        "FROM lending_creditaccount ca LEFT JOIN bench_calls_acc a ON a.id = ca.id",
        p,
    )
    # 1, 3, 5: open calls (1: past its deadline; 3: issued 25 hours ago; 5: not due)
    cursor.execute(
        "INSERT INTO lending_margincall (credit_account_id, issued_at, ratio_at_issue, "
        "assets_at_issue, liabilities_at_issue, call_line, target_line, amount_to_cure, "
        "deadline, status, reason, source) "
        "SELECT a.id, CASE a.g WHEN 1 THEN %(now)s - interval '5 days' "
        "ELSE %(now)s - interval '25 hours' END, 1.25, 1250000, 1000000, 1.30, 1.50, 250000, "
        "CASE a.g WHEN 1 THEN %(now)s - interval '1 hour' ELSE %(now)s + interval '1 day' END, "
        "'open', 'ratio 125.00%% below the call line 130.00%%', '' "
        "FROM bench_calls_acc a WHERE a.g IN (1, 3, 5) ORDER BY a.id",
        p,
    )
    # 2: the warning notice of episode 1, 25 hours old, on both channels
    cursor.execute(
        f"INSERT INTO lending_notice ({_NOTICE_COLUMNS}) "
        "SELECT a.id, NULL, 1, NULL, 'warning', 0, ch.c, "
        "CASE ch.c WHEN 'email' THEN u.email ELSE '' END, 'Margin warning', 'warning', '{}', "
        "%(now)s - interval '25 hours', %(now)s - interval '25 hours', true, '' "
        "FROM bench_calls_acc a JOIN lending_creditaccount ca ON ca.id = a.id "
        "JOIN accounts_investorprofile i ON i.id = ca.investor_id "
        "JOIN accounts_user u ON u.id = i.user_id "
        "CROSS JOIN (VALUES ('portal'), ('email')) ch(c) WHERE a.g = 2",
        p,
    )
    # 4, 5: overdue since yesterday; 6, 7: due in 10 and 3 trading days
    cursor.execute(
        "UPDATE lending_financing f SET "
        "due_on = CASE a.g WHEN 6 THEN %(due10)s WHEN 7 THEN %(due3)s "
        "ELSE %(on)s - 2 END, "
        "overdue_since = CASE WHEN a.g IN (4, 5) THEN %(on)s - 1 END "
        "FROM bench_calls_acc a WHERE a.id = f.credit_account_id AND a.g IN (4, 5, 6, 7) "
        "AND f.status = 'open'",
        p,
    )
    cursor.execute("SELECT g, count(*) FROM bench_calls_acc WHERE g BETWEEN 1 AND 7 GROUP BY g")
    sizes = dict(cursor.fetchall())
    cursor.execute("DROP TABLE bench_calls_acc")
    cursor.execute("ANALYZE lending_accountmarginstate, lending_margincall, lending_notice, "
                   "lending_financing")  # fmt: skip
    names = {1: "overdue_calls", 2: "warnings", 3: "call_reminders", 4: "overdue_accounts",
             5: "deferred", 6: "due_in_10", 7: "due_in_3"}  # fmt: skip
    return {"now": now, "on": on, **{names[g]: sizes.get(g, 0) for g in names}}


# --------------------------------------------------------------------------- services


def service_escalate(now: datetime) -> int:
    from lending.margin_calls import services as calls

    return len(calls.calls_escalate_overdue(now=now))


def service_reminders(now: datetime) -> int:
    from lending.margin_calls import services as calls

    return len(calls.margin_reminders_send(now=now))


def service_maturity(on: date, now: datetime) -> int:
    from lending.margin_calls import maturity

    run = maturity.maturity_process(on=on, now=now)
    return len(run.calls) + len(run.reminders)


# --------------------------------------------------------------------------- baselines


def _history(cursor, model, source: str, reason: str, params: dict) -> None:
    """History rows ("~" or "+" in `params["type"]`) copied from the rows `source` selects
    (table alias t)."""
    from django.db import connection
    from simple_history.utils import get_history_model_for_model

    history = get_history_model_for_model(model)
    qn = connection.ops.quote_name
    tracked = [qn(f.column) for f in history.tracked_fields]
    cursor.execute(
        f"INSERT INTO {qn(history._meta.db_table)} ({', '.join(tracked)}, history_date, "
        "history_change_reason, history_user_id, history_type) "
        f"SELECT {', '.join(f't.{c}' for c in tracked)}, now(), {reason}, NULL, %(type)s "
        f"{source}",
        params,
    )


def _notices(cursor, source: str, params: dict) -> int:
    """Both channels of each row of `source` (columns: credit_account_id, call_id,
    warning_episode, financing_id, kind, stage, subject_en, subject_zh, body_en, body_zh),
    with their history rows."""
    from lending.margin_calls.models import Notice

    cursor.execute("DROP TABLE IF EXISTS bench_calls_notice")
    cursor.execute(
        "CREATE TEMP TABLE bench_calls_notice ON COMMIT DROP AS WITH ins AS ("
        f"INSERT INTO lending_notice ({_NOTICE_COLUMNS}) "
        "SELECT s.credit_account_id, s.call_id, s.warning_episode, s.financing_id, s.kind, "
        "s.stage, ch.c, CASE ch.c WHEN 'email' THEN u.email ELSE '' END, "
        "left(s.subject_zh || ' / ' || s.subject_en, 200), s.body_zh || E'\\n\\n' || s.body_en, "
        "jsonb_build_object('zh-hans', jsonb_build_object('subject', s.subject_zh, 'body', "
        "s.body_zh), 'en', jsonb_build_object('subject', s.subject_en, 'body', s.body_en)), "
        "%(now)s, CASE ch.c WHEN 'portal' THEN %(now)s END, "
        "CASE ch.c WHEN 'portal' THEN true END, '' "
        f"FROM ({source}) s JOIN lending_creditaccount ca ON ca.id = s.credit_account_id "
        "JOIN accounts_investorprofile i ON i.id = ca.investor_id "
        "JOIN accounts_user u ON u.id = i.user_id "
        "CROSS JOIN (VALUES ('portal'), ('email')) ch(c) RETURNING id, financing_id, channel) "
        "SELECT * FROM ins",
        params,
    )
    written = cursor.rowcount
    _history(
        cursor,
        Notice,
        "FROM lending_notice t JOIN bench_calls_notice n ON n.id = t.id",
        "'system: ' || t.kind || ' notice'",
        {"type": "+"},
    )
    return written


def baseline_escalate(cursor, now: datetime) -> int:
    """calls_escalate_overdue's writes in plain SQL, one transaction."""
    from django.db import transaction

    from lending.margin_calls.models import AccountMarginState, MarginCall

    p = {"now": now}
    with transaction.atomic():
        cursor.execute(
            "CREATE TEMP TABLE bench_esc ON COMMIT DROP AS WITH up AS ("
            "UPDATE lending_margincall m SET status = 'overdue', overdue_at = %(now)s "
            "WHERE m.status = 'open' AND m.deadline < %(now)s RETURNING m.id, "
            "m.credit_account_id, m.deadline, m.target_line, 'deadline ' || "
            "to_char(m.deadline AT TIME ZONE 'Asia/Shanghai', 'YYYY-MM-DD HH24:MI') || "
            "' (Shanghai) passed' AS reason) SELECT * FROM up",
            p,
        )
        escalated = cursor.rowcount
        _history(cursor, MarginCall, "FROM lending_margincall t JOIN bench_esc e ON e.id = t.id",
                 "'system: deadline passed'", {"type": "~"})  # fmt: skip
        cursor.execute(
            "CREATE TEMP TABLE bench_esc_state ON COMMIT DROP AS "
            "SELECT s.id, s.credit_account_id, s.state AS from_state, s.last_ratio, e.id AS "
            "call_id, e.reason FROM lending_accountmarginstate s JOIN bench_esc e "
            "ON e.credit_account_id = s.credit_account_id WHERE s.state <> 'overdue'"
        )
        cursor.execute(
            "UPDATE lending_accountmarginstate s SET state = 'overdue', since = %(now)s "
            "FROM bench_esc_state b WHERE b.id = s.id",
            p,
        )
        _history(
            cursor,
            AccountMarginState,
            "FROM lending_accountmarginstate t JOIN bench_esc_state b ON b.id = t.id",
            "'system: ' || b.from_state || ' -> overdue: ' || b.reason",
            {"type": "~"},
        )
        cursor.execute(
            "INSERT INTO lending_marginevent (credit_account_id, call_id, kind, from_state, "
            "to_state, ratio, occurred_at, recorded_at, source, reason, data) "
            "SELECT credit_account_id, id, 'call_overdue', '', '', NULL, %(now)s, now(), "
            "'escalation', reason, '{}'::jsonb FROM bench_esc UNION ALL "
            "SELECT credit_account_id, call_id, 'state_changed', from_state, 'overdue', "
            "last_ratio, %(now)s, now(), 'escalation', reason, '{}'::jsonb FROM bench_esc_state",
            p,
        )
        _notices(
            cursor,
            "SELECT e.credit_account_id, e.id AS call_id, NULL::int AS warning_episode, "
            "NULL::bigint AS financing_id, 'overdue' AS kind, 0 AS stage, "
            "'Margin call overdue for credit account ' || ca.account_number AS subject_en, "
            "'信用账户 ' || ca.account_number || ' 追加担保物逾期' AS subject_zh, "
            "'The deadline ' || to_char(e.deadline AT TIME ZONE 'Asia/Shanghai', "
            "'YYYY-MM-DD HH24:MI') || ' of your margin call has passed without the ratio "
            "restored to ' || round(e.target_line * 100, 2) || '%%.' AS body_en, "
            "'追加担保物期限 ' || to_char(e.deadline AT TIME ZONE 'Asia/Shanghai', "
            "'YYYY-MM-DD HH24:MI') || ' 已过。' AS body_zh "
            "FROM bench_esc e JOIN lending_creditaccount ca ON ca.id = e.credit_account_id",
            p,
        )
        cursor.execute("DROP TABLE bench_esc; DROP TABLE bench_esc_state")
    return escalated


def baseline_reminders(cursor, now: datetime) -> int:
    """margin_reminders_send's writes in plain SQL, one transaction."""
    from django.db import transaction

    from lending.margin_calls.services import config

    cfg = config()
    p = {
        "now": now,
        "max": cfg["warning_max_reminders"],
        "warn_before": now - timedelta(hours=cfg["warning_reminder_hours"]),
        "call_before": now - timedelta(hours=cfg["call_reminder_hours"]),
    }
    with transaction.atomic():
        written = _notices(
            cursor,
            "SELECT s.credit_account_id, NULL::bigint AS call_id, s.warning_episode, "
            "NULL::bigint AS financing_id, 'reminder' AS kind, l.stage + 1 AS stage, "
            "'Reminder: margin warning for credit account ' || ca.account_number AS subject_en,"
            " '提醒：信用账户 ' || ca.account_number || ' 维持担保比例预警' AS subject_zh, "
            "'Your maintenance collateral ratio is still ' || round(s.last_ratio * 100, 2) || "
            "'%%, below the warning line ' || round(k.warning_line * 100, 2) || "
            "'%% (reminder ' || (l.stage + 1) || ').' AS body_en, "
            "'您的维持担保比例仍为 ' || round(s.last_ratio * 100, 2) || '%%。' AS body_zh "
            "FROM lending_accountmarginstate s "
            "JOIN lending_creditaccount ca ON ca.id = s.credit_account_id "
            "JOIN lending_creditcontract k ON k.credit_account_id = ca.id "
            "AND k.status = 'active' "
            "CROSS JOIN LATERAL (SELECT n.stage, n.created_at FROM lending_notice n "
            "WHERE n.credit_account_id = s.credit_account_id AND n.call_id IS NULL "
            "AND n.warning_episode = s.warning_episode AND n.channel = 'portal' "
            "ORDER BY n.stage DESC LIMIT 1) l "
            "WHERE s.state = 'warning' AND l.stage < %(max)s AND l.created_at <= %(warn_before)s "
            "UNION ALL "
            "SELECT m.credit_account_id, m.id, NULL, NULL, 'reminder', 1, "
            "'Reminder: margin call for credit account ' || ca.account_number, "
            "'提醒：信用账户 ' || ca.account_number || ' 追加担保物', "
            "'Your margin call is still open. Deposit ' || m.amount_to_cure || ' CNY by ' || "
            "to_char(m.deadline AT TIME ZONE 'Asia/Shanghai', 'YYYY-MM-DD HH24:MI') || '.', "
            "'您的追加担保物通知仍未完成。' "
            "FROM lending_margincall m JOIN lending_creditaccount ca ON ca.id = m.credit_account_id"
            " WHERE m.status = 'open' AND m.issued_at <= %(call_before)s "
            "AND m.deadline > %(now)s AND NOT EXISTS (SELECT 1 FROM lending_notice n "
            "WHERE n.call_id = m.id AND n.kind = 'reminder' AND n.stage = 1)",
            p,
        )
    return written


def baseline_maturity(cursor, on: date, now: datetime) -> int:
    """maturity_process's writes (the financings already marked overdue by `prepare`) in plain
    SQL, one transaction: overdue notices, maturity calls with their events and state changes,
    deferred events, reminders 10 and 3 trading days before the due date. Returns maturity
    calls + reminder notices written, as service_maturity."""
    from django.db import transaction

    from compliance import calendar
    from lending.margin_calls.models import AccountMarginState, MarginCall

    start = datetime.combine(on, datetime.min.time(), tzinfo=SHANGHAI)
    p = {"now": now, "on": on, "start": start}
    with transaction.atomic():
        cursor.execute(
            "CREATE TEMP TABLE bench_od ON COMMIT DROP AS SELECT f.id, f.credit_account_id, "
            "f.due_on, f.principal_outstanding, i.exchange || ':' || i.code AS unit "
            "FROM lending_financing f JOIN lending_instrument i ON i.id = f.instrument_id "
            "WHERE f.status = 'open' AND f.overdue_since IS NOT NULL"
        )
        # the overdue notice of each financing, once
        _notices(
            cursor,
            "SELECT o.credit_account_id, NULL::bigint AS call_id, NULL::int AS "
            "warning_episode, o.id AS financing_id, 'maturity' AS kind, 0 AS stage, "
            "'Financing #' || o.id || ' is overdue' AS subject_en, "
            "'融资 #' || o.id || ' 已逾期' AS subject_zh, "
            "'Your financing #' || o.id || ' (' || o.unit || ') was due on ' || o.due_on || "
            "' and is unpaid: ' || o.principal_outstanding || ' CNY principal.' AS body_en, "
            "'您的融资 #' || o.id || ' 已逾期。' AS body_zh FROM bench_od o "
            "WHERE NOT EXISTS (SELECT 1 FROM lending_notice n WHERE n.financing_id = o.id "
            "AND n.kind = 'maturity' AND n.stage = 0)",
            p,
        )
        # a maturity call for each account without an unfinished call
        cursor.execute(
            "CREATE TEMP TABLE bench_mc ON COMMIT DROP AS WITH acc AS ("
            "SELECT o.credit_account_id, min(o.due_on) AS first_due, "
            "sum(o.principal_outstanding) AS principal, array_agg(o.id ORDER BY o.due_on, o.id) "
            "AS financings FROM bench_od o WHERE NOT EXISTS (SELECT 1 FROM lending_margincall m "
            "WHERE m.credit_account_id = o.credit_account_id "
            "AND m.status IN ('open', 'overdue', 'liquidating')) GROUP BY o.credit_account_id), "
            "ins AS (INSERT INTO lending_margincall (credit_account_id, issued_at, "
            "ratio_at_issue, assets_at_issue, liabilities_at_issue, call_line, target_line, "
            "amount_to_cure, deadline, status, overdue_at, reason, source) "
            "SELECT a.credit_account_id, a.first_due::timestamp AT TIME ZONE 'Asia/Shanghai', "
            "coalesce(s.last_ratio, 0), coalesce(s.last_assets, 0), "
            "coalesce(s.last_liabilities, 0), k.call_line, k.target_line, "
            "a.principal + coalesce(r.balance, 0), "
            "(a.first_due + 1)::timestamp AT TIME ZONE 'Asia/Shanghai', 'overdue', %(now)s, "
            "'financing unpaid at maturity: ' || (a.principal + coalesce(r.balance, 0)) || "
            "' overdue debt to repay by a forced close', 'maturity' FROM acc a "
            "JOIN lending_creditaccount ca ON ca.id = a.credit_account_id "
            "JOIN lending_creditcontract k ON k.credit_account_id = ca.id "
            "AND k.status = 'active' "
            "LEFT JOIN lending_accountmarginstate s ON s.credit_account_id = ca.id "
            "LEFT JOIN custody_ledgeraccount ir ON ir.investor_id = ca.investor_id "
            "AND ir.purpose = 'interest_receivable' AND ir.unit = 'CNY' "
            "LEFT JOIN custody_accountbalance r ON r.account_id = ir.id "
            "RETURNING id, credit_account_id, reason, ratio_at_issue, amount_to_cure) "
            "SELECT ins.*, acc.financings FROM ins JOIN acc USING (credit_account_id)",
            p,
        )
        calls = cursor.rowcount
        _history(cursor, MarginCall, "FROM lending_margincall t JOIN bench_mc c ON c.id = t.id",
                 "'system: maturity call issued: financing overdue'", {"type": "+"})  # fmt: skip
        cursor.execute(
            "CREATE TEMP TABLE bench_mc_state ON COMMIT DROP AS SELECT s.id, "
            "s.credit_account_id, s.state AS from_state, s.last_ratio, c.id AS call_id, "
            "c.reason FROM lending_accountmarginstate s JOIN bench_mc c "
            "ON c.credit_account_id = s.credit_account_id WHERE s.state <> 'overdue'"
        )
        cursor.execute(
            "UPDATE lending_accountmarginstate s SET state = 'overdue', since = %(now)s "
            "FROM bench_mc_state b WHERE b.id = s.id",
            p,
        )
        _history(
            cursor,
            AccountMarginState,
            "FROM lending_accountmarginstate t JOIN bench_mc_state b ON b.id = t.id",
            "'system: ' || b.from_state || ' -> overdue: ' || b.reason",
            {"type": "~"},
        )
        cursor.execute(
            "INSERT INTO lending_marginevent (credit_account_id, call_id, kind, from_state, "
            "to_state, ratio, occurred_at, recorded_at, source, reason, data) "
            "SELECT credit_account_id, id, 'maturity_overdue', '', '', ratio_at_issue, "
            "%(now)s, now(), 'maturity', reason, jsonb_build_object('financings', financings, "
            "'overdue_debt', amount_to_cure::text) FROM bench_mc UNION ALL "
            "SELECT credit_account_id, call_id, 'state_changed', from_state, 'overdue', "
            "last_ratio, %(now)s, now(), 'maturity', reason, '{}'::jsonb FROM bench_mc_state "
            "UNION ALL "
            "SELECT m.credit_account_id, m.id, 'maturity_call_deferred', '', '', NULL, "
            "%(now)s, now(), 'maturity', 'call #' || m.id || ' is ' || m.status || "
            "': the forced close of the overdue financing waits until it is finished', '{}'::jsonb "
            "FROM lending_margincall m WHERE m.status IN ('open', 'overdue', 'liquidating') "
            "AND m.source <> 'maturity' AND m.credit_account_id IN "
            "(SELECT credit_account_id FROM bench_od) AND NOT EXISTS (SELECT 1 FROM "
            "lending_marginevent e WHERE e.credit_account_id = m.credit_account_id "
            "AND e.kind = 'maturity_call_deferred' AND e.occurred_at >= %(start)s)",
            p,
        )
        # reminders: the stage of each due date (the calendar once per date), then notices
        cursor.execute(
            "SELECT DISTINCT due_on FROM lending_financing WHERE status = 'open' "
            "AND overdue_since IS NULL AND due_on BETWEEN %(on)s AND %(on)s + 40",
            p,
        )
        dues, stages = [], []
        for (due,) in cursor.fetchall():
            days = [d for d in (10, 3) if calendar.add_trading_days(due, -d) <= on]
            if days:
                dues.append(due)
                stages.append(min(days))
        reminders = _notices(
            cursor,
            "SELECT f.credit_account_id, NULL::bigint AS call_id, NULL::int AS "
            "warning_episode, f.id AS financing_id, 'maturity' AS kind, d.stage, "
            "'Financing #' || f.id || ' is due on ' || f.due_on AS subject_en, "
            "'融资 #' || f.id || ' 将于 ' || f.due_on || ' 到期' AS subject_zh, "
            "'Your financing #' || f.id || ' is due on ' || f.due_on || ', in ' || d.stage || "
            "' trading days: ' || f.principal_outstanding || ' CNY principal.' AS body_en, "
            "'您的融资 #' || f.id || ' 将于 ' || f.due_on || ' 到期。' AS body_zh "
            "FROM lending_financing f JOIN unnest(%(dues)s::date[], %(stages)s::int[]) "
            "AS d(due_on, stage) ON d.due_on = f.due_on "
            "WHERE f.status = 'open' AND f.overdue_since IS NULL AND NOT EXISTS (SELECT 1 FROM "
            "lending_notice n WHERE n.financing_id = f.id AND n.kind = 'maturity' "
            "AND n.stage = d.stage)",
            {**p, "dues": dues, "stages": stages},
        )
        cursor.execute(
            "INSERT INTO lending_marginevent (credit_account_id, call_id, kind, from_state, "
            "to_state, occurred_at, recorded_at, source, reason, data) "
            "SELECT f.credit_account_id, NULL, 'maturity_reminder', '', '', %(now)s, now(), "
            "'maturity', 'financing #' || f.id || ' due on ' || f.due_on || ': reminder', "
            "jsonb_build_object('financing', f.id, 'notices', array_agg(n.id)) "
            "FROM bench_calls_notice n JOIN lending_financing f ON f.id = n.financing_id "
            "GROUP BY f.id",
            p,
        )
        cursor.execute("DROP TABLE bench_od; DROP TABLE bench_mc; DROP TABLE bench_mc_state")
    return calls + reminders


# --------------------------------------------------------------------------- alone


def _timed(label: str, fn, *args) -> None:
    started = time.perf_counter()
    rows = fn(*args)
    seconds = time.perf_counter() - started
    print(f"{label:44} {seconds:9.2f} {rows:9,} {rows / seconds if seconds else 0:9,.0f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=2_000)
    parser.add_argument("--instruments", type=int, default=200)
    parser.add_argument("--fraction", type=float, default=0.01)
    args = parser.parse_args()
    mtm_bench.BENCH_DB = BENCH_DB
    common.ensure_database(BENCH_DB)
    # the e-mail outbox tasks the services queue go to a queue of this run's own (no worker)
    queue = f"bench-calls-{uuid.uuid4().hex[:10]}"
    os.environ["CELERY_TASK_DEFAULT_QUEUE"] = queue
    common.django_setup(BENCH_DB)
    from django.core.management import call_command
    from django.db import connection

    call_command("migrate", verbosity=0)
    print(f"loading {args.accounts:,} accounts ...", flush=True)
    mtm_bench.generate_and_load(args.accounts, args.instruments)
    print(f"{'step':44} {'seconds':>9} {'rows':>9} {'rows/s':>9}")
    for name, service, baseline, when in (
        ("escalation", service_escalate, baseline_escalate, lambda d: (d["now"],)),
        ("reminders", service_reminders, baseline_reminders, lambda d: (d["now"],)),
        ("maturity", service_maturity, baseline_maturity, lambda d: (d["on"], d["now"])),
    ):
        with connection.cursor() as c:
            day = prepare(c, args.fraction)
        if name == "escalation":
            print({k: v for k, v in day.items() if k not in ("now", "on")})
        _timed(f"{name}: service", service, *when(day))
        _timed(f"{name}: service again (writes nothing)", service, *when(day))
        with connection.cursor() as c:
            day = prepare(c, args.fraction)
            _timed(f"{name}: baseline SQL", baseline, c, *when(day))
    from config.celery import app

    with app.connection_for_write() as conn:
        conn.default_channel.queue_delete(queue)


if __name__ == "__main__":
    main()
