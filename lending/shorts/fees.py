"""The daily securities lending fee (融券费用) of the short positions: the end of day's step
`short_fees` (reports.eod.steps), sharded by credit account.

For one business date, every open short position opened on or before it whose fee is not
accrued through it accrues each missing day, from max(opened_on, fee_accrued_through + 1)
through the date: per position and day `lending.domain.fees.daily_lending_fee` (ACT/360 on the
short-sale amount still owed, at the position's fee rate, to the cent half up), at the amount
owed when the step runs (a close brings the fee up to the day before it first: see below).
Per credit account and day: one `ShortFeeAccrual` row (amount_base = Σ amount owed, amount =
Σ fees; unique per account and day) and, when the amount is not zero, one journal entry
Dr client `lending_fee_receivable` / Cr house `lending_fee_income`, kind fee, effective that
day, key `short-fee:{credit_account_id}:{day}`. Each position's `fee_accrued` rises by its fees
and `fee_accrued_through` becomes the date (a history row with the reason).

The cover and the direct return (lending.shorts.positions) charge the days not yet accrued
before the close day and set `fee_accrued_through` to the day before it, so the two never
charge a day twice: the batch takes up where the close left off (a position still open after
a partial close accrues the close day and later on what it still owes).

A shard is the credit accounts with `credit_account_id mod shards == shard`, in one transaction
(lending.common.transactions.durable): the accounts locked in the desk's order (investors,
credit accounts: lending.credit.locks), the positions read under those locks (every writer of a
position holds its account's lock), the entries posted, then the positions locked and updated.
A second run of the same date finds every position accrued through it and writes nothing.

Rare: a position that needs a day whose account already has its accrual row (a fill booked
with a past time after that day's step ran) adds to the row and posts its own entry, keyed
`short-fee:{credit_account_id}:{day}:p{first position id}`.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date, timedelta
from decimal import Decimal

from django.db import IntegrityError
from django.db.models import F, Q
from django.db.models.functions import Mod
from django.utils.translation import gettext as _

from accounts.audit import stamp
from accounts.errors import ValidationFailed
from accounts.permissions import require_permission
from custody import services as custody
from custody.models import EntryKind
from lending.common.transactions import durable
from lending.credit.locks import lock_in_order
from lending.domain.fees import daily_lending_fee
from lending.domain.formats import fmt
from lending.shorts.models import ShortFeeAccrual, ShortPosition, ShortPositionStatus

PERM = "lending.add_shortfeeaccrual"
CURRENCY = "CNY"
ZERO = Decimal(0)


def _day(value: date | str) -> date:
    return date.fromisoformat(value) if isinstance(value, str) else value


def _due(day: date):
    """Open positions opened by `day` whose fee is not accrued through it."""
    return ShortPosition.objects.filter(status=ShortPositionStatus.OPEN, opened_on__lte=day).filter(
        Q(fee_accrued_through__isnull=True) | Q(fee_accrued_through__lt=day)
    )


def short_fees_accrue(
    *, business_date: date | str, actor=None, shard: int = 0, shards: int = 1
) -> int:
    """Accrue the lending fee of one shard's short positions through `business_date` (module
    docstring), in one transaction. Returns the accrual rows written (accounts x days);
    idempotent: a second run writes nothing."""
    require_permission(actor, PERM, action="accrue lending fees")
    day = _day(business_date)
    shards, shard = int(shards), int(shard)
    if shards < 1 or not 0 <= shard < shards:
        raise ValidationFailed(
            _("shard: %(shard)s is not one of 0..%(last)s") % {"shard": shard, "last": shards - 1},
            extra={"field": "shard"},
        )

    def run() -> int:
        return _accrue_in_transaction(day=day, shard=shard, shards=shards, actor=actor)

    try:
        return durable(run, "short_fees_accrue")
    except IntegrityError:
        # another run wrote some of these accounts' days first: the second pass skips them
        return durable(run, "short_fees_accrue")


def _accrue_in_transaction(*, day: date, shard: int, shards: int, actor) -> int:
    account_ids = sorted(
        set(
            _due(day)
            .annotate(bucket=Mod("credit_account_id", shards))
            .filter(bucket=shard)
            .values_list("credit_account_id", flat=True)
        )
    )
    if not account_ids:
        return 0
    locked = lock_in_order(credit_account_ids=account_ids)  # steps 1 and 2 of the lock order
    positions = list(
        _due(day).filter(credit_account_id__in=account_ids).order_by("credit_account_id", "pk")
    )
    # (account id, day) -> [amount owed, fee, position ids]
    days: dict[tuple[int, date], list] = defaultdict(lambda: [ZERO, ZERO, []])
    charged: dict[int, tuple[Decimal, date]] = {}  # position id -> (fees, first day)
    for position in positions:
        start = (
            max(position.opened_on, position.fee_accrued_through + timedelta(days=1))
            if position.fee_accrued_through is not None
            else position.opened_on
        )
        fee = daily_lending_fee(position.amount_outstanding, position.fee_rate)
        total = ZERO
        d = start
        while d <= day:
            cell = days[(position.credit_account_id, d)]
            cell[0] += position.amount_outstanding
            cell[1] += fee
            cell[2].append(position.pk)
            total += fee
            d += timedelta(days=1)
        charged[position.pk] = (total, start)
    if not days:
        return 0
    first = min(d for _a, d in days)
    existing = {
        (row.credit_account_id, row.business_date): row
        for row in ShortFeeAccrual.objects.select_for_update(of=("self",)).filter(
            credit_account_id__in=account_ids, business_date__gte=first, business_date__lte=day
        )
    }
    income = custody.house_account("lending_fee_income", CURRENCY, actor=actor)
    receivable: dict[int, object] = {}
    specs: list[custody.EntrySpec] = []
    keys: dict[tuple[int, date], str] = {}
    for (account_id, d), (base, amount, ids) in sorted(days.items()):
        if amount == 0:
            continue
        account = locked.credit_accounts[account_id]
        if account_id not in receivable:
            receivable[account_id] = custody.client_account(
                account.investor, "lending_fee_receivable", CURRENCY, actor=actor
            )
        key = f"short-fee:{account_id}:{d.isoformat()}"
        if (account_id, d) in existing:
            key += f":p{min(ids)}"
        keys[(account_id, d)] = key
        specs.append(
            custody.EntrySpec(
                legs=[
                    custody.debit(receivable[account_id], amount),
                    custody.credit(income, amount),
                ],
                memo=f"Lending fee {d.isoformat()}: {fmt(amount)} on {fmt(base)} short-sale "
                f"amount owed ({len(ids)} position(s), ACT/360)",
                kind=EntryKind.FEE,
                idempotency_key=key,
                effective_date=d,
            )
        )
    posted = custody.entries_post_in_transaction(entries=specs, actor=actor) if specs else []
    by_key = {entry.idempotency_key: entry for entry in posted}
    # the rows of their own come last: the accruals, then the positions
    new_rows = []
    written = 0
    for (account_id, d), (base, amount, _ids) in sorted(days.items()):
        entry = by_key.get(keys.get((account_id, d), ""))
        row = existing.get((account_id, d))
        if row is not None:
            ShortFeeAccrual.objects.filter(pk=row.pk).update(
                amount_base=F("amount_base") + base, amount=F("amount") + amount
            )
            continue
        new_rows.append(
            ShortFeeAccrual(
                credit_account_id=account_id,
                business_date=d,
                amount_base=base,
                amount=amount,
                entry=entry,
            )
        )
        written += 1
    ShortFeeAccrual.objects.bulk_create(new_rows)
    for position in ShortPosition.objects.select_for_update(of=("self",)).filter(
        pk__in=list(charged)
    ):
        fees, start = charged[position.pk]
        position.fee_accrued += fees
        position.fee_accrued_through = day
        stamp(
            position,
            actor=actor,
            reason=f"lending fee {start.isoformat()}..{day.isoformat()}: {fmt(fees)}",
        )
        position.save(update_fields=["fee_accrued", "fee_accrued_through"])
    return written
