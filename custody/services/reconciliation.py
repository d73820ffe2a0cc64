"""Statement import, external and internal reconciliation, and same-day break resolution.

External: ledger balance of each mapped account at the end of the statement date vs the
statement's closing balance. Internal: segregated funds in the ledger (client bank + reserve
bank) vs the day's client-money requirement (15c3-3 model). A break records the difference
(actual - expected) and is due by the end of the business day it was found; it is resolved by
a recorded top-up from house money (shortfall) or a withdrawal of the excess (excess).
CSV formats are documented in docs/custody.md.
"""

from __future__ import annotations

import csv
import hashlib
import io
from datetime import date, datetime
from decimal import Decimal

from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.audit import stamp
from accounts.errors import Conflict, ValidationFailed
from accounts.permissions import require_permission

from .. import money
from ..models import (
    BreakResolution,
    BreakStatus,
    ClientMoneyRequirement,
    EntryKind,
    LedgerAccount,
    Reconciliation,
    ReconciliationBreak,
    ReconciliationKind,
    ReconciliationStatus,
    StatementImport,
    StatementLine,
    StatementSource,
)
from ..selectors import balances_as_of, end_of_day
from .ledger import (
    balances_lock,
    credit,
    debit,
    entry_post_in_transaction,
    house_account,
    normal_balance,
)

CSV_COLUMNS = {
    StatementSource.BANK: ["statement_date", "account_number", "currency", "closing_balance"],
    StatementSource.CUSTODIAN: ["statement_date", "custody_account", "instrument", "quantity"],
}


def statement_import(
    *, source: str, institution: str, content: bytes | str, file_name: str, actor
) -> StatementImport:
    """Parse and store a bank or custodian statement. Every line must name an account mapped
    with ledger_account_set_external_ref; any bad line refuses the whole file."""
    require_permission(actor, "custody.add_statementimport", action="import a statement")
    if source not in StatementSource.values:
        raise ValidationFailed(
            _("source: unknown statement source %(source)s") % {"source": repr(source)},
            extra={"field": "source"},
        )
    raw = content.encode() if isinstance(content, str) else content
    digest = hashlib.sha256(raw).hexdigest()
    if StatementImport.objects.filter(sha256=digest).exists():
        raise Conflict(
            _("file: %(file)s was already imported") % {"file": file_name},
            extra={"field": "file"},
        )
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ValidationFailed(
            _("file: statements are UTF-8 CSV"), extra={"field": "file"}
        ) from None
    reader = csv.reader(io.StringIO(text))
    header = [h.strip() for h in next(reader, [])]
    expected = CSV_COLUMNS[source]
    if header != expected:
        raise ValidationFailed(
            _("file: the header must be %(columns)s (got %(header)s)")
            % {"columns": ",".join(expected), "header": ",".join(header)},
            extra={"field": "file"},
        )
    parsed: list[tuple[int, str, str, Decimal, LedgerAccount]] = []
    statement_date: date | None = None
    for number, row in enumerate(reader, start=2):
        if not any(cell.strip() for cell in row):
            continue
        if len(row) != len(expected):
            raise ValidationFailed(
                _("file: line %(line)s has %(count)s fields, expected %(expected)s")
                % {"line": number, "count": len(row), "expected": len(expected)},
                extra={"field": "file", "line": number},
            )
        day_text, ref, unit_text, amount_text = (cell.strip() for cell in row)
        try:
            day = date.fromisoformat(day_text)
        except ValueError:
            raise ValidationFailed(
                _("statement_date: line %(line)s: %(value)s is not YYYY-MM-DD")
                % {"line": number, "value": repr(day_text)},
                extra={"field": "statement_date", "line": number},
            ) from None
        if statement_date not in (None, day):
            raise ValidationFailed(
                _("statement_date: line %(line)s: one statement covers one date")
                % {"line": number},
                extra={"field": "statement_date", "line": number},
            )
        statement_date = day
        unit = money.unit_parse(unit_text, field=expected[2])
        amount = money.amount_parse(
            amount_text,
            field=f"{expected[3]} (line {number})",
            places=money.places_for(unit),
            allow_zero=True,
        )
        account = LedgerAccount.objects.filter(external_ref=ref, unit=unit).first()
        if account is None:
            raise ValidationFailed(
                _("%(field)s: line %(line)s: no ledger account is mapped to %(ref)s in %(unit)s")
                % {"field": expected[1], "line": number, "ref": ref, "unit": unit},
                extra={"field": expected[1], "line": number},
            )
        parsed.append((number, ref, unit, amount, account))
    if statement_date is None:
        raise ValidationFailed(_("file: the statement has no lines"), extra={"field": "file"})
    with transaction.atomic():
        statement = StatementImport(
            source=source,
            institution=institution.strip(),
            statement_date=statement_date,
            file_name=file_name,
            sha256=digest,
            imported_by=actor,
        )
        stamp(statement, actor=actor, reason=f"statement {file_name} imported")
        statement.save()
        StatementLine.objects.bulk_create(
            StatementLine(
                statement=statement,
                line_number=number,
                external_ref=ref,
                unit=unit,
                closing_balance=amount,
                account=account,
            )
            for number, ref, unit, amount, account in parsed
        )
    return statement


