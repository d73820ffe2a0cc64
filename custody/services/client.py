"""Client deposits and withdrawals.

The top-level services check `POST_PERM` (custody.add_journalentry: operations and treasury);
the `*_in_transaction` variants trust their caller, a service that has checked its own
permission (lending's bank credits, held-deposit release and withdrawal requests)."""

from __future__ import annotations

from decimal import Decimal

from django.db import transaction
from django.utils.translation import gettext as _

from accounts.errors import RuleViolation, ValidationFailed
from accounts.models import InvestorProfile
from accounts.permissions import require_permission

from .. import money
from ..models import EntryKind, JournalEntry
from .ledger import (
    balances_lock,
    client_account,
    credit,
    debit,
    entry_post_in_transaction,
    house_account,
    normal_balance,
    run_retrying,
)

#: Posting money in or out of a client's account by hand (the services below).
POST_PERM = "custody.add_journalentry"


def _key(idempotency_key: str) -> str:
    key = (idempotency_key or "").strip()
    if not key:
        raise ValidationFailed(
            _("idempotency_key: money movements need an idempotency key"),
            extra={"field": "idempotency_key"},
        )
    return key


def investor_lock(investor: InvestorProfile) -> InvestorProfile:
    """The first step of the desk's lock order (written down in lending.credit.locks, which
    takes this step for lending's services), for custody's own services."""
    return InvestorProfile.objects.select_for_update(of=("self",)).get(pk=investor.pk)


def client_deposit_post_in_transaction(
    *,
    investor: InvestorProfile,
    amount: Decimal | str,
    currency: str,
    bank_account: str,
    reference: str,
    actor,
    idempotency_key: str,
) -> JournalEntry:
    amount = money.money_parse(amount, field="amount")
    currency = money.currency_parse(currency)
    key = _key(idempotency_key)
    if not investor.is_bank_account_of_record(bank_account):
        raise RuleViolation(
            _(
                "bank_account: deposits are accepted only from the investor's bank account of "
                "record (%(account)s)"
            )
            % {"account": investor.bank_account_masked},
            code="not_bank_of_record",
            extra={"field": "bank_account"},
        )
    return _client_money_credit(
        investor=investor,
        amount=amount,
        currency=currency,
        memo=f"Deposit from bank of record {investor.bank_account_masked}: {reference}".strip(),
        actor=actor,
        key=key,
    )


def _client_money_credit(*, investor, amount, currency, memo, actor, key) -> JournalEntry:
    investor_lock(investor)
    client_money = client_account(investor, "client_money", currency, actor=actor)
    bank = house_account("client_bank", currency, actor=actor)
    return entry_post_in_transaction(
        legs=[debit(bank, amount), credit(client_money, amount)],
        memo=memo,
        kind=EntryKind.DEPOSIT,
        actor=actor,
        idempotency_key=key,
    )


def held_deposit_credit_in_transaction(
    *,
    investor: InvestorProfile,
    amount: Decimal | str,
    currency: str,
    reference: str,
    actor,
    idempotency_key: str,
) -> JournalEntry:
    """Credit money that arrived from a bank account other than the account of record and
    was held for review, once compliance staff released it. The caller (the release
    service) records the review; this posts the money in the caller's transaction."""
    amount = money.money_parse(amount, field="amount")
    currency = money.currency_parse(currency)
    return _client_money_credit(
        investor=investor,
        amount=amount,
        currency=currency,
        memo=f"Released held deposit after review: {reference}".strip(),
        actor=actor,
        key=_key(idempotency_key),
    )


def client_deposit_post(
    *,
    investor: InvestorProfile,
    amount: Decimal | str,
    currency: str,
    bank_account: str,
    reference: str,
    actor,
    idempotency_key: str,
) -> JournalEntry:
    """Credit the client's money with a deposit received from their bank account of record
    into the client omnibus bank. Compliance's red-flag check runs before this call."""
    require_permission(actor, POST_PERM, action="post a client deposit")

    def run() -> JournalEntry:
        with transaction.atomic(durable=True):
            return client_deposit_post_in_transaction(
                investor=investor,
                amount=amount,
                currency=currency,
                bank_account=bank_account,
                reference=reference,
                actor=actor,
                idempotency_key=idempotency_key,
            )

    return run_retrying(run, what="client_deposit_post")


def client_withdrawal_post_in_transaction(
    *,
    investor: InvestorProfile,
    amount: Decimal | str,
    currency: str,
    reference: str,
    actor,
    idempotency_key: str,
) -> JournalEntry:
    amount = money.money_parse(amount, field="amount")
    currency = money.currency_parse(currency)
    key = _key(idempotency_key)
    investor_lock(investor)
    client_money = client_account(investor, "client_money", currency, actor=actor)
    bank = house_account("client_bank", currency, actor=actor)
    repeat = JournalEntry.objects.filter(idempotency_key=key).first()
    if repeat is None:
        # Lock the balance rows (primary-key order), then check with the lock held.
        rows = balances_lock([client_money, bank])
        available = normal_balance(rows[client_money.pk])
        if amount > available:
            raise RuleViolation(
                _(
                    "amount: withdrawal of %(amount)s refused: account %(account)s (%(name)s) "
                    "holds only %(available)s"
                )
                % {
                    "amount": money.fmt(amount, currency),
                    "account": client_money.purpose_key,
                    "name": client_money.name,
                    "available": money.fmt(available, currency),
                },
                code="insufficient_client_money",
                extra={
                    "field": "amount",
                    "account": client_money.purpose_key,
                    "amount": str(amount),
                    "balance": str(available),
                },
            )
    return entry_post_in_transaction(
        legs=[debit(client_money, amount), credit(bank, amount)],
        memo=f"Withdrawal to bank of record {investor.bank_account_masked}: {reference}".strip(),
        kind=EntryKind.WITHDRAWAL,
        actor=actor,
        idempotency_key=key,
    )


def client_withdrawal_post(
    *,
    investor: InvestorProfile,
    amount: Decimal | str,
    currency: str,
    reference: str,
    actor,
    idempotency_key: str,
) -> JournalEntry:
    """Pay client money out to the bank account of record. More than the client's money is
    refused (RuleViolation naming the account, the amount and the balance); nothing is written.
    Lending adds its own rule (maintenance ratio >= 300%) before calling the inner variant."""
    require_permission(actor, POST_PERM, action="pay a client withdrawal")

    def run() -> JournalEntry:
        with transaction.atomic(durable=True):
            return client_withdrawal_post_in_transaction(
                investor=investor,
                amount=amount,
                currency=currency,
                reference=reference,
                actor=actor,
                idempotency_key=idempotency_key,
            )

    return run_retrying(run, what="client_withdrawal_post")
