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
from django.utils.translation import gettext_noop

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


# Standard accounts, created on first use by the services that need them. Their names are
# stored in English; pages show them in the reader's language (LedgerAccount.label).
PURPOSES: dict[str, Purpose] = {
    # house
    "house_bank": Purpose(AccountType.ASSET, Owner.HOUSE, gettext_noop("House bank")),
    "house_equity": Purpose(AccountType.EQUITY, Owner.HOUSE, gettext_noop("House capital")),
    "client_bank": Purpose(
        AccountType.ASSET, Owner.HOUSE, gettext_noop("Client money omnibus bank"), segregated=True
    ),
    "reserve_bank": Purpose(
        AccountType.ASSET,
        Owner.HOUSE,
        gettext_noop("Segregated reserve bank account"),
        segregated=True,
    ),
    "interest_income": Purpose(AccountType.INCOME, Owner.HOUSE, gettext_noop("Interest income")),
    "fee_income": Purpose(AccountType.INCOME, Owner.HOUSE, gettext_noop("Fee income")),
    "reserve_fund": Purpose(AccountType.ASSET, Owner.HOUSE, gettext_noop("Reserve fund")),
    "facility": Purpose(AccountType.LIABILITY, Owner.HOUSE, gettext_noop("Backup facility drawn")),
    "facility_fees": Purpose(AccountType.EXPENSE, Owner.HOUSE, gettext_noop("Facility fees")),
    "defaults_written_off": Purpose(
        AccountType.EXPENSE, Owner.HOUSE, gettext_noop("Defaults written off")
    ),
    "recon_differences": Purpose(
        AccountType.EXPENSE, Owner.HOUSE, gettext_noop("Reconciliation differences (house)")
    ),
    "custodian": Purpose(AccountType.ASSET, Owner.HOUSE, gettext_noop("Securities at custodian")),
    "house_securities": Purpose(
        AccountType.LIABILITY, Owner.HOUSE, gettext_noop("House securities inventory")
    ),
    "settlement": Purpose(AccountType.ASSET, Owner.HOUSE, gettext_noop("Exchange settlement")),
    # corporate actions: cash entitlements (dividends) due from the custodian between the
    # ex-date and the pay date; the client's side is its entitlement_receivable
    "custodian_entitlements": Purpose(
        AccountType.ASSET, Owner.HOUSE, gettext_noop("Entitlements due from the custodian")
    ),
    # securities lending (lending.shorts): lending fees and the lender's compensation earned
    "lending_fee_income": Purpose(
        AccountType.INCOME, Owner.HOUSE, gettext_noop("Securities lending fee income")
    ),
    "compensation_income": Purpose(
        AccountType.INCOME, Owner.HOUSE, gettext_noop("Short seller compensation received")
    ),
    # client
    "client_money": Purpose(
        AccountType.LIABILITY, Owner.CLIENT, gettext_noop("Client money"), client_money=True
    ),
    "financing_receivable": Purpose(
        AccountType.ASSET, Owner.CLIENT, gettext_noop("Financing receivable")
    ),
    "interest_receivable": Purpose(
        AccountType.ASSET, Owner.CLIENT, gettext_noop("Interest receivable")
    ),
    "client_securities": Purpose(
        AccountType.LIABILITY, Owner.CLIENT, gettext_noop("Client securities")
    ),
    # a cash dividend owed to the client from its ex-date until its pay date: "other
    # collateral" in the maintenance ratio (lending.financing.corporate_actions)
    "entitlement_receivable": Purpose(
        AccountType.LIABILITY, Owner.CLIENT, gettext_noop("Dividend entitlement receivable")
    ),
    # securities lending (lending.shorts): the shares a short seller owes the lending
    # inventory (per instrument), the restricted proceeds of its short sales (client money,
    # usable only to cover or as the rules allow, released as the shares are returned), and
    # what it owes on the lending side: fees, compensation, a buy-in's shortfall
    "short_securities": Purpose(
        AccountType.ASSET, Owner.CLIENT, gettext_noop("Securities owed (short)")
    ),
    "short_proceeds": Purpose(
        AccountType.LIABILITY,
        Owner.CLIENT,
        gettext_noop("Restricted short-sale proceeds"),
        client_money=True,
    ),
    "lending_fee_receivable": Purpose(
        AccountType.ASSET, Owner.CLIENT, gettext_noop("Securities lending receivable")
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


# --- set-based posting (end-of-day batches) --------------------------------------------------
#
# The end-of-day batches (lending.financing.accrual) compute thousands of two-leg entries in
# SQL. Building an EntrySpec per row in Python would cost more than the accrual itself, so the
# two services below take a SQL source instead of objects and do in SQL what the services above
# do in Python: the same checks (kind, memo, positive amounts to the unit's places, accounts of
# the unit, one content per idempotency key), the same fingerprint (so a later
# entries_post_in_transaction with the same key and content returns the entry, with other
# content raises Conflict, and the other way round), the same INSERT shape (the posting
# trigger moves the balances per statement; the balance check runs per entry at commit).

_SET_BATCH_TABLE = "custody_set_batch"

#: the SQL expression a caller of entries_post_two_leg_set_in_transaction uses to reserve entry
#: ids in advance (its source's `entry_id` column), to link its own rows before posting
ENTRY_ID_NEXTVAL = "nextval('custody_journalentry_id_seq')"

_SET_FINGERPRINT = (
    "encode(sha256(convert_to(concat_ws('|', %(kind)s::text, b.memo, b.effective_date::text, '', "
    "b.debit_account_id::text || '=' || trim_scale(b.amount)::text, "
    "b.credit_account_id::text || '=' || trim_scale(-b.amount)::text), 'UTF8')), 'hex')"
)

_SET_ID_SQL = f"""
UPDATE {_SET_BATCH_TABLE} SET entry_id = nextval('custody_journalentry_id_seq')
 WHERE entry_id IS NULL
"""  # noqa: S608  (the table name is this module's constant)

# three statements: the entries, their debit legs, their credit legs (the posting trigger runs
# once per statement). A batch's shared account (every accrual credits the house interest
# income) is on one side: its balance row, locked by the trigger until commit, is taken by the
# last statement only, so concurrent batches (the shards of a day) wait for each other as
# little as they can. Measured faster than one statement with data-modifying CTEs.
_SET_INSERT_SQL = (
    f"""
INSERT INTO custody_journalentry (id, kind, memo, idempotency_key, fingerprint,
                                  effective_date, actor_id, reversal_of_id)
SELECT entry_id, %(kind)s, memo, idempotency_key, fingerprint, effective_date, %(actor)s, NULL
  FROM {_SET_BATCH_TABLE} ORDER BY entry_id
""",  # noqa: S608  (the table name is this module's constant)
    f"""
INSERT INTO custody_posting (entry_id, account_id, unit, amount)
SELECT entry_id, debit_account_id, %(unit)s, amount FROM {_SET_BATCH_TABLE} ORDER BY entry_id
""",  # noqa: S608
    f"""
INSERT INTO custody_posting (entry_id, account_id, unit, amount)
SELECT entry_id, credit_account_id, %(unit)s, -amount FROM {_SET_BATCH_TABLE} ORDER BY entry_id
""",  # noqa: S608
)


_DEFERRED_FOREIGN_KEYS: list[str] = []


def _foreign_keys_check_now(cursor) -> None:
    """Run the foreign-key checks this transaction has queued so far (Django's foreign keys are
    DEFERRABLE INITIALLY DEFERRED), then defer them again: the same checks, done before the
    batch's last statement takes the shared balance row rather than at commit while holding
    it. The entries' balance check (custody_entry_balanced) still runs at commit."""
    if not _DEFERRED_FOREIGN_KEYS:
        cursor.execute(
            "SELECT DISTINCT conname FROM pg_constraint WHERE contype = 'f' "
            "AND condeferrable AND condeferred ORDER BY conname"
        )
        _DEFERRED_FOREIGN_KEYS.extend(row[0] for row in cursor.fetchall())
    if not _DEFERRED_FOREIGN_KEYS:
        return
    names = ", ".join(connection.ops.quote_name(n) for n in _DEFERRED_FOREIGN_KEYS)
    cursor.execute(f"SET CONSTRAINTS {names} IMMEDIATE")
    cursor.execute(f"SET CONSTRAINTS {names} DEFERRED")


@dataclass(frozen=True)
class SetPosting:
    posted: int  # entries inserted by this call
    repeated: int  # keys already posted with the same content (idempotent repeats)


def entries_post_two_leg_set_in_transaction(
    *,
    source: str,
    params: Sequence[Any] | dict,
    kind: str,
    unit: str,
    actor,
    ids_reserved: bool = False,
) -> SetPosting:
    """Post one balanced two-leg entry per row of the SQL query `source`, inside the caller's
    transaction, in one INSERT statement (entries_post_in_transaction's set-based sibling).

    `source` (with its `params`) returns the columns idempotency_key (text, required),
    memo (text), effective_date (date), debit_account_id, credit_account_id (bigint) and
    amount (numeric, > 0, at most the unit's places): Dr debit amount / Cr credit amount, all
    in `unit`. A key already posted with the same content is an idempotent repeat (counted,
    nothing posted); with other content, or twice in the batch, it raises Conflict (the
    caller's transaction must roll back; so does a key another transaction posts meanwhile: a
    unique violation, IntegrityError). The entry ids are found by key afterwards
    (custody_journalentry.idempotency_key is unique); or, with `ids_reserved`, the source also
    returns entry_id, reserved by the caller with ENTRY_ID_NEXTVAL, which the new entries get
    (so the caller may write rows that refer to them before posting, the foreign keys being
    checked at commit; a repeated key keeps its first entry, whose id the caller looks up).
    The caller checks permissions and takes the desk's locks first, as for the other
    `*_in_transaction` services. Before the credit legs, the foreign keys the transaction has
    queued so far are checked (_foreign_keys_check_now): rows of the caller's that refer to
    the batch's reserved entries are fine by then, rows that refer to rows written later in
    the transaction are not."""
    if not connection.in_atomic_block:
        raise RuntimeError(
            "entries_post_two_leg_set_in_transaction needs the caller's transaction.atomic()"
        )
    if kind not in EntryKind.values:
        raise ValidationFailed(f"kind: unknown entry kind {kind!r}", extra={"field": "kind"})
    unit = money.unit_parse(unit)
    places = money.places_for(unit)
    sql_params = {"kind": kind, "unit": unit, "actor": actor.pk if actor is not None else None}
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS {_SET_BATCH_TABLE}")
        cursor.execute(
            f"CREATE TEMP TABLE {_SET_BATCH_TABLE} ON COMMIT DROP AS "  # noqa: S608
            "SELECT s.idempotency_key::text AS idempotency_key, "
            "left(btrim(s.memo::text), 500) AS memo, "
            "coalesce(s.effective_date::date, current_date) AS effective_date, "
            "s.debit_account_id::bigint AS debit_account_id, "
            "s.credit_account_id::bigint AS credit_account_id, s.amount::numeric AS amount, "
            "''::text AS fingerprint, "
            f"{'s.entry_id::bigint' if ids_reserved else 'NULL::bigint'} AS entry_id "
            f"FROM ({source}) AS s",
            params,
        )
        cursor.execute(
            f"SELECT count(*) FILTER (WHERE idempotency_key IS NULL), "  # noqa: S608
            "count(*) FILTER (WHERE memo IS NULL OR memo = ''), "
            "count(*) FILTER (WHERE amount IS NULL OR amount <= 0 "
            f"                 OR amount <> round(amount, {int(places)})), "
            "count(*) - count(DISTINCT idempotency_key), count(*) "
            f"FROM {_SET_BATCH_TABLE}"
        )
        no_key, no_memo, bad_amount, repeated_keys, rows = cursor.fetchone()
        if not rows:
            return SetPosting(0, 0)
        if no_key:
            raise ValidationFailed(
                "idempotency_key: every entry of a set-based batch carries one",
                extra={"field": "idempotency_key"},
            )
        if no_memo:
            raise ValidationFailed(
                "memo: every entry says why (memo is required)", extra={"field": "memo"}
            )
        if bad_amount:
            raise ValidationFailed(
                f"amount: {bad_amount} entries are not positive amounts of at most {places} "
                "decimal places",
                extra={"field": "amount"},
            )
        if repeated_keys:
            raise Conflict(
                f"idempotency_key: {repeated_keys} keys appear twice in the batch",
                extra={"field": "idempotency_key"},
            )
        cursor.execute(
            f"SELECT b.idempotency_key FROM {_SET_BATCH_TABLE} b "  # noqa: S608
            "LEFT JOIN custody_ledgeraccount d ON d.id = b.debit_account_id "
            "LEFT JOIN custody_ledgeraccount c ON c.id = b.credit_account_id "
            "WHERE d.id IS NULL OR c.id IS NULL OR d.unit <> %s OR c.unit <> %s LIMIT 1",
            [unit, unit],
        )
        bad = cursor.fetchone()
        if bad is not None:
            raise ValidationFailed(
                f"legs: entry {bad[0]!r} names a ledger account that does not exist or is not "
                f"in {unit}",
                extra={"field": "legs"},
            )
        cursor.execute(
            f"UPDATE {_SET_BATCH_TABLE} b SET fingerprint = {_SET_FINGERPRINT}",  # noqa: S608
            sql_params,
        )
        cursor.execute(
            f"SELECT b.idempotency_key, j.id, j.fingerprint = b.fingerprint "  # noqa: S608
            f"FROM {_SET_BATCH_TABLE} b JOIN custody_journalentry j "
            "ON j.idempotency_key = b.idempotency_key ORDER BY j.fingerprint = b.fingerprint"
        )
        before = cursor.fetchall()
        for key, entry_id, same in before:
            if not same:
                raise Conflict(
                    f"idempotency_key: {key!r} was already used for journal entry #{entry_id} "
                    "with different content",
                    extra={"field": "idempotency_key", "idempotency_key": key, "entry": entry_id},
                )
        if before:
            # idempotent repeats: the first entry stands, nothing is posted for them
            cursor.execute(
                f"DELETE FROM {_SET_BATCH_TABLE} b USING custody_journalentry j "  # noqa: S608
                "WHERE j.idempotency_key = b.idempotency_key"
            )
        try:
            # a plain INSERT (no ON CONFLICT: the keys were checked above; a key another
            # transaction commits meanwhile violates the unique index, and the caller's
            # transaction rolls back and runs again, as for any unique violation)
            cursor.execute(_SET_ID_SQL)
            entries_sql, debits_sql, credits_sql = _SET_INSERT_SQL
            cursor.execute(entries_sql, sql_params)
            cursor.execute(debits_sql, sql_params)
            _foreign_keys_check_now(cursor)
            cursor.execute(credits_sql, sql_params)
        except IntegrityError as exc:
            raise _translate_integrity(exc, []) from exc
        cursor.execute(f"DROP TABLE {_SET_BATCH_TABLE}")
    return SetPosting(posted=rows - len(before), repeated=len(before))


def client_accounts_ensure_in_transaction(
    *, investor_source: str, params: dict, purpose: str, unit: str, actor, reason: str
) -> int:
    """Open the standard `purpose` account in `unit` of every investor the SQL query
    `investor_source` returns (one column, the investor id; named %(...)s `params`) that has
    none yet, in one INSERT
    (ledger_account_get_or_create's set-based sibling: same purpose key, name and flags, a
    balance row by the account trigger, a history row per account stamped with `reason`).
    Returns the number of accounts opened."""
    from accounts.bulk import history_rows_insert

    spec = PURPOSES.get(purpose)
    if spec is None or spec.owner != Owner.CLIENT:
        raise ValidationFailed(
            f"purpose: {purpose!r} is not a client account purpose", extra={"field": "purpose"}
        )
    unit = money.unit_parse(unit)
    values = {
        "purpose": purpose,
        "unit": unit,
        "name": spec.name,
        "type": spec.account_type,
        "owner": spec.owner,
        "client_money": spec.client_money,
        "segregated": spec.segregated,
    }
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO custody_ledgeraccount (purpose_key, purpose, name, account_type, unit, "  # noqa: S608
            "owner, investor_id, client_money, segregated, external_ref, created_at) "
            "SELECT 'client:' || i.id || ':' || %(purpose)s || ':' || %(unit)s, %(purpose)s, "
            "left(%(name)s || ': ' || i.real_name || ' (#' || i.id || ') [' || %(unit)s || ']', "
            "200), %(type)s, %(unit)s, %(owner)s, i.id, %(client_money)s, %(segregated)s, '', "
            "now() FROM accounts_investorprofile i "
            f"WHERE i.id IN ({investor_source}) AND NOT EXISTS (SELECT 1 FROM "
            "custody_ledgeraccount a WHERE a.purpose_key = "
            "'client:' || i.id || ':' || %(purpose)s || ':' || %(unit)s) "
            "ORDER BY i.id ON CONFLICT (purpose_key) DO NOTHING RETURNING id",
            {**params, **values},
        )
        created = [row[0] for row in cursor.fetchall()]
    if created:
        stubs = []
        for pk in created:
            stub = LedgerAccount(pk=pk)
            stamp(stub, actor=actor, reason=reason)
            stubs.append(stub)
        history_rows_insert(stubs, update=False)
    return len(created)
