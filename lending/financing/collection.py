"""Monthly interest collection, set-based and sharded (docs/eod.md, "Monthly interest
collection").

Once a month the interest accrued on each credit account is taken from the investor's cash; what
the cash cannot cover stays receivable. Per open credit account whose investor is in the shard
(investor id mod `shards` == `shard`), computed in SQL, in one transaction per shard (all or
nothing: a worker killed mid-shard leaves nothing behind; the shard run again collects each
account once):

* due = the investor's interest_receivable balance, cash = minus the client_money balance
  (a credit), pay = min(due, cash); nothing when pay is not above zero;
* one journal entry Dr client_money / Cr interest_receivable `pay`, kind "interest", key
  `interest-collect:{investor_id}:{YYYY-MM}` (once per investor and month: an account whose key
  is posted is skipped), memo "Interest collected for {YYYY-MM}: {pay} of {due} due", posted by
  custody's set-based service (custody.services.ledger.entries_post_two_leg_set_in_transaction:
  the same checks, fingerprint and triggers as entries_post_in_transaction);
* the pay spread over the account's open financings as lending.financing.services._allocate
  spreads interest: oldest first (opened_on, then id), each financing's `interest_accrued`
  paid up to what it carries, moved to `interest_paid`, a window function's running sum of the
  earlier financings' interest standing for the loop's "left"; what the financings do not
  carry (the ledger's receivable above their sum: it should not happen) stays paid, unallocated;
  a financing left with no principal and no interest is repaid (status "repaid", quantity
  held 0), as _allocate does. One simple-history row per changed financing (reason
  "interest collected {YYYY-MM}", the actor, "system: " when none).

Then, in the same transaction, what the shard's accounts owe on the securities lending side
(lending fees, 权益补偿 compensation, a buy-in's shortfall: `lending_fee_receivable`) is paid
from the cash left, once per account and month (`_lending_collect_in_transaction`; few
accounts: one at a time).

Locks, in the desk's order (lending.credit.locks): a transaction-scoped advisory lock per
(month, shard, shards) (a second run of the same shard waits, then finds it done), the shard's
investors (primary-key order), their open credit accounts, the ledger balance rows of their
client money and interest receivable (custody.services.balances_lock's order, by account id),
then their open financings (FOR UPDATE); the posting trigger takes the same balance rows again.
No house account is written, so shards never wait for each other.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from datetime import date
from decimal import Decimal

from django.db import IntegrityError, connection
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.errors import ValidationFailed
from accounts.permissions import require_permission
from custody.models import EntryKind
from custody.services.ledger import entries_post_two_leg_set_in_transaction
from lending.common.transactions import durable
from lending.credit.locks import lock_in_order
from lending.financing.accrual import FMT_MONEY, history_insert_select
from lending.financing.models import Financing
from lending.shorts import positions as short_positions

logger = logging.getLogger(__name__)

CURRENCY = "CNY"
PERM = "lending.add_interestaccrual"

#: shards of the Celery task when none is given
DEFAULT_SHARDS = 4

_INV = "eod_collect_investor"
_ACC = "eod_collect_account"
_FIN = "eod_collect_fin"

# an open credit account of the shard whose investor has interest receivable and cash, not yet
# collected for the month
_CANDIDATES = """
    ca.status = 'open' AND mod(ca.investor_id, %(shards)s) = %(shard)s
    AND EXISTS (SELECT 1 FROM custody_ledgeraccount r JOIN custody_accountbalance rb
                  ON rb.account_id = r.id
                WHERE r.purpose_key = 'client:' || ca.investor_id || ':interest_receivable:'
                                      || %(unit)s AND rb.balance > 0)
    AND EXISTS (SELECT 1 FROM custody_ledgeraccount m JOIN custody_accountbalance mb
                  ON mb.account_id = m.id
                WHERE m.purpose_key = 'client:' || ca.investor_id || ':client_money:'
                                      || %(unit)s AND mb.balance < 0)
    AND NOT EXISTS (SELECT 1 FROM custody_journalentry j
                    WHERE j.idempotency_key = 'interest-collect:' || ca.investor_id || ':'
                                              || %(tag)s)
