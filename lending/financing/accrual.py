"""Daily interest accrual, set-based and sharded (docs/eod.md).

One business day's interest for one shard of contracts (contract id mod `shards` == `shard`) is
computed and written by a handful of SQL statements in one transaction, so a shard is all or
nothing: a worker killed mid-shard leaves nothing behind (its transaction rolls back) and the
shard run again posts each contract and day once.

The amounts are those of `daily_interest` (below: the rule in Python), applied the same way:
ACT/360 on each open financing's outstanding principal at its contract's rate, rounded half up
to the cent per financing (PostgreSQL's round(numeric, 2) rounds ties away from zero, the same
for these positive amounts), summed per contract. Per contract and day, as before:

* one InterestAccrual row (unique per contract and date: a second run writes nothing), written
  for every contract with an accruable financing, amount 0 included;
* when the amount is not zero, one journal entry Dr client interest_receivable / Cr house
  interest_income, kind "interest", key `interest:{contract_id}:{date}`, the same memo, posted
  by custody's set-based service (custody.services.ledger.entries_post_two_leg_set_in_transaction:
  same checks and fingerprint as entries_post_in_transaction, the posting trigger and the
  deferred balance check as for every entry), linked from the accrual row;
* Financing.interest_accrued raised by the financing's amount, with one simple-history row per
  changed financing (history type "~", reason "interest {date}", the actor), as
  lending.financing.services._save_financings writes them.

Locks, in the desk's order: a transaction-scoped advisory lock per (day, shard, shards) (a second
run of the same shard waits, then finds it done), the shard's investors (primary-key order, as
lending.credit.locks.lock_in_order), its financings (FOR UPDATE), then the ledger balance rows
(by the posting trigger).

Catch-up (`days_to_accrue`, `interest_accrue_through`): interest accrues every calendar day
(ACT/360; the beat runs every day, weekends and holidays included: config/settings.py and
docs/maturity.md), so the missed days are the calendar days after each contract's last accrual,
up to the day asked, oldest first; a day's shards all finish before the next day starts. A
contract is never accrued for a day before its last accrual (no back-filling of gaps).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from django.db import IntegrityError, connection
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.audit import SYSTEM_PREFIX, change_reason
from accounts.errors import ValidationFailed
from accounts.permissions import require_permission
from custody import services as custody
from custody.models import EntryKind
from custody.services.ledger import (
    ENTRY_ID_NEXTVAL,
    client_accounts_ensure_in_transaction,
    entries_post_two_leg_set_in_transaction,
)
from lending.common.transactions import durable
from lending.domain.formats import money_rounded

logger = logging.getLogger(__name__)

CURRENCY = "CNY"
PERM = "lending.add_interestaccrual"

#: a catch-up never goes further back than this many days before the day asked (a longer
#: outage is a decision for people: run interest_accrue_through for older days by hand)
MAX_CATCHUP_DAYS = 31

#: shards of the Celery task when none is given
DEFAULT_SHARDS = 4

DAYS_IN_YEAR = Decimal(360)  # ACT/360

_FIN = "eod_interest_fin"
_CONTRACT = "eod_interest_contract"

# an open financing that accrues on %(day)s, in the shard; not yet accrued for the day (or, on
# a catch-up, for that day or a later one)
_CANDIDATES = """
    f.status = 'open' AND f.principal_outstanding > 0 AND f.opened_on <= %(day)s
    AND mod(f.contract_id, %(shards)s) = %(shard)s
    AND NOT EXISTS (SELECT 1 FROM lending_interestaccrual a
                     WHERE a.contract_id = f.contract_id AND a.business_date {op} %(day)s)
