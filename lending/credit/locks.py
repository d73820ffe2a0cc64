"""The desk's lock order, written down once (DESIGN.md, convention 3).

Every service that changes an investor's money or credit takes its row locks in this order,
each with `select_for_update(of=("self",))` (only the named table's rows, never the joined
ones), each step in primary-key order:

1. investors (accounts.InvestorProfile);
2. credit accounts (lending.credit.models.CreditAccount);
3. the desk-wide limits (`desk_limits_lock`): one transaction-scoped PostgreSQL advisory lock
   on a fixed key, taken by a financed buy before it reads the desk's totals (financing
   outstanding plus what working financed buys hold back) and held until its order, and so its
   hold-back, is committed: two investors' orders placed at once are checked one after the
   other against the net-capital caps, never both against the same stale total;
4. ledger accounts: the balance rows of custody's ledger, locked by custody's posting path
   (`custody.services.balances_lock`, and the posting trigger, which locks the balance rows an
   entry touches in primary-key order).

Steps 1 and 2 are `lock_in_order` (and its single-account forms `credit_account_lock`,
`open_credit_account_lock`); step 3 is `desk_limits_lock`; step 4 is custody's. Callers must not
lock ledger balance rows (nor post a journal entry, whose trigger locks them) before calling the
helper in the same transaction; rows of their own (margin calls, financings, instruments, ...)
come after all the steps. Two transactions that follow the order wait for each other instead of
deadlocking. Only order placement takes step 3 (after its account, before any ledger row), and
while it holds it it only reads and inserts its order, so its holder never waits for a lock a
waiter for it holds. Fills, cancels and repayments do not take it: they only lower the desk's
total or move an amount from a hold-back to financing (a fill costs at most what its order held
back), so a check that reads the totals under the lock never counts less than is lent.

The float stop (financing of one security stopped at 25% of its float, resumed below 20%) is a
state, not a sum an order adds to: it is changed only by `financing_stop_evaluate` under the
instrument's row lock when a fill or a repayment moves that security's financing, and an order
reads the committed state, so no order passes that would not pass run alone.

Custody cannot import lending, so its own services (deposits, withdrawals, reserves) take the
investor step with `custody.services.investor_lock`, the same lock by primary key. Lending takes
it here.

Every function runs inside the caller's transaction (`transaction.atomic`); outside one Django
refuses `select_for_update`. Locks are held until that transaction ends.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from django.db import connection
from django.db.models import Q
from django.utils.translation import gettext as _

from accounts.errors import NotFound, RuleViolation
from accounts.models import InvestorProfile
from lending.credit.models import CreditAccount, CreditAccountStatus


@dataclass(frozen=True)
class Locked:
    """The rows `lock_in_order` locked, by primary key, in lock order (ascending pk)."""

    investors: dict[int, InvestorProfile] = field(default_factory=dict)
    credit_accounts: dict[int, CreditAccount] = field(default_factory=dict)


def lock_in_order(
    *, investor_ids: Iterable[int] = (), credit_account_ids: Iterable[int] = ()
) -> Locked:
    """Lock steps 1 and 2 of the desk's order, in two statements whatever the number of rows.

    Step 1 locks the given investors plus the investors of the given credit accounts, in
    primary-key order (one `SELECT ... ORDER BY id FOR UPDATE OF`: PostgreSQL locks the rows as
    the sorted scan returns them). Step 2 then locks the given credit accounts the same way;
    they come with their investor and the investor's login (`select_related`, not locked).
    An account's investor never changes, so reading it in the step-1 statement is safe.

    Returns the locked rows by primary key. Raises NotFound when a given investor or credit
    account does not exist (after taking the locks it could; the caller's transaction rolls
    back and releases them). With no ids, locks nothing and runs no statement.
    """
    investor_pks = sorted({int(pk) for pk in investor_ids})
    account_pks = sorted({int(pk) for pk in credit_account_ids})
    if not investor_pks and not account_pks:
        return Locked()
    of_accounts = CreditAccount.objects.filter(pk__in=account_pks).values("investor_id")
    if investor_pks and account_pks:
        which = Q(pk__in=investor_pks) | Q(pk__in=of_accounts)
    elif investor_pks:
        which = Q(pk__in=investor_pks)
    else:
        which = Q(pk__in=of_accounts)
    investors = {
        investor.pk: investor
        for investor in InvestorProfile.objects.select_for_update(of=("self",))
        .filter(which)
        .order_by("pk")
    }
    missing = sorted(set(investor_pks) - set(investors))
    if missing:
        raise NotFound(
            _("investors not found: %(missing)s") % {"missing": missing},
            extra={"investors": missing},
        )
    accounts = {}
    if account_pks:
        accounts = {
            account.pk: account
            for account in CreditAccount.objects.select_for_update(of=("self",))
            .select_related("investor__user")
            .filter(pk__in=account_pks)
            .order_by("pk")
        }
    missing = sorted(set(account_pks) - set(accounts))
    if missing:
        raise NotFound(
            _("credit accounts not found: %(missing)s") % {"missing": missing},
            extra={"credit_accounts": missing},
        )
    return Locked(investors=investors, credit_accounts=accounts)


#: The advisory lock key of step 3 (one 64-bit key: PostgreSQL keeps single-key advisory
#: locks apart from the two-key ones the mark-to-market shards take): the bytes b"mdesklim"
#: read as a big-endian number, moved into the signed range of a bigint.
DESK_LIMITS_LOCK_KEY = int.from_bytes(b"mdesklim", "big") - 2**63


def desk_limits_lock() -> None:
    """Step 3: wait for, then hold until the transaction ends, the desk-wide limits' lock
    (`pg_advisory_xact_lock`). Take it after the account (steps 1 and 2), before reading the
    desk's totals; the order that passes the caps must be written before the transaction ends."""
    if not connection.in_atomic_block:
        raise RuntimeError("desk_limits_lock needs the caller's transaction.atomic()")
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [DESK_LIMITS_LOCK_KEY])


def credit_account_lock(credit_account: CreditAccount) -> CreditAccount:
    """Lock one credit account's investor, then the account (`lock_in_order` for one account);
    returns the account as locked (fresh from the database, with investor and login)."""
    return lock_in_order(credit_account_ids=(credit_account.pk,)).credit_accounts[credit_account.pk]


def open_credit_account_lock(credit_account: CreditAccount) -> CreditAccount:
    """`credit_account_lock`, refused (RuleViolation "account_closed") unless the account is
    open."""
    account = credit_account_lock(credit_account)
    if account.status != CreditAccountStatus.OPEN:
        raise RuleViolation(
            _("credit_account: %(number)s is %(status)s")
            % {"number": account.account_number, "status": account.get_status_display()},
            code="account_closed",
            extra={"field": "credit_account"},
        )
    return account
