"""The desk's lock order, written down once (DESIGN.md, convention 3).

Every service that changes an investor's money or credit takes its row locks in this order,
each with `select_for_update(of=("self",))` (only the named table's rows, never the joined
ones), each step in primary-key order:

1. investors (accounts.InvestorProfile);
2. credit accounts (lending.credit.models.CreditAccount);
3. ledger accounts: the balance rows of custody's ledger, locked by custody's posting path
   (`custody.services.balances_lock`, and the posting trigger, which locks the balance rows an
   entry touches in primary-key order).

Steps 1 and 2 are `lock_in_order` (and its single-account forms `credit_account_lock`,
`open_credit_account_lock`); step 3 is custody's. Callers must not lock ledger balance rows (nor
post a journal entry, whose trigger locks them) before calling the helper in the same
transaction; rows of their own (margin calls, financings, instruments, ...) come after all
three steps. Two transactions that follow the order wait for each other instead of deadlocking.

Custody cannot import lending, so its own services (deposits, withdrawals, reserves) take the
investor step with `custody.services.investor_lock`, the same lock by primary key. Lending takes
it here.

Every function runs inside the caller's transaction (`transaction.atomic`); outside one Django
refuses `select_for_update`. Locks are held until that transaction ends.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

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
        raise NotFound(f"investors not found: {missing}", extra={"investors": missing})
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
        raise NotFound(f"credit accounts not found: {missing}", extra={"credit_accounts": missing})
    return Locked(investors=investors, credit_accounts=accounts)


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
