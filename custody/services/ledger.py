"""The one posting service. No other code writes postings.

Sign convention: a leg's amount is positive for a debit and negative for a credit; per entry and
per unit the legs sum to zero (PostgreSQL checks it again at commit).

Top-level services run in `transaction.atomic(durable=True)` and retry serialization failures,
deadlocks and lock timeouts a bounded number of times, then raise RetryableError. The
`*_in_transaction` variants compose inside a caller's transaction (no retry there: the caller's
top-level service retries).

Locks: ledger accounts are the last step of the desk's lock order (written down once, in
lending.credit.locks; custody's own services take its first step with `investor_lock`): balance
rows by primary key (`balances_lock`, `select_for_update(of=("self",))`). The posting trigger
locks balance rows in primary-key order too, so two entries touching the same accounts never
deadlock.

Permissions: the front doors check them (`entry_post` and `entries_post`: custody.add_journalentry;
`entry_reverse`: custody.reverse_journalentry; `ledger_account_set_external_ref`:
custody.change_ledgeraccount). The `*_in_transaction` variants trust their caller, another
service that has checked its own permission, and so does `ledger_account_get_or_create` (with
`house_account` and `client_account`): it only opens the standard, empty account a posting of
a checked service needs on first use.
"""

from __future__ import annotations

import hashlib
import random
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any, TypeVar

from django.db import DatabaseError, IntegrityError, connection, transaction
from django.utils import timezone

from accounts.audit import stamp
from accounts.errors import Conflict, RetryableError, RuleViolation, ValidationFailed
from accounts.permissions import require_permission

from .. import money
from ..models import (
    AccountBalance,
    AccountType,
    EntryKind,
    JournalEntry,
    LedgerAccount,
    Owner,
)

T = TypeVar("T")

POST_PERM = "custody.add_journalentry"
REVERSE_PERM = "custody.reverse_journalentry"

MAX_ATTEMPTS = 5
RETRYABLE_SQLSTATES = frozenset({"40001", "40P01", "55P03"})


# --- chart of accounts ----------------------------------------------------------------------


@dataclass(frozen=True)
class Purpose:
    account_type: str
    owner: str
    name: str
    client_money: bool = False
    segregated: bool = False


# Standard accounts, created on first use by the services that need them.
PURPOSES: dict[str, Purpose] = {
    # house
    "house_bank": Purpose(AccountType.ASSET, Owner.HOUSE, "House bank"),
    "house_equity": Purpose(AccountType.EQUITY, Owner.HOUSE, "House capital"),
    "client_bank": Purpose(
        AccountType.ASSET, Owner.HOUSE, "Client money omnibus bank", segregated=True
    ),
    "reserve_bank": Purpose(
        AccountType.ASSET, Owner.HOUSE, "Segregated reserve bank account", segregated=True
    ),
    "interest_income": Purpose(AccountType.INCOME, Owner.HOUSE, "Interest income"),
    "fee_income": Purpose(AccountType.INCOME, Owner.HOUSE, "Fee income"),
    "reserve_fund": Purpose(AccountType.ASSET, Owner.HOUSE, "Reserve fund"),
    "facility": Purpose(AccountType.LIABILITY, Owner.HOUSE, "Backup facility drawn"),
    "facility_fees": Purpose(AccountType.EXPENSE, Owner.HOUSE, "Facility fees"),
    "defaults_written_off": Purpose(AccountType.EXPENSE, Owner.HOUSE, "Defaults written off"),
    "recon_differences": Purpose(
        AccountType.EXPENSE, Owner.HOUSE, "Reconciliation differences (house)"
    ),
    "custodian": Purpose(AccountType.ASSET, Owner.HOUSE, "Securities at custodian"),
    "house_securities": Purpose(AccountType.LIABILITY, Owner.HOUSE, "House securities inventory"),
    "settlement": Purpose(AccountType.ASSET, Owner.HOUSE, "Exchange settlement"),
    # corporate actions: cash entitlements (dividends) due from the custodian between the
    # ex-date and the pay date; the client's side is its entitlement_receivable
    "custodian_entitlements": Purpose(
        AccountType.ASSET, Owner.HOUSE, "Entitlements due from the custodian"
    ),
    # client
    "client_money": Purpose(AccountType.LIABILITY, Owner.CLIENT, "Client money", client_money=True),
    "financing_receivable": Purpose(AccountType.ASSET, Owner.CLIENT, "Financing receivable"),
    "interest_receivable": Purpose(AccountType.ASSET, Owner.CLIENT, "Interest receivable"),
    "client_securities": Purpose(AccountType.LIABILITY, Owner.CLIENT, "Client securities"),
    # a cash dividend owed to the client from its ex-date until its pay date: "other
    # collateral" in the maintenance ratio (lending.financing.corporate_actions)
    "entitlement_receivable": Purpose(
        AccountType.LIABILITY, Owner.CLIENT, "Dividend entitlement receivable"
    ),
}