def _status(reconciliation: Reconciliation) -> str:
    statuses = set(reconciliation.breaks.values_list("status", flat=True))
    if BreakStatus.OPEN in statuses:
        return ReconciliationStatus.BREAKS
    return ReconciliationStatus.RESOLVED if statuses else ReconciliationStatus.MATCHED


def _save_status(reconciliation: Reconciliation, actor, reason: str) -> None:
    reconciliation.status = _status(reconciliation)
    stamp(reconciliation, actor=actor, reason=reason)
    reconciliation.save()


def reconciliation_external_run(*, statement: StatementImport, actor) -> Reconciliation:
    """Compare each statement line with the ledger at the end of the statement date.
    Re-running (after a resolution) counts the recorded top-ups and withdrawals."""
    require_permission(actor, "custody.add_reconciliation", action="run a reconciliation")
    as_of = end_of_day(statement.statement_date)
    due = end_of_day(timezone.localdate())
    with transaction.atomic():
        reconciliation = (
            Reconciliation.objects.select_for_update()
            .filter(kind=ReconciliationKind.EXTERNAL, statement=statement)
            .first()
        )
        if reconciliation is None:
            reconciliation = Reconciliation(
                kind=ReconciliationKind.EXTERNAL,
                business_date=statement.statement_date,
                statement=statement,
                status=ReconciliationStatus.MATCHED,
                run_by=actor,
            )
            stamp(reconciliation, actor=actor, reason="external reconciliation run")
            reconciliation.save()
        lines = list(statement.lines.select_related("account"))
        ledger = balances_as_of(accounts=[line.account for line in lines], as_of=as_of)
        for line in lines:
            breaks = reconciliation.breaks.filter(account=line.account)
            if breaks.filter(status=BreakStatus.OPEN).exists():
                continue
            resolved = sum(
                (b.difference for b in breaks.filter(status=BreakStatus.RESOLVED)), money.ZERO
            )
            expected = ledger[line.account_id]
            actual = line.closing_balance - resolved
            if actual != expected:
                brk = ReconciliationBreak(
                    reconciliation=reconciliation,
                    account=line.account,
                    unit=line.unit,
                    expected=expected,
                    actual=actual,
                    difference=actual - expected,
                    due_at=due,
                )
                stamp(brk, actor=actor, reason=f"break found on {line.external_ref}")
                brk.save()
        reconciliation.run_by = actor
        _save_status(reconciliation, actor, "external reconciliation run")
    return reconciliation


#: The client accounts whose balances make a requirement: the credit side (money owed to the
#: client) and the debit side (what the client owes).
#: The restricted proceeds of short sales are client money too; lending fees, compensation and
#: buy-in shortfalls are owed by the client.
REQUIREMENT_CREDIT = ("client_money", "short_proceeds")
REQUIREMENT_DEBIT = ("financing_receivable", "interest_receivable", "lending_fee_receivable")

#: One statement: each (client account, segregated account) of the currency with its balance on
#: its normal side (assets and expenses debit, the others credit: LedgerAccount.normal_sign),
#: now (the balance row kept by the posting trigger) or at as_of (the balance row less the
#: postings of entries created after as_of: the sum of the postings of entries created up to
#: as_of, as selectors.balances_as_of sums them, read from the few postings since); per
#: client, credit and debit, and the debit counted up to the client's own credit; the lines
#: inserted under the reserved requirement id; the totals returned from the same rows.
REQUIREMENT_SQL = """
WITH acc AS (
    SELECT a.id, a.investor_id, a.segregated,
           a.purpose = ANY(%(credit_purposes)s::text[]) AS credit_side,
           a.purpose = ANY(%(debit_purposes)s::text[]) AS debit_side,
           CASE WHEN a.account_type IN ('asset', 'expense') THEN 1 ELSE -1 END AS sign
      FROM custody_ledgeraccount a
     WHERE a.unit = %(unit)s
       AND (a.segregated
            OR (a.investor_id IS NOT NULL
                AND a.purpose = ANY(%(credit_purposes)s::text[] || %(debit_purposes)s::text[])))
),{later_cte}
bal AS (
    SELECT acc.investor_id, acc.segregated, acc.credit_side, acc.debit_side,
           acc.sign * (coalesce(b.balance, 0){later_term}) AS balance
      FROM acc
      LEFT JOIN custody_accountbalance b ON b.account_id = acc.id{later_join}
),
per AS (
    SELECT investor_id,
           bool_or(credit_side OR debit_side) AS client,
           coalesce(sum(balance) FILTER (WHERE credit_side), 0) AS credit,
           coalesce(sum(balance) FILTER (WHERE debit_side), 0) AS debit,
           coalesce(sum(balance) FILTER (WHERE segregated), 0) AS segregated
      FROM bal
     GROUP BY investor_id
),
line AS (
    SELECT investor_id, credit, debit,
           CASE WHEN debit > 0 THEN least(debit, credit) ELSE 0 END AS debit_counted
      FROM per
     WHERE client
),
ins AS (
    INSERT INTO custody_clientmoneyrequirementline
           (requirement_id, investor_id, credit, debit, debit_counted)
    SELECT %(requirement)s, investor_id, credit, debit, debit_counted
      FROM line ORDER BY investor_id
)
SELECT (SELECT count(*) FROM line),
       (SELECT coalesce(sum(credit), 0) FROM line),
       (SELECT coalesce(sum(debit_counted), 0) FROM line),
       (SELECT coalesce(sum(segregated), 0) FROM per)
"""

