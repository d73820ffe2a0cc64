"""End of day, set-based: overdue escalation and staged reminders (docs/eod-calls.md).

`lending.margin_calls.services.calls_escalate_overdue` and `margin_reminders_send` are the
public names (tasks, tests, the end-of-day chain); they run the shards below, one after the
other in the caller's process unless one shard is named. A shard is the credit accounts with
`credit_account_id mod shards == shard`; each shard is one transaction
(`lending.common.transactions.durable`: transient clashes retried), so a shard is written whole
or not at all, and running it again writes nothing more.

Escalation of one shard (`escalate_shard`), a fixed number of statements whatever the number
of calls, plus the notices' text built in Python:

1. the open calls past their deadline (one read, not locked);
2. their investors, then their credit accounts, locked in primary-key order
   (lending.credit.locks.lock_in_order: the desk's lock order, steps 1 and 2);
3. a margin state row for an account that has none (normal, with its history row: as
   services._state_rows does for one account);
4. `UPDATE lending_margincall ... RETURNING` the calls still open and past their deadline once
   locked: status overdue, overdue_at = now; one simple-history row each (`~`, reason
   "deadline passed", the actor; "system: " when none), copied from the row as written;
5. the accounts' margin state rows not yet overdue: state overdue, since = now, one history row
   each with the reason `{old} -> overdue: deadline ... (Shanghai) passed` (services.state_change);
6. the events, one statement: "call_overdue" per call and "state_changed" per state changed
   (source "escalation", the same reasons, ratio the state's last ratio), in account order;
7. the overdue notices (portal and e-mail, both languages: services.notices_build), saved by
   services.notices_save in batches (one existence read and one insert per batch; the unique
   constraints back it up), each batch's e-mails queued to the outbox task after commit.

The outcome for the same data is that of the former loop (one transaction per call): the same
calls, states, events, notices and history reasons.

Reminders of one shard (`reminders_shard`): the accounts still in warning whose last warning
notice of the episode (portal; warning = stage 0, then reminders 1, 2, ...) is older than
`warning_reminder_hours` and below `warning_max_reminders`, and the open calls issued more than
`call_reminder_hours` ago, before their deadline, without their reminder, are read in SQL (one
statement each); their accounts locked in order; the same reads again under the locks (state and
episode as they are now); the notices built (the warning line of every account read once:
services.lines_for_many) and saved in batches.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db import connection
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.audit import SYSTEM_PREFIX
from accounts.errors import ValidationFailed
from lending.common.transactions import durable
from lending.credit.locks import lock_in_order
from lending.margin_calls.models import (
    AccountMarginState,
    MarginCall,
    Notice,
    NoticeKind,
)

#: notices saved per notices_save call (one existence read, one insert and one outbox task
#: of at most half as many e-mails each)
NOTICE_BATCH = 1000

_CALLS = "eod_calls_escalated"
_STATES = "eod_calls_states"


def shard_range(shard: int | None, shards: int) -> list[int]:
    """The shards to run: `shard` alone, or every shard of `shards` when it is None."""
    shards = int(shards)
    if shards < 1 or (shard is not None and not 0 <= int(shard) < shards):
        raise ValidationFailed(
            _("shard: %(shard)s is not one of 0..%(last)s") % {"shard": shard, "last": shards - 1},
            extra={"field": "shard"},
        )
    return list(range(shards)) if shard is None else [int(shard)]


def notices_save_batched(notices: list[Notice]) -> list[Notice]:
    """services.notices_save in batches of NOTICE_BATCH; returns those saved."""
    from lending.margin_calls.services import notices_save

    saved: list[Notice] = []
    for start in range(0, len(notices), NOTICE_BATCH):
        saved += notices_save(notices[start : start + NOTICE_BATCH])
    return saved


def history_insert(cursor, model, *, source: str, reason_sql: str, params: dict, actor) -> int:
    """One simple-history row ("~") per row of `model` that `source` selects (a FROM ... clause
    naming the model's table `t`), its tracked columns copied from the row as written in this
    transaction (accounts.bulk.history_rows_insert, fed by SQL instead of arrays); the reason
    is `reason_sql` (an SQL expression; "system: " put in front when no person acts), the user
    the actor, the date now."""
    from simple_history.utils import get_history_model_for_model

    history = get_history_model_for_model(model)
    qn = connection.ops.quote_name
    tracked = [qn(f.column) for f in history.tracked_fields]
    target = ", ".join(
        [*tracked, "history_date", "history_change_reason", "history_user_id", "history_type"]
    )
    columns = ", ".join(f"t.{col}" for col in tracked)
    cursor.execute(
        f"INSERT INTO {qn(history._meta.db_table)} ({target}) "
        f"SELECT {columns}, %(history_at)s, %(history_prefix)s || ({reason_sql}), "
        f"%(history_user)s, '~' {source} ORDER BY t.id",
        {
            **params,
            "history_at": timezone.now(),
            "history_prefix": SYSTEM_PREFIX if actor is None else "",
            "history_user": getattr(actor, "pk", None),
        },
    )
    return cursor.rowcount


def states_ensure(accounts: dict, at: datetime) -> None:
    """A margin state row (normal, with history) for each of the locked accounts without one."""
    from lending.margin_calls.services import _state_rows

    have = set(
        AccountMarginState.objects.filter(credit_account_id__in=list(accounts)).values_list(
            "credit_account_id", flat=True
        )
    )
    missing = {pk: account for pk, account in accounts.items() if pk not in have}
    if missing:
        _state_rows(missing, at)


def _fetch_ids(cursor, statement: str, params: dict) -> list[tuple]:
    cursor.execute(statement, params)
    return cursor.fetchall()


# --------------------------------------------------------------------------- escalation

_OVERDUE_CALLS = """
SELECT m.id, m.credit_account_id FROM lending_margincall m
 WHERE m.status = 'open' AND m.deadline < %(now)s
   AND mod(m.credit_account_id, %(shards)s) = %(shard)s
 ORDER BY m.credit_account_id
"""

#: the reason of the escalation of call m (services.calls_escalate_overdue's, in SQL)
_DEADLINE_REASON = (
    "'deadline ' || to_char(m.deadline AT TIME ZONE 'Asia/Shanghai', 'YYYY-MM-DD HH24:MI') "
    "|| ' (Shanghai) passed'"
)


def escalate_shard(
    *, now: datetime, actor=None, shard: int = 0, shards: int = 1
) -> list[MarginCall]:
    """Escalate one shard's open calls past their deadline, in one transaction (see the module
    docstring). Returns the calls escalated, in credit-account order."""
    return durable(
        lambda: _escalate(now=now, actor=actor, shard=shard, shards=shards),
        "calls_escalate_overdue",
    )


def _escalate(*, now: datetime, actor, shard: int, shards: int) -> list[MarginCall]:
    from lending.margin_calls.services import notices_build

    params = {"now": now, "shard": shard, "shards": shards}
    with connection.cursor() as c:
        candidates = _fetch_ids(c, _OVERDUE_CALLS, params)
    if not candidates:
        return []
    accounts = lock_in_order(credit_account_ids={a for _c, a in candidates}).credit_accounts
    states_ensure(accounts, now)
    params |= {
        "ids": [pk for pk, _a in candidates],
        "actor": getattr(actor, "pk", None) or None,
    }
    with connection.cursor() as c:
        c.execute(f"DROP TABLE IF EXISTS {_CALLS}; DROP TABLE IF EXISTS {_STATES}")
        c.execute(
            f"CREATE TEMP TABLE {_CALLS} (id bigint PRIMARY KEY, credit_account_id bigint, "
            "reason text) ON COMMIT DROP"
        )
        c.execute(
            f"CREATE TEMP TABLE {_STATES} (id bigint PRIMARY KEY, credit_account_id bigint, "
            "from_state text, last_ratio numeric, call_id bigint, reason text) ON COMMIT DROP"
        )
        # the calls, re-checked under the account locks
        c.execute(
            "WITH up AS (UPDATE lending_margincall m SET status = 'overdue', "  # noqa: S608
            "overdue_at = %(now)s WHERE m.id = ANY(%(ids)s) AND m.status = 'open' "
            f"AND m.deadline < %(now)s RETURNING m.id, m.credit_account_id, {_DEADLINE_REASON}) "
            f"INSERT INTO {_CALLS} SELECT * FROM up",
            params,
        )
        if not c.rowcount:
            c.execute(f"DROP TABLE {_CALLS}; DROP TABLE {_STATES}")
            return []
        history_insert(
            c,
            MarginCall,
            source=f"FROM lending_margincall t JOIN {_CALLS} e ON e.id = t.id",
            reason_sql="%(reason)s",
            params={"reason": "deadline passed"},
            actor=actor,
        )
        # the accounts' states (services.state_set to overdue)
        c.execute(
            "WITH old AS (SELECT s.id, s.state FROM lending_accountmarginstate s "  # noqa: S608
            f"JOIN {_CALLS} e ON e.credit_account_id = s.credit_account_id "
            "WHERE s.state <> 'overdue' ORDER BY s.id FOR UPDATE OF s), "
            "up AS (UPDATE lending_accountmarginstate s SET state = 'overdue', since = %(now)s "
            "FROM old WHERE s.id = old.id "
            "RETURNING s.id, s.credit_account_id, old.state AS from_state, s.last_ratio) "
            f"INSERT INTO {_STATES} SELECT up.*, e.id, e.reason FROM up "
            f"JOIN {_CALLS} e ON e.credit_account_id = up.credit_account_id",
            params,
        )
        history_insert(
            c,
            AccountMarginState,
            source=f"FROM lending_accountmarginstate t JOIN {_STATES} e ON e.id = t.id",
            reason_sql="e.from_state || ' -> overdue: ' || e.reason",
            params={},
            actor=actor,
        )
        # the events, per account: call_overdue, then state_changed
        c.execute(
            "INSERT INTO lending_marginevent (credit_account_id, call_id, kind, from_state, "  # noqa: S608
            "to_state, ratio, occurred_at, recorded_at, actor_id, source, reason, data) "
            "SELECT x.credit_account_id, x.call_id, x.kind, x.from_state, x.to_state, x.ratio, "
            "%(now)s, now(), %(actor)s, 'escalation', x.reason, '{}'::jsonb FROM ("
            "SELECT e.credit_account_id, e.id AS call_id, 'call_overdue' AS kind, "
            "'' AS from_state, '' AS to_state, NULL::numeric AS ratio, e.reason, 1 AS n "
            f"FROM {_CALLS} e UNION ALL "
            "SELECT s.credit_account_id, s.call_id, 'state_changed', s.from_state, 'overdue', "
            f"s.last_ratio, s.reason, 2 FROM {_STATES} s) x ORDER BY x.credit_account_id, x.n",
            params,
        )
        c.execute(f"SELECT id FROM {_CALLS}")  # noqa: S608
        escalated = [row[0] for row in c.fetchall()]
        c.execute(f"DROP TABLE {_CALLS}; DROP TABLE {_STATES}")
    calls = list(MarginCall.objects.filter(pk__in=escalated).order_by("credit_account_id"))
    notices = []
    for call in calls:
        call.credit_account = accounts[call.credit_account_id]
        notices += notices_build(
            account=call.credit_account, kind=NoticeKind.OVERDUE, call=call, at=now
        )
    notices_save_batched(notices)
    return calls


# --------------------------------------------------------------------------- reminders

_WARNING_DUE = """
SELECT s.credit_account_id, s.warning_episode, s.last_ratio, l.stage
  FROM lending_accountmarginstate s
 CROSS JOIN LATERAL (
       SELECT n.stage, n.created_at FROM lending_notice n
        WHERE n.credit_account_id = s.credit_account_id AND n.call_id IS NULL
          AND n.warning_episode = s.warning_episode AND n.channel = 'portal'
        ORDER BY n.stage DESC LIMIT 1) l
 WHERE s.state = 'warning' AND mod(s.credit_account_id, %(shards)s) = %(shard)s
   AND l.stage < %(max_reminders)s AND l.created_at <= %(warn_before)s {accounts}
 ORDER BY s.credit_account_id