def purpose_key(
    *, purpose: str, unit: str, investor_id: int | None = None, suffix: str = ""
) -> str:
    owner = f"client:{investor_id}" if investor_id is not None else "house"
    tail = f":{suffix}" if suffix else ""
    return f"{owner}:{purpose}{tail}:{unit}"


def ledger_account_get_or_create(
    *, purpose: str, unit: str, investor=None, suffix: str = "", actor=None
) -> LedgerAccount:
    """The standard account for (purpose, unit[, investor][, suffix]), created on first use."""
    spec = PURPOSES.get(purpose)
    if spec is None:
        raise ValidationFailed(
            f"purpose: unknown account purpose {purpose!r}", extra={"field": "purpose"}
        )
    unit = money.unit_parse(unit)
    if (spec.owner == Owner.CLIENT) != (investor is not None):
        raise ValidationFailed(
            f"investor: a {purpose} account is owned by "
            f"{'exactly one investor' if spec.owner == Owner.CLIENT else 'the house'}",
            extra={"field": "investor"},
        )
    key = purpose_key(
        purpose=purpose, unit=unit, investor_id=investor.pk if investor else None, suffix=suffix
    )
    found = LedgerAccount.objects.filter(purpose_key=key).first()
    if found is not None:
        return found
    name = spec.name
    if investor is not None:
        name = f"{name}: {investor.real_name} (#{investor.pk})"
    if suffix:
        name = f"{name} {suffix}"
    account = LedgerAccount(
        purpose_key=key,
        purpose=purpose,
        name=f"{name} [{unit}]",
        account_type=spec.account_type,
        unit=unit,
        owner=spec.owner,
        investor=investor,
        client_money=spec.client_money,
        segregated=spec.segregated,
    )
    stamp(account, actor=actor, reason=f"standard account {key} created on first use")
    try:
        with transaction.atomic():
            account.save()
    except IntegrityError:
        # Created concurrently by another transaction: use theirs.
        return LedgerAccount.objects.get(purpose_key=key)
    return account


def house_account(purpose: str, unit: str, *, suffix: str = "", actor=None) -> LedgerAccount:
    return ledger_account_get_or_create(purpose=purpose, unit=unit, suffix=suffix, actor=actor)


def client_account(investor, purpose: str, unit: str, *, actor=None) -> LedgerAccount:
    return ledger_account_get_or_create(purpose=purpose, unit=unit, investor=investor, actor=actor)


def ledger_account_set_external_ref(
    *, account: LedgerAccount, external_ref: str, actor, reason: str
) -> LedgerAccount:
    """Map a ledger account to the bank or custodian account number its statements quote."""
    require_permission(
        actor, "custody.change_ledgeraccount", action="map a ledger account to a bank account"
    )
    account.external_ref = external_ref.strip()
    stamp(account, actor=actor, reason=reason)
    try:
        with transaction.atomic():
            account.save(update_fields=["external_ref"])
    except IntegrityError as exc:
        raise Conflict(
            f"external_ref: {external_ref} already maps another {account.unit} account",
            extra={"field": "external_ref"},
        ) from exc
    return account