LATER_CTE = """
later AS (
    SELECT p.account_id, sum(p.amount) AS amount
      FROM custody_journalentry e
      JOIN custody_posting p ON p.entry_id = e.id
     WHERE e.created_at > %(as_of)s
     GROUP BY p.account_id
),"""


def requirement_sql(*, as_of: datetime | None) -> str:
    """The statement of REQUIREMENT_SQL for a balance now (as_of None) or at as_of."""
    if as_of is None:
        return REQUIREMENT_SQL.format(later_cte="", later_term="", later_join="")
    return REQUIREMENT_SQL.format(
        later_cte=LATER_CTE,
        later_term=" - coalesce(l.amount, 0)",
        later_join="\n      LEFT JOIN later l ON l.account_id = acc.id",
    )


def client_money_requirement_compute(
    *, business_date: date, currency: str, actor
) -> ClientMoneyRequirement:
    """Credits owed to clients vs debits owed by them (each client's debits counted up to
    that client's own credit), kept with its inputs per client (the requirement's lines).

    Set-based: one statement reads every client's balances (now for today or a later date;
    at the end of a past business date otherwise), inserts the lines and returns the totals
    the summary row is made of. Runs of the same day and currency are serialised (an advisory
    lock until commit); each run is a new requirement with its own lines."""
    require_permission(
        actor, "custody.add_clientmoneyrequirement", action="compute the client-money requirement"
    )
    currency = money.currency_parse(currency)
    today = timezone.localdate()
    as_of: datetime | None = None if business_date >= today else end_of_day(business_date)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_advisory_xact_lock(hashtext('custody.client_money_requirement'), "
            "hashtext(%s))",
            [f"{business_date.isoformat()}:{currency}"],
        )
        cursor.execute(
            "SELECT nextval(pg_get_serial_sequence('custody_clientmoneyrequirement', 'id'))"
        )
        requirement_id = cursor.fetchone()[0]
        cursor.execute(
            requirement_sql(as_of=as_of),
            {
                "unit": currency,
                "as_of": as_of,
                "requirement": requirement_id,
                "credit_purposes": list(REQUIREMENT_CREDIT),
                "debit_purposes": list(REQUIREMENT_DEBIT),
            },
        )
        clients, credits, debits, segregated = cursor.fetchone()
        row = ClientMoneyRequirement(
            pk=requirement_id,
            business_date=business_date,
            currency=currency,
            as_of=as_of or timezone.now(),
            credits=credits,
            debits=debits,
            requirement=max(money.ZERO, credits - debits),
            segregated_funds=segregated,
            clients=clients,
            computed_by=actor,
        )
        stamp(row, actor=actor, reason="daily client-money requirement")
        row.save(force_insert=True)
    return row