"""


@dataclass(frozen=True)
class CollectResult:
    month: str  # YYYY-MM
    shard: int
    shards: int
    accounts: int  # accounts collected (one entry each)
    financings: int  # financings whose interest was paid (or that were repaid)
    amount: Decimal  # interest collected
    # what the same shard's accounts owed on the securities lending side (fees, compensation,
    # a buy-in's shortfall) and paid from the cash left after the interest
    lending_collected: Decimal = Decimal(0)

    def as_dict(self) -> dict:
        return {
            "month": self.month,
            "shard": self.shard,
            "shards": self.shards,
            "accounts": self.accounts,
            "financings": self.financings,
            "amount": str(self.amount),
            "lending_collected": str(self.lending_collected),
        }


def month_tag(month: date | str) -> str:
    """'YYYY-MM' of a date, or of 'YYYY-MM' / 'YYYY-MM-DD' text."""
    if isinstance(month, str):
        month = date.fromisoformat(month + "-01" if len(month) == 7 else month)
    return f"{month:%Y-%m}"


def _shard_checked(shard: int, shards: int) -> tuple[int, int]:
    shard, shards = int(shard), int(shards)
    if shards < 1 or not 0 <= shard < shards:
        raise ValidationFailed(
            _("shard: %(shard)s is not one of 0..%(last)s") % {"shard": shard, "last": shards - 1},
            extra={"field": "shard"},
        )
    return shard, shards


def shard_collect(
    *, month: date | str, shard: int = 0, shards: int = 1, actor=None
) -> CollectResult:
    """Collect `month`'s interest from the cash of the accounts of one shard, in one
    transaction (retried on transient clashes). Idempotent per investor and month."""
    require_permission(actor, PERM, action="collect interest")
    tag = month_tag(month)
    shard, shards = _shard_checked(shard, shards)

    def run() -> CollectResult:
        result = _shard_collect_in_transaction(tag=tag, shard=shard, shards=shards, actor=actor)
        lending = _lending_collect_in_transaction(tag=tag, shard=shard, shards=shards, actor=actor)
        return replace(result, lending_collected=lending)

    try:
        return durable(run, "interest_collect_shard")
    except IntegrityError:
        # another run (other shards, another task) collected some of these accounts first:
        # the second pass skips them (their key is posted)
        return durable(run, "interest_collect_shard")


def interest_collect(*, month: date | str, actor=None, shards: int = 1) -> int:
    """Collect accrued interest from client cash once a month (key per investor and month);
    what the cash cannot cover stays receivable. Every shard, one after the other, in this
    process (the Celery task lending.tasks.interest_collect_monthly sends them to workers).
    Returns the number of accounts collected."""
    require_permission(actor, PERM, action="collect interest")
    return sum(
        shard_collect(month=month, shard=k, shards=shards, actor=actor).accounts
        for k in range(int(shards))
    )


#: The open credit accounts of a shard's investors owing something on the lending side.
_LENDING_OWED = """
SELECT ca.id FROM lending_creditaccount ca
  JOIN custody_ledgeraccount la ON la.investor_id = ca.investor_id
   AND la.purpose = 'lending_fee_receivable' AND la.unit = %(currency)s
  JOIN custody_accountbalance b ON b.account_id = la.id
 WHERE ca.status = 'open' AND mod(ca.investor_id, %(shards)s) = %(shard)s
   AND b.balance * b.normal_sign > 0
 ORDER BY ca.id