# --- entries ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Leg:
    account: LedgerAccount
    amount: Decimal  # positive debit, negative credit


def debit(account: LedgerAccount, amount: Decimal) -> Leg:
    return Leg(account, amount)


def credit(account: LedgerAccount, amount: Decimal) -> Leg:
    return Leg(account, -amount)


@dataclass
class EntrySpec:
    legs: Sequence[Leg]
    memo: str
    kind: str = EntryKind.TRANSFER
    idempotency_key: str | None = None
    effective_date: date | None = None
    reversal_of_id: int | None = None
    # filled by validation
    fingerprint: str = field(default="", init=False)


def _validate(spec: EntrySpec, today: date) -> None:
    if spec.kind not in EntryKind.values:
        raise ValidationFailed(f"kind: unknown entry kind {spec.kind!r}", extra={"field": "kind"})
    memo = (spec.memo or "").strip()
    if not memo:
        raise ValidationFailed(
            "memo: every entry says why (memo is required)", extra={"field": "memo"}
        )
    spec.memo = memo[:500]
    if len(spec.legs) < 2:
        raise ValidationFailed("legs: an entry needs two or more postings", extra={"field": "legs"})
    if spec.effective_date is None:
        spec.effective_date = today
    totals: dict[str, Decimal] = defaultdict(Decimal)
    parts = [spec.kind, spec.memo, str(spec.effective_date), str(spec.reversal_of_id or "")]
    for leg in spec.legs:
        account = leg.account
        if not isinstance(account, LedgerAccount) or account.pk is None:
            raise ValidationFailed(
                "legs: each leg names a saved ledger account", extra={"field": "legs"}
            )
        amount = leg.amount
        if not isinstance(amount, Decimal) or not amount.is_finite() or amount == 0:
            raise ValidationFailed(
                f"amount: {amount!r} on {account} is not a non-zero decimal",
                extra={"field": "amount"},
            )
        places = money.places_for(account.unit)
        if amount != amount.quantize(Decimal(1).scaleb(-places)):
            raise ValidationFailed(
                f"amount: {amount} on {account} has more than {places} decimal places",
                extra={"field": "amount"},
            )
        totals[account.unit] += amount
        parts.append(f"{account.pk}={amount.normalize():f}")
    unbalanced = {unit: total for unit, total in totals.items() if total != 0}
    if unbalanced:
        detail = ", ".join(f"{unit} off by {total}" for unit, total in sorted(unbalanced.items()))
        raise ValidationFailed(
            f"legs: the entry does not balance ({detail})", extra={"field": "legs"}
        )
    spec.fingerprint = hashlib.sha256("|".join(parts).encode()).hexdigest()


_INSERT_SQL = """
WITH src AS MATERIALIZED (
    SELECT nextval('custody_journalentry_id_seq') AS id, s.*
      FROM unnest(%s::text[], %s::text[], %s::text[], %s::text[], %s::date[], %s::bigint[])
           WITH ORDINALITY AS s(kind, memo, idempotency_key, fingerprint, effective_date,
                                reversal_of_id, ord)
), e AS (
    INSERT INTO custody_journalentry (id, kind, memo, idempotency_key, fingerprint,
                                      effective_date, actor_id, reversal_of_id)
    SELECT id, kind, memo, idempotency_key, fingerprint, effective_date, %s, reversal_of_id
      FROM src ORDER BY ord
    ON CONFLICT (idempotency_key) DO NOTHING
    RETURNING id, created_at
), p AS (
    INSERT INTO custody_posting (entry_id, account_id, unit, amount)
    SELECT e.id, v.account_id, v.unit, v.amount
      FROM unnest(%s::bigint[], %s::bigint[], %s::text[], %s::numeric[])
           AS v(ord, account_id, unit, amount)
      JOIN src ON src.ord = v.ord
      JOIN e ON e.id = src.id
)
SELECT src.ord, e.id, e.created_at FROM src LEFT JOIN e ON e.id = src.id ORDER BY src.ord
"""