def reconciliation_internal_run(
    *,
    business_date: date,
    currency: str,
    actor,
    requirement: ClientMoneyRequirement | None = None,
) -> Reconciliation:
    """Segregated funds in the ledger vs the client-money requirement of the day.

    `requirement`: the day's requirement already computed (the end of day computes it in its
    own step just before); None computes a new one here.

    One reconciliation per business date and currency: each run computes a new requirement
    (with its own lines) and points the day's reconciliation at it, the latest (runs of the
    same day and currency wait for each other: the requirement's advisory lock); the history
    of the reconciliation keeps which requirement each run compared with. A difference is a
    break unless one is still open."""
    require_permission(actor, "custody.add_reconciliation", action="run a reconciliation")
    currency = money.currency_parse(currency)
    if requirement is not None and (
        requirement.business_date != business_date or requirement.currency != currency
    ):
        raise ValidationFailed(
            _("requirement: %(pk)s is the requirement of %(day)s in %(currency)s, not this day's")
            % {
                "pk": requirement.pk,
                "day": requirement.business_date.isoformat(),
                "currency": requirement.currency,
            },
            extra={"field": "requirement"},
        )
    with transaction.atomic():
        if requirement is None:
            requirement = client_money_requirement_compute(
                business_date=business_date, currency=currency, actor=actor
            )
        reconciliation = (
            Reconciliation.objects.select_for_update()
            .filter(kind=ReconciliationKind.INTERNAL, business_date=business_date, unit=currency)
            .first()
        )
        if reconciliation is None:
            reconciliation = Reconciliation(
                kind=ReconciliationKind.INTERNAL,
                business_date=business_date,
                unit=currency,
                status=ReconciliationStatus.MATCHED,
            )
        reconciliation.requirement = requirement
        reconciliation.run_by = actor
        stamp(reconciliation, actor=actor, reason="internal reconciliation run")
        reconciliation.save()
        difference = requirement.segregated_funds - requirement.requirement
        has_open = reconciliation.breaks.filter(status=BreakStatus.OPEN).exists()
        if difference != 0 and not has_open:
            brk = ReconciliationBreak(
                reconciliation=reconciliation,
                unit=currency,
                expected=requirement.requirement,
                actual=requirement.segregated_funds,
                difference=difference,
                due_at=end_of_day(timezone.localdate()),
            )
            stamp(
                brk, actor=actor, reason="segregated funds differ from the client-money requirement"
            )
            brk.save()
        _save_status(reconciliation, actor, "internal reconciliation run")
    return reconciliation


def reconciliation_break_resolve(
    *, brk: ReconciliationBreak, actor, reason: str
) -> ReconciliationBreak:
    """Resolve a break with a recorded movement of house money, in one transaction:

    external shortfall: the house pays the missing amount in (Dr reconciliation differences,
    Cr house bank); external excess: the excess goes to the house (Dr house bank, Cr
    reconciliation differences). Internal shortfall: top-up (Dr reserve bank, Cr house bank);
    internal excess: withdrawn (Dr house bank, Cr reserve bank, then client bank)."""
    require_permission(actor, "custody.move_housemoney", action="resolve a reconciliation break")
    if not reason or not reason.strip():
        raise ValidationFailed(_("reason: a reason is required"), extra={"field": "reason"})
    with transaction.atomic(durable=True):
        locked = ReconciliationBreak.objects.select_for_update(of=("self",)).get(pk=brk.pk)
        if locked.status != BreakStatus.OPEN:
            raise Conflict(
                _("break #%(pk)s is already resolved") % {"pk": locked.pk},
                extra={"field": "break"},
            )
        reconciliation = locked.reconciliation
        unit, amount = locked.unit, abs(locked.difference)
        shortfall = locked.difference < 0
        if money.is_currency(unit):
            house = house_account("house_bank", unit, actor=actor)
        else:
            house = house_account("house_securities", unit, actor=actor)
        if reconciliation.kind == ReconciliationKind.EXTERNAL:
            diffs = house_account("recon_differences", unit, actor=actor)
            legs = (
                [debit(diffs, amount), credit(house, amount)]
                if shortfall
                else [debit(house, amount), credit(diffs, amount)]
            )
        else:
            reserve_bank = house_account("reserve_bank", unit, actor=actor)
            if shortfall:
                legs = [debit(reserve_bank, amount), credit(house, amount)]
            else:
                client_bank = house_account("client_bank", unit, actor=actor)
                rows = balances_lock([reserve_bank, client_bank])
                from_reserve = min(amount, max(money.ZERO, normal_balance(rows[reserve_bank.pk])))
                legs = [debit(house, amount)]
                if from_reserve:
                    legs.append(credit(reserve_bank, from_reserve))
                if amount - from_reserve:
                    legs.append(credit(client_bank, amount - from_reserve))
        resolution = BreakResolution.TOP_UP if shortfall else BreakResolution.WITHDRAW_EXCESS
        entry = entry_post_in_transaction(
            legs=legs,
            memo=f"{resolution.label} for reconciliation break #{locked.pk}: {reason.strip()}",
            kind=EntryKind.RECONCILIATION,
            actor=actor,
            idempotency_key=f"break:{locked.pk}",
        )
        locked.status = BreakStatus.RESOLVED
        locked.resolution = resolution
        locked.resolution_entry = entry
        locked.resolved_by = actor
        locked.resolved_at = timezone.now()
        locked.reason = reason.strip()[:500]
        stamp(locked, actor=actor, reason=reason.strip())
        locked.save()
        _save_status(reconciliation, actor, f"break #{locked.pk} resolved")
    return locked


def break_is_late(brk: ReconciliationBreak) -> bool:
    moment = brk.resolved_at or timezone.now()
    return moment > brk.due_at