"""


def _lending_collect_in_transaction(*, tag: str, shard: int, shards: int, actor) -> Decimal:
    """The month's collection of what the shard's accounts owe on the securities lending
    side (lending fees, 权益补偿 compensation, a buy-in's shortfall: lending_fee_receivable),
    from the free cash left after the interest, once per account and month (key
    `lending-collect:{account}:{YYYY-MM}`); the fees paid come off the positions' accrued
    fees, oldest first (lending.shorts.positions.lending_receivable_pay_in_transaction). Few
    accounts hold shorts: one account at a time, in the shard's transaction."""
    with connection.cursor() as cursor:
        cursor.execute(_LENDING_OWED, {"currency": "CNY", "shards": shards, "shard": shard})
        ids = [row[0] for row in cursor.fetchall()]
    if not ids:
        return Decimal(0)
    today = timezone.localdate()
    total = Decimal(0)
    locked = lock_in_order(credit_account_ids=ids)
    for account in locked.credit_accounts.values():
        owed = short_positions.lending_receivable_of(account)
        total += short_positions.lending_receivable_pay_in_transaction(
            account=account,
            available=owed,
            key=f"lending-collect:{account.pk}:{tag}",
            memo=f"collected for {tag}",
            on=today,
            actor=actor,
        )
    return total


def _shard_collect_in_transaction(*, tag: str, shard: int, shards: int, actor) -> CollectResult:
    params = {"tag": tag, "shard": shard, "shards": shards, "unit": CURRENCY}
    with connection.cursor() as c:
        c.execute(
            "SELECT pg_advisory_xact_lock(hashtext('lending.interest_collect'), "
            "hashtext(%(tag)s || ':' || %(shards)s || ':' || %(shard)s))",
            params,
        )
        c.execute(f"DROP TABLE IF EXISTS {_INV}; DROP TABLE IF EXISTS {_ACC}")
        c.execute(f"DROP TABLE IF EXISTS {_FIN}")
        # 1. the investors (desk's lock order, step 1), in primary-key order
        c.execute(f"CREATE TEMP TABLE {_INV} (id bigint PRIMARY KEY) ON COMMIT DROP")
        c.execute(
            f"INSERT INTO {_INV} SELECT id FROM (SELECT i.id FROM accounts_investorprofile i "  # noqa: S608
            "WHERE i.id IN (SELECT ca.investor_id FROM lending_creditaccount ca "
            f"WHERE {_CANDIDATES}) ORDER BY i.id FOR UPDATE OF i) locked",
            params,
        )
        if not c.rowcount:
            return CollectResult(tag, shard, shards, 0, 0, Decimal(0))
        # 2. their open credit accounts (step 2)
        c.execute(
            "SELECT count(*) FROM (SELECT ca.id FROM lending_creditaccount ca "  # noqa: S608
            f"JOIN {_INV} v ON v.id = ca.investor_id WHERE ca.status = 'open' "
            "ORDER BY ca.id FOR UPDATE OF ca) locked"
        )
        # 3. the ledger balance rows (step 4), then what is due and what the cash pays, read
        #    under those locks; the month's key checked again
        c.execute(
            f"CREATE TEMP TABLE {_ACC} (investor_id bigint PRIMARY KEY, "
            "credit_account_id bigint, receivable_id bigint, money_id bigint, due numeric, "
            "cash numeric, pay numeric, key text) ON COMMIT DROP"
        )
        c.execute(
            f"INSERT INTO {_ACC} WITH ledger AS (SELECT v.id AS investor_id, "  # noqa: S608
            "r.id AS receivable_id, m.id AS money_id "
            f"FROM {_INV} v JOIN custody_ledgeraccount r ON r.purpose_key = "
            "'client:' || v.id || ':interest_receivable:' || %(unit)s "
            "JOIN custody_ledgeraccount m ON m.purpose_key = "
            "'client:' || v.id || ':client_money:' || %(unit)s), "
            "bal AS (SELECT b.account_id, b.balance FROM custody_accountbalance b "
            "WHERE b.account_id IN (SELECT receivable_id FROM ledger UNION ALL "
            "SELECT money_id FROM ledger) ORDER BY b.account_id FOR UPDATE OF b) "
            "SELECT l.investor_id, ca.id, l.receivable_id, l.money_id, rb.balance, -mb.balance, "
            "least(rb.balance, -mb.balance), "
            "'interest-collect:' || l.investor_id || ':' || %(tag)s "
            "FROM ledger l JOIN lending_creditaccount ca "
            "ON ca.investor_id = l.investor_id AND ca.status = 'open' "
            "JOIN bal rb ON rb.account_id = l.receivable_id "
            "JOIN bal mb ON mb.account_id = l.money_id "
            "WHERE least(rb.balance, -mb.balance) > 0 AND NOT EXISTS (SELECT 1 FROM "
            "custody_journalentry j WHERE j.idempotency_key = "
            "'interest-collect:' || l.investor_id || ':' || %(tag)s)",
            params,
        )
        accounts = c.rowcount
        if not accounts:
            return CollectResult(tag, shard, shards, 0, 0, Decimal(0))
        # 4. the accounts' open financings, locked; each one's share of the pay, oldest first
        #    (services._allocate: pay = min(left, interest_accrued), left = the pay less what
        #    the older financings of the account carry)
        c.execute(
            f"CREATE TEMP TABLE {_FIN} (id bigint PRIMARY KEY, paid numeric, repaid boolean) "
            "ON COMMIT DROP"
        )
        c.execute(
            f"INSERT INTO {_FIN} WITH locked AS (SELECT f.id, f.credit_account_id, f.opened_on, "  # noqa: S608
            "f.interest_accrued, f.principal_outstanding FROM lending_financing f "
            f"WHERE f.status = 'open' AND f.credit_account_id IN (SELECT credit_account_id "
            f"FROM {_ACC}) ORDER BY f.id FOR UPDATE OF f), "
            "shared AS (SELECT l.id, l.principal_outstanding, l.interest_accrued, "
            "greatest(0, least(l.interest_accrued, a.pay - (sum(l.interest_accrued) OVER w "
            "- l.interest_accrued))) AS paid "
            f"FROM locked l JOIN {_ACC} a ON a.credit_account_id = l.credit_account_id "
            "WINDOW w AS (PARTITION BY l.credit_account_id ORDER BY l.opened_on, l.id "
            "ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)) "
            "SELECT id, paid, principal_outstanding = 0 AND interest_accrued - paid = 0 "
            "FROM shared WHERE paid > 0 "
            "OR (principal_outstanding = 0 AND interest_accrued - paid = 0)"
        )
        financings = c.rowcount
        # 5. the financings, and their history rows
        c.execute(
            "UPDATE lending_financing f SET interest_accrued = f.interest_accrued - t.paid, "  # noqa: S608
            "interest_paid = f.interest_paid + t.paid, "
            "status = CASE WHEN t.repaid THEN 'repaid' ELSE f.status END, "
            "quantity_held = CASE WHEN t.repaid THEN 0 ELSE f.quantity_held END "
            f"FROM {_FIN} t WHERE f.id = t.id"
        )
        history_insert_select(
            c,
            Financing,
            source=f"SELECT id FROM {_FIN}",  # noqa: S608
            actor=actor,
            reason=f"interest collected {tag}",
        )
    # 6. the entries, one per account
    posting = entries_post_two_leg_set_in_transaction(
        source=(
            "SELECT key AS idempotency_key, 'Interest collected for ' || %(tag)s || ': ' || "  # noqa: S608
            f"to_char(pay, '{FMT_MONEY}') || ' of ' || to_char(due, '{FMT_MONEY}') || ' due' "
            "AS memo, %(day)s::date AS effective_date, money_id AS debit_account_id, "
            f"receivable_id AS credit_account_id, pay AS amount FROM {_ACC} ORDER BY investor_id"
        ),
        params={"tag": tag, "day": timezone.localdate()},
        kind=EntryKind.INTEREST,
        unit=CURRENCY,
        actor=actor,
    )
    if posting.repeated:  # the keys were checked under the investors' locks
        raise RuntimeError(f"interest collection {tag}: {posting.repeated} keys posted twice")
    with connection.cursor() as c:
        c.execute(f"SELECT coalesce(sum(pay), 0) FROM {_ACC}")  # noqa: S608
        amount = c.fetchone()[0]
        c.execute(f"DROP TABLE {_FIN}; DROP TABLE {_ACC}; DROP TABLE {_INV}")
    return CollectResult(tag, shard, shards, accounts, financings, amount)


__all__ = ["CollectResult", "interest_collect", "month_tag", "shard_collect"]