_INSERT_ONE_SQL = """
WITH e AS (
    INSERT INTO custody_journalentry (kind, memo, idempotency_key, fingerprint,
                                      effective_date, actor_id, reversal_of_id)
    VALUES (%s::text, %s::text, %s::text, %s::text, %s::date, %s::bigint, %s::bigint)
    ON CONFLICT (idempotency_key) DO NOTHING
    RETURNING id, created_at
), p AS (
    INSERT INTO custody_posting (entry_id, account_id, unit, amount)
    SELECT e.id, v.account_id, v.unit, v.amount
      FROM e, (VALUES {legs}) AS v(account_id, unit, amount)
)
SELECT 1, id, created_at FROM e
"""
_LEG_SQL = "(%s::bigint, %s::text, %s::numeric)"


def _execute_one(spec: EntrySpec, actor_id: int | None) -> list[tuple]:
    """The common case, one entry: a plain VALUES statement, cheaper to run than unnest."""
    sql = _INSERT_ONE_SQL.format(legs=", ".join([_LEG_SQL] * len(spec.legs)))
    params: list[Any] = [
        spec.kind,
        spec.memo,
        spec.idempotency_key,
        spec.fingerprint,
        spec.effective_date,
        actor_id,
        spec.reversal_of_id,
    ]
    for leg in spec.legs:
        params += [leg.account.pk, leg.account.unit, leg.amount]
    with connection.wrap_database_errors, connection.connection.cursor() as cursor:
        cursor.execute(sql, params, prepare=True)
        rows = cursor.fetchall()
    return rows or [(1, None, None)]


def _insert(specs: Sequence[EntrySpec], actor) -> list[JournalEntry]:
    """Insert prepared specs in one statement; resolve idempotent repeats and conflicts."""
    cols: list[list[Any]] = [[], [], [], [], [], []]
    p_ord: list[int] = []
    p_account: list[int] = []
    p_unit: list[str] = []
    p_amount: list[Decimal] = []
    for ord_, spec in enumerate(specs, start=1):
        cols[0].append(spec.kind)
        cols[1].append(spec.memo)
        cols[2].append(spec.idempotency_key)
        cols[3].append(spec.fingerprint)
        cols[4].append(spec.effective_date)
        cols[5].append(spec.reversal_of_id)
        for leg in spec.legs:
            p_ord.append(ord_)
            p_account.append(leg.account.pk)
            p_unit.append(leg.account.unit)
            p_amount.append(leg.amount)
    actor_id = actor.pk if actor is not None else None
    # A psycopg cursor on Django's own connection (so inside Django's transaction), with the
    # statement prepared once per connection: planning this statement is most of its cost.
    connection.ensure_connection()
    if len(specs) == 1:
        rows = _execute_one(specs[0], actor_id)
    else:
        with connection.wrap_database_errors, connection.connection.cursor() as cursor:
            cursor.execute(
                _INSERT_SQL, [*cols, actor_id, p_ord, p_account, p_unit, p_amount], prepare=True
            )
            rows = cursor.fetchall()
    entries: list[JournalEntry | None] = []
    missing: dict[str, EntrySpec] = {}
    for (_ord, entry_id, created_at), spec in zip(rows, specs, strict=True):
        if entry_id is None:
            entries.append(None)
            missing[spec.idempotency_key] = spec  # type: ignore[index]
            continue
        entry = JournalEntry(
            id=entry_id,
            kind=spec.kind,
            memo=spec.memo,
            idempotency_key=spec.idempotency_key,
            fingerprint=spec.fingerprint,
            effective_date=spec.effective_date,
            actor_id=actor_id,
            reversal_of_id=spec.reversal_of_id,
            created_at=created_at,
        )
        entry._state.adding = False
        entry._state.db = "default"
        entries.append(entry)
    if missing:
        existing = {
            e.idempotency_key: e
            for e in JournalEntry.objects.filter(idempotency_key__in=list(missing))
        }
        for i, spec in enumerate(specs):
            if entries[i] is not None:
                continue
            first = existing[spec.idempotency_key]
            if first.fingerprint != spec.fingerprint:
                raise Conflict(
                    f"idempotency_key: {spec.idempotency_key!r} was already used for journal "
                    f"entry #{first.pk} with different content",
                    extra={
                        "field": "idempotency_key",
                        "idempotency_key": spec.idempotency_key,
                        "entry": first.pk,
                    },
                )
            entries[i] = first
    return entries  # type: ignore[return-value]


