"""Every write of the custody app. Other apps import from here (custody.services).

Permissions: every top-level service checks the actor's permission with
accounts.permissions.require_permission (actor None is the system: tasks, commands, seeds). A
function named `*_in_transaction` composes inside a caller's transaction and trusts its caller:
only other services call it, after checking their own permission (lending's orders, bank
credits, withdrawals, liquidation and risk runs). `ledger_account_get_or_create` (and
`house_account`, `client_account`) only opens the standard empty account a checked posting
needs on first use, and `balances_lock` only locks; neither checks. tests/test_actor_none.py
holds the list of services that check nothing and why."""

from .client import (
    client_deposit_post,
    client_deposit_post_in_transaction,
    client_withdrawal_post,
    client_withdrawal_post_in_transaction,
    held_deposit_credit_in_transaction,
    investor_lock,
)
from .ledger import (
    PURPOSES,
    EntrySpec,
    Leg,
    balances_lock,
    client_account,
    credit,
    debit,
    entries_post,
    entries_post_in_transaction,
    entry_post,
    entry_post_in_transaction,
    entry_reverse,
    house_account,
    ledger_account_get_or_create,
    ledger_account_set_external_ref,
    normal_balance,
)
from .reconciliation import (
    client_money_requirement_compute,
    reconciliation_break_resolve,
    reconciliation_external_run,
    reconciliation_internal_run,
    statement_import,
)
from .reserves import (
    MOVE_PERM,
    facility_close,
    facility_create,
    facility_draw,
    facility_repay,
    house_capital_contribute,
    reserve_fund_contribute,
    reserve_fund_use,
    reserve_fund_use_in_transaction,
    reserve_target_set,
    reserve_target_set_in_transaction,
    uncovered_loss_address,
)

__all__ = [
    "MOVE_PERM",
    "PURPOSES",
    "EntrySpec",
    "Leg",
    "balances_lock",
    "client_account",
    "client_deposit_post",
    "client_deposit_post_in_transaction",
    "client_money_requirement_compute",
    "client_withdrawal_post",
    "client_withdrawal_post_in_transaction",
    "credit",
    "debit",
    "entries_post",
    "entries_post_in_transaction",
    "entry_post",
    "entry_post_in_transaction",
    "entry_reverse",
    "facility_close",
    "facility_create",
    "facility_draw",
    "facility_repay",
    "held_deposit_credit_in_transaction",
    "house_account",
    "house_capital_contribute",
    "investor_lock",
    "ledger_account_get_or_create",
    "ledger_account_set_external_ref",
    "normal_balance",
    "reconciliation_break_resolve",
    "reconciliation_external_run",
    "reconciliation_internal_run",
    "reserve_fund_contribute",
    "reserve_fund_use",
    "reserve_fund_use_in_transaction",
    "reserve_target_set",
    "reserve_target_set_in_transaction",
    "statement_import",
    "uncovered_loss_address",
]