"""


@dataclass(frozen=True)
class ShardResult:
    business_date: date
    shard: int
    shards: int
    contracts: int  # InterestAccrual rows written
    entries: int  # journal entries posted
    amount: Decimal  # interest posted

    def as_dict(self) -> dict:
        return {
            "business_date": self.business_date.isoformat(),
            "shard": self.shard,
            "shards": self.shards,
            "contracts": self.contracts,
            "entries": self.entries,
            "amount": str(self.amount),
        }


def _day(value: date | str) -> date:
    return date.fromisoformat(value) if isinstance(value, str) else value


def shard_accrue(
    *,
    business_date: date | str,
    shard: int = 0,
    shards: int = 1,
    actor=None,
    since_last: bool = False,
) -> ShardResult:
    """Accrue `business_date`'s interest on the contracts of one shard, in one transaction
    (retried on transient clashes). `since_last` (catch-up) also skips contracts already
    accrued for a later day. Idempotent: a second run writes and posts nothing."""
    require_permission(actor, PERM, action="accrue interest")
    day = _day(business_date)
    shards, shard = int(shards), int(shard)
    if shards < 1 or not 0 <= shard < shards:
        raise ValidationFailed(
            _("shard: %(shard)s is not one of 0..%(last)s") % {"shard": shard, "last": shards - 1},
            extra={"field": "shard"},
        )

    def run() -> ShardResult:
        return _shard_accrue_in_transaction(
            day=day, shard=shard, shards=shards, actor=actor, since_last=since_last
        )

    try:
        return durable(run, "interest_accrue_shard")
    except IntegrityError:
        # another run (other shards, another task) wrote some of these contracts' day
        # first: the second pass skips them
        return durable(run, "interest_accrue_shard")


def _shard_accrue_in_transaction(
    *, day: date, shard: int, shards: int, actor, since_last: bool
) -> ShardResult:
    iso = day.isoformat()
    params = {"day": day, "iso": iso, "shard": shard, "shards": shards}
    where = _CANDIDATES.format(op=">=" if since_last else "=")
    with connection.cursor() as c:
        c.execute(
            "SELECT pg_advisory_xact_lock(hashtext('lending.interest_accrue'), "
            "hashtext(%(iso)s || ':' || %(shards)s || ':' || %(shard)s))",
            params,
        )
        # 1. the investors (desk's lock order, step 1), in primary-key order
        c.execute(
            "SELECT count(*) FROM (SELECT i.id FROM accounts_investorprofile i "  # noqa: S608
            "WHERE i.id IN (SELECT ca.investor_id FROM lending_financing f "
            "JOIN lending_creditaccount ca ON ca.id = f.credit_account_id "
            f"WHERE {where}) ORDER BY i.id FOR UPDATE OF i) locked",
            params,
        )
        # 2. the financings, locked, with their day's interest
        c.execute(f"DROP TABLE IF EXISTS {_FIN}; DROP TABLE IF EXISTS {_CONTRACT}")
        c.execute(
            f"CREATE TEMP TABLE {_FIN} (id bigint PRIMARY KEY, contract_id bigint, "
            "credit_account_id bigint, principal numeric, rate numeric, amount numeric) "
            "ON COMMIT DROP"
        )
        c.execute(
            f"INSERT INTO {_FIN} WITH locked AS (SELECT f.id, f.contract_id, "  # noqa: S608
            "f.credit_account_id, f.principal_outstanding FROM lending_financing f "
            f"WHERE {where} ORDER BY f.id FOR UPDATE OF f) "
            "SELECT l.id, l.contract_id, l.credit_account_id, l.principal_outstanding, "
            "k.annual_interest_rate, round(l.principal_outstanding * k.annual_interest_rate "
            "/ 360, 2) FROM locked l JOIN lending_creditcontract k ON k.id = l.contract_id",
            params,
        )
        if not c.rowcount:
            return ShardResult(day, shard, shards, 0, 0, Decimal(0))
        # 3. per contract (the investor of its first financing's account, as before)
        c.execute(
            f"CREATE TEMP TABLE {_CONTRACT} ON COMMIT DROP AS "  # noqa: S608
            "SELECT t.contract_id, ca.investor_id, t.principal, t.rate, t.amount, "
            "k.contract_number, 'interest:' || t.contract_id || ':' || %(iso)s AS key, "
            "NULL::bigint AS receivable_id, "
            f"CASE WHEN t.amount > 0 THEN {ENTRY_ID_NEXTVAL} END AS entry_id "
            "FROM (SELECT contract_id, sum(principal) AS principal, min(rate) AS rate, "
            "sum(amount) AS amount, (array_agg(credit_account_id ORDER BY id))[1] AS account_id "
            f"FROM {_FIN} GROUP BY contract_id) t "
            "JOIN lending_creditcontract k ON k.id = t.contract_id "
            "JOIN lending_creditaccount ca ON ca.id = t.account_id",
            params,
        )
        contracts = c.rowcount
        # 4. the ledger accounts: each investor's interest receivable (opened on first use)
        client_accounts_ensure_in_transaction(
            investor_source=f"SELECT investor_id FROM {_CONTRACT} WHERE amount > 0",  # noqa: S608
            params={},
            purpose="interest_receivable",
            unit=CURRENCY,
            actor=actor,
            reason=f"standard account created on first use (interest {iso})",
        )
        c.execute(
            f"UPDATE {_CONTRACT} t SET receivable_id = a.id FROM custody_ledgeraccount a "  # noqa: S608
            "WHERE t.amount > 0 AND a.purpose_key = "
            "'client:' || t.investor_id || ':interest_receivable:' || %(unit)s",
            {"unit": CURRENCY},
        )
    with connection.cursor() as c:
        # 5. the accrual rows, linked to their entries (ids reserved above; the foreign key is
        #    checked at commit, after the entries are posted)
        c.execute(
            "INSERT INTO lending_interestaccrual (contract_id, business_date, principal, "  # noqa: S608
            "annual_rate, amount, entry_id, created_at) "
            "SELECT t.contract_id, %(day)s, t.principal, t.rate, t.amount, t.entry_id, now() "
            f"FROM {_CONTRACT} t ORDER BY t.contract_id",
            params,
        )
        # 6. the financings' unpaid interest, and their history rows
        c.execute(
            f"UPDATE lending_financing f SET interest_accrued = f.interest_accrued + t.amount "  # noqa: S608
            f"FROM {_FIN} t WHERE f.id = t.id AND t.amount > 0"
        )
        _financing_history(c, actor=actor, reason=f"interest {iso}")
    # 7. the entries, in one statement, last: the house income balance row it locks (every
    #    shard credits it) is held from here to the commit only
    income = custody.house_account("interest_income", CURRENCY, actor=actor)
    posting = entries_post_two_leg_set_in_transaction(
        source=(
            "SELECT key AS idempotency_key, 'Interest ' || %(iso)s || ' on ' || "  # noqa: S608
            f"to_char(principal, '{FMT_MONEY}') || ' at ' || "
            "trim_scale(rate)::text || ' ACT/360 (' || contract_number || ')' AS memo, "
            "%(day)s::date AS effective_date, entry_id, receivable_id AS debit_account_id, "
            f"%(income)s::bigint AS credit_account_id, amount FROM {_CONTRACT} "
            "WHERE amount > 0 ORDER BY contract_id"
        ),
        params={"iso": iso, "day": day, "income": income.pk},
        kind=EntryKind.INTEREST,
        unit=CURRENCY,
        actor=actor,
        ids_reserved=True,
    )
    with connection.cursor() as c:
        if posting.repeated:
            # a key posted before (by hand, or a per-contract run): link its first entry
            c.execute(
                "UPDATE lending_interestaccrual a SET entry_id = j.id "  # noqa: S608
                f"FROM {_CONTRACT} t JOIN custody_journalentry j ON j.idempotency_key = t.key "
                "WHERE a.contract_id = t.contract_id AND a.business_date = %(day)s "
                "AND a.entry_id IS DISTINCT FROM j.id",
                params,
            )
        c.execute(f"SELECT coalesce(sum(amount), 0) FROM {_CONTRACT}")  # noqa: S608
        amount = c.fetchone()[0]
        c.execute(f"DROP TABLE {_CONTRACT}; DROP TABLE {_FIN}")
    return ShardResult(day, shard, shards, contracts, posting.posted, amount)


def _financing_history(cursor, *, actor, reason: str) -> int:
    """One simple-history row ("~") per financing of this shard whose interest changed, its
    tracked columns copied from the row as now written (history_insert_select, fed by the
    shard's table)."""
    from lending.financing.models import Financing

    return history_insert_select(
        cursor,
        Financing,
        source=f"SELECT id FROM {_FIN} WHERE amount > 0",  # noqa: S608
        actor=actor,
        reason=reason,
    )


#: to_char format of an amount as lending.domain.formats.fmt writes it (thousands separators,
#: two places): the memos and reasons the set-based end-of-day steps write in SQL
FMT_MONEY = "FM999,999,999,999,999,999,990.00"


def history_insert_select(
    cursor, model, *, source: str, params: dict | None = None, actor, reason: str | None = None
) -> int:
    """One simple-history row ("~") per row of `model` whose primary key the SQL query `source`
    (named %(...)s `params`) returns as column `id`, its tracked columns copied from the row as
    now written in this transaction (accounts.bulk.history_rows_insert, fed by a query instead
    of arrays); the user is the actor. The reason is `reason`, or, when None, each row's own
    from the source's column `reason`; either marked "system: " when no person acts
    (accounts.audit.change_reason). Returns the rows written."""
    from simple_history.utils import get_history_model_for_model

    history = get_history_model_for_model(model)
    qn = connection.ops.quote_name
    pk = qn(model._meta.pk.column)
    tracked = [qn(f.column) for f in history.tracked_fields]
    target = ", ".join(
        [*tracked, "history_date", "history_change_reason", "history_user_id", "history_type"]
    )
    columns = ", ".join(f"t.{col}" for col in tracked)
    values = {"h_at": timezone.now(), "h_user": getattr(actor, "pk", None)}
    if reason is not None:
        values["h_reason"] = change_reason(actor=actor, reason=reason)
        why = "%(h_reason)s"
    else:
        values["h_prefix"] = "" if actor is not None else SYSTEM_PREFIX
        why = "%(h_prefix)s || s.reason"
    cursor.execute(
        f"INSERT INTO {qn(history._meta.db_table)} ({target}) "  # noqa: S608
        f"SELECT {columns}, %(h_at)s, {why}, %(h_user)s, '~' "
        f"FROM {qn(model._meta.db_table)} t JOIN ({source}) s ON s.id = t.{pk} ORDER BY t.{pk}",
        {**(params or {}), **values},
    )
    return cursor.rowcount


def daily_interest(principal: Decimal, annual_rate: Decimal) -> Decimal:
    """One day of ACT/360 interest, to the cent (half up): the rule the end-of-day SQL applies
    per financing and day as round(principal * rate / 360, 2) (interest here, penalty interest
    in lending.financing.maturity.penalty_accrue)."""
    return money_rounded(principal * annual_rate / DAYS_IN_YEAR)


# --- days --------------------------------------------------------------------------------------


def days_to_accrue(through: date | str, *, max_days: int = MAX_CATCHUP_DAYS) -> list[date]:
    """The days a catch-up through `through` accrues, oldest first: from the day after the
    earliest last accrual of a contract that has an accruable financing (contracts never
    accrued start with the others), at most `max_days` days, always ending with `through`."""
    through = _day(through)
    with connection.cursor() as c:
        c.execute(
            "SELECT min((SELECT max(a.business_date) FROM lending_interestaccrual a "
            "            WHERE a.contract_id = o.contract_id AND a.business_date <= %(d)s)) "
            "FROM (SELECT DISTINCT contract_id FROM lending_financing WHERE status = 'open' "
            "      AND principal_outstanding > 0 AND opened_on <= %(d)s) o",
            {"d": through},
        )
        last = c.fetchone()[0]
    start = through if last is None else min(last + timedelta(days=1), through)
    earliest = through - timedelta(days=max_days - 1)
    if start < earliest:
        logger.warning(
            "interest catch-up through %s: last accrual %s is more than %s days back; "
            "accruing from %s only",
            through,
            last,
            max_days,
            earliest,
        )
        start = earliest
    return [start + timedelta(days=n) for n in range((through - start).days + 1)]


def day_accrue(
    *, business_date: date | str, shards: int = 1, actor=None, since_last: bool = False
) -> list[ShardResult]:
    """Every shard of one day, one after the other, in this process."""
    return [
        shard_accrue(
            business_date=business_date,
            shard=k,
            shards=shards,
            actor=actor,
            since_last=since_last,
        )
        for k in range(shards)
    ]


def interest_accrue_through(
    day: date | str, *, shards: int = 1, actor=None, penalty: bool = False
) -> dict[date, int]:
    """Catch up in this process: every missed day up to `day`, oldest first (days_to_accrue),
    each day's shards before the next day; with `penalty`, each day's penalty interest after
    its interest (lending.financing.maturity.penalty_accrue), as the daily task does. Returns
    the contracts accrued per day. The Celery task (lending.tasks.interest_accrue_daily) runs
    the same days as a chord of shard tasks per day."""
    require_permission(actor, PERM, action="accrue interest")
    done: dict[date, int] = {}
    for d in days_to_accrue(day):
        done[d] = sum(
            r.contracts
            for r in day_accrue(business_date=d, shards=shards, actor=actor, since_last=True)
        )
        if penalty:
            from lending.financing import maturity

            maturity.penalty_accrue(business_date=d, actor=actor)
    return done