def _dedupe_keys(specs: Sequence[EntrySpec]) -> None:
    seen: dict[str, str] = {}
    for spec in specs:
        key = spec.idempotency_key
        if key is None:
            continue
        if key in seen and seen[key] != spec.fingerprint:
            raise Conflict(
                f"idempotency_key: {key!r} appears twice in the batch with different content",
                extra={"field": "idempotency_key", "idempotency_key": key},
            )
        seen[key] = spec.fingerprint


def _sqlstate(exc: BaseException) -> str | None:
    cause = exc.__cause__
    return getattr(cause, "sqlstate", None) or getattr(exc, "sqlstate", None)


def _constraint(exc: BaseException) -> str | None:
    diag = getattr(exc.__cause__, "diag", None)
    return getattr(diag, "constraint_name", None)


def _translate_integrity(exc: IntegrityError, specs: Iterable[EntrySpec]) -> Exception:
    name = _constraint(exc)
    if name == "custody_client_money_never_negative":
        accounts = sorted(
            {
                str(leg.account)
                for s in specs
                for leg in s.legs
                if leg.account.client_money and leg.amount > 0
            }
        )
        return RuleViolation(
            f"client money cannot go negative: {', '.join(accounts) or 'a client money account'} "
            "would be overdrawn",
            code="client_money_negative",
            extra={"accounts": accounts},
        )
    if name == "custody_journalentry_reversal_of_id_key":
        return Conflict(
            "reversal_of: the entry has already been reversed", extra={"field": "reversal_of"}
        )
    return exc


def run_retrying(fn: Callable[[], T], *, what: str) -> T:
    """Run fn (which opens its own durable transaction) and retry transient clashes."""
    for attempt in range(1, MAX_ATTEMPTS + 1):
        try:
            return fn()
        except DatabaseError as exc:
            if isinstance(exc, IntegrityError) or _sqlstate(exc) not in RETRYABLE_SQLSTATES:
                raise
            if attempt == MAX_ATTEMPTS:
                raise RetryableError(
                    f"{what}: the database reported a transient clash ({_sqlstate(exc)}) "
                    f"{MAX_ATTEMPTS} times; try again",
                    extra={"sqlstate": _sqlstate(exc)},
                ) from exc
            time.sleep(random.uniform(0, 0.01 * 2**attempt))  # noqa: S311 (jitter)
    raise AssertionError("unreachable")


def entries_post_in_transaction(*, entries: Sequence[EntrySpec], actor) -> list[JournalEntry]:
    """Post many balanced entries inside the caller's transaction (one INSERT statement).

    Returns the entries in input order; an entry whose idempotency key was already used with
    the same content is returned as first posted; with other content it raises Conflict
    (the caller's transaction must then roll back)."""
    if not connection.in_atomic_block:
        raise RuntimeError("entries_post_in_transaction needs the caller's transaction.atomic()")
    if not entries:
        return []
    today = timezone.localdate()
    for spec in entries:
        _validate(spec, today)
    _dedupe_keys(entries)
    try:
        # No savepoint: a failed statement aborts the caller's transaction, which must roll
        # back anyway (and a savepoint would cost two round trips per call).
        return _insert(entries, actor)
    except IntegrityError as exc:
        raise _translate_integrity(exc, entries) from exc