"""

_CALL_DUE = """
SELECT m.id, m.credit_account_id FROM lending_margincall m
 WHERE m.status = 'open' AND m.issued_at <= %(call_before)s AND m.deadline > %(now)s
   AND mod(m.credit_account_id, %(shards)s) = %(shard)s
   AND (SELECT count(*) FROM lending_notice n
         WHERE n.call_id = m.id AND n.kind = 'reminder' AND n.stage = 1) < 2 {accounts}
 ORDER BY m.credit_account_id
"""


def reminders_shard(*, now: datetime, shard: int = 0, shards: int = 1) -> list[int]:
    """The staged warning reminders and open-call reminders of one shard that are due, in one
    transaction (see the module docstring). Returns the pks of the notices written."""
    return durable(lambda: _reminders(now=now, shard=shard, shards=shards), "margin_reminders_send")


def _reminders(*, now: datetime, shard: int, shards: int) -> list[int]:
    from lending.margin_calls.services import config, lines_for_many, notices_build

    cfg = config()
    params = {
        "now": now,
        "shard": shard,
        "shards": shards,
        "max_reminders": int(cfg["warning_max_reminders"]),
        "warn_before": now - timedelta(hours=cfg["warning_reminder_hours"]),
        "call_before": now - timedelta(hours=cfg["call_reminder_hours"]),
    }
    with connection.cursor() as c:
        warnings = _fetch_ids(c, _WARNING_DUE.format(accounts=""), params)
        due_calls = _fetch_ids(c, _CALL_DUE.format(accounts=""), params)
    ids = {row[0] for row in warnings} | {row[1] for row in due_calls}
    if not ids:
        return []
    accounts = lock_in_order(credit_account_ids=ids).credit_accounts
    # again, under the locks: the states, episodes and notices as they are now
    params["accounts"] = sorted(ids)
    with connection.cursor() as c:
        warnings = _fetch_ids(
            c, _WARNING_DUE.format(accounts="AND s.credit_account_id = ANY(%(accounts)s)"), params
        )
        due_calls = _fetch_ids(
            c, _CALL_DUE.format(accounts="AND m.credit_account_id = ANY(%(accounts)s)"), params
        )
    notices: list[Notice] = []
    lines = lines_for_many([row[0] for row in warnings], on=timezone.localdate(now))
    for pk, episode, ratio, stage in warnings:
        notices += notices_build(
            account=accounts[pk],
            kind=NoticeKind.REMINDER,
            stage=stage + 1,
            warning_episode=episode,
            at=now,
            context={"ratio": ratio, "lines": lines[pk]},
        )
    for call in MarginCall.objects.filter(pk__in=[row[0] for row in due_calls]).order_by(
        "credit_account_id"
    ):
        call.credit_account = accounts[call.credit_account_id]
        notices += notices_build(
            account=call.credit_account, kind=NoticeKind.REMINDER, stage=1, call=call, at=now
        )
    return [n.pk for n in notices_save_batched(notices)]


__all__ = [
    "NOTICE_BATCH",
    "escalate_shard",
    "history_insert",
    "notices_save_batched",
    "reminders_shard",
    "shard_range",
    "states_ensure",
]