def entry_post_in_transaction(
    *,
    legs: Sequence[Leg],
    memo: str,
    actor,
    kind: str = EntryKind.TRANSFER,
    idempotency_key: str | None = None,
    effective_date: date | None = None,
    reversal_of: JournalEntry | None = None,
) -> JournalEntry:
    spec = EntrySpec(
        legs=legs,
        memo=memo,
        kind=kind,
        idempotency_key=idempotency_key,
        effective_date=effective_date,
        reversal_of_id=reversal_of.pk if reversal_of is not None else None,
    )
    return entries_post_in_transaction(entries=[spec], actor=actor)[0]


def _durable(fn: Callable[[], T], specs: Sequence[EntrySpec], what: str) -> T:
    def attempt() -> T:
        try:
            with transaction.atomic(durable=True):
                return fn()
        except IntegrityError as exc:  # deferred checks fire at commit
            translated = _translate_integrity(exc, specs)
            if translated is exc:
                raise
            raise translated from exc

    return run_retrying(attempt, what=what)


def entry_post(
    *,
    legs: Sequence[Leg],
    memo: str,
    actor,
    kind: str = EntryKind.TRANSFER,
    idempotency_key: str | None = None,
    effective_date: date | None = None,
    reversal_of: JournalEntry | None = None,
) -> JournalEntry:
    """Post one balanced entry in its own (durable) transaction. The ledger's front door."""
    require_permission(actor, POST_PERM, action="post a journal entry")
    spec_args = {
        "legs": legs,
        "memo": memo,
        "actor": actor,
        "kind": kind,
        "idempotency_key": idempotency_key,
        "effective_date": effective_date,
        "reversal_of": reversal_of,
    }
    probe = EntrySpec(legs=legs, memo=memo)
    return _durable(lambda: entry_post_in_transaction(**spec_args), [probe], "entry_post")


def entries_post(*, entries: Sequence[EntrySpec], actor) -> list[JournalEntry]:
    """Batch form: many balanced entries in one durable transaction (daily interest,
    liquidation proceeds across many accounts). All or nothing."""
    require_permission(actor, POST_PERM, action="post journal entries")
    return _durable(
        lambda: entries_post_in_transaction(entries=entries, actor=actor), entries, "entries_post"
    )


def entry_reverse(
    *, entry: JournalEntry, actor, reason: str, idempotency_key: str | None = None
) -> JournalEntry:
    """Post the mirror image of `entry`, linked to it. An entry is reversed at most once."""
    require_permission(actor, REVERSE_PERM, action="reverse a journal entry")
    if not reason or not reason.strip():
        raise ValidationFailed("reason: a reversal says why", extra={"field": "reason"})
    postings = list(entry.postings.select_related("account"))
    legs = [Leg(p.account, -p.amount) for p in postings]
    return entry_post(
        legs=legs,
        memo=f"Reversal of #{entry.pk}: {reason.strip()}",
        actor=actor,
        kind=EntryKind.REVERSAL,
        idempotency_key=idempotency_key or f"reversal:{entry.pk}",
        reversal_of=entry,
    )


def balances_lock(accounts: Iterable[LedgerAccount]) -> dict[int, AccountBalance]:
    """Lock the balance rows of `accounts` in primary-key order; call inside a transaction,
    after any investor and credit-account locks."""
    ids = sorted({a.pk for a in accounts})
    rows = (
        AccountBalance.objects.select_for_update(of=("self",))
        .filter(account_id__in=ids)
        .order_by("account_id")
    )
    return {row.account_id: row for row in rows}


def normal_balance(row: AccountBalance) -> Decimal:
    return money.signed(row.balance, row.normal_sign)
