"""Money in: the credit lines of the client omnibus bank account's statement, each booked once.

A line names the bank's line id, value date, amount, currency, the payer's name and account
and a reference. The reference must carry the investor's credit account number (CA + 10
digits, as the deposit instructions say); the line is then
- credited to the investor's client money (custody, kind "deposit") when the payer's account is
  the investor's bank account of record;
- held (compliance.HeldDeposit with a third-party-deposit red flag) when it is any other
  account, for compliance to release or return (the held-deposits page);
- unmatched (a red flag with no investor) when the reference names no open credit account:
  never credited; compliance returns it to the sender (`bank_credit_return`).
Each line is booked in its own transaction, once per bank line id: the same statement imported
twice books nothing twice (a line id seen with other figures is refused). A file with a bad line
books nothing. Doors: the staff page (CSV), the API (the same fields as JSON, for a bank-feed
machine role with a token, like the price feed)."""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts import sensitive
from accounts.audit import stamp
from accounts.errors import Conflict, ValidationFailed
from accounts.permissions import require_permission
from compliance import services as compliance_services
from compliance.models import HeldDeposit, RedFlagKind, RedFlagStatus
from custody import money as custody_money
from lending.credit import services as credit_services
from lending.credit.models import CreditAccount, CreditAccountStatus
from lending.financing.models import BankCredit, BankCreditStatus

IMPORT_PERM = "lending.add_bankcredit"
RETURN_PERM = "compliance.change_helddeposit"
COLUMNS = [
    "line_id",
    "value_date",
    "amount",
    "currency",
    "payer_name",
    "payer_account",
    "reference",
]
ACCOUNT_NUMBER = re.compile(r"CA\d{10}")


@dataclass(frozen=True)
class CreditLine:
    line_id: str
    value_date: date
    amount: Decimal
    currency: str
    payer_name: str
    payer_account: str
    reference: str


@dataclass(frozen=True)
class ImportResult:
    credited: int
    held: int
    unmatched: int
    already_booked: int


def credit_lines_parsed(rows: list[dict]) -> list[CreditLine]:
    """Every line checked before anything is booked; the first bad one refuses them all, its
    field and line named."""
    lines = []
    for number, row in enumerate(rows, start=1):

        def field(name: str, row=row) -> str:
            value = row.get(name) if hasattr(row, "get") else None
            return "" if value is None else str(value).strip()

        line_id = field("line_id")
        if not line_id or len(line_id) > 64:
            raise ValidationFailed(
                _("line_id: line %(line)s: the bank's line id is required (at most 64 characters)")
                % {"line": number},
                extra={"field": "line_id", "line": number},
            )
        try:
            value_date = date.fromisoformat(field("value_date"))
        except ValueError:
            raise ValidationFailed(
                _("value_date: line %(line)s: %(value)s is not YYYY-MM-DD")
                % {"line": number, "value": repr(field("value_date"))},
                extra={"field": "value_date", "line": number},
            ) from None
        if value_date > timezone.localdate():
            raise ValidationFailed(
                _("value_date: line %(line)s: %(date)s is in the future")
                % {"line": number, "date": value_date},
                extra={"field": "value_date", "line": number},
            )
        amount = custody_money.money_parse(field("amount"), field=f"amount (line {number})")
        currency = custody_money.currency_parse(field("currency") or "CNY")
        payer_account = field("payer_account")
        if not payer_account:
            raise ValidationFailed(
                _("payer_account: line %(line)s: the paying bank account is required")
                % {"line": number},
                extra={"field": "payer_account", "line": number},
            )
        lines.append(
            CreditLine(
                line_id=line_id,
                value_date=value_date,
                amount=amount,
                currency=currency,
                payer_name=field("payer_name")[:120],
                payer_account=payer_account,
                reference=field("reference")[:140],
            )
        )
    if not lines:
        raise ValidationFailed(
            _("lines: the statement has no credit lines"), extra={"field": "lines"}
        )
    ids = [line.line_id for line in lines]
    if len(set(ids)) != len(ids):
        raise ValidationFailed(
            _("line_id: a line id appears twice in the statement"), extra={"field": "line_id"}
        )
    return lines


def credit_lines_from_csv(content: bytes | str) -> list[CreditLine]:
    try:
        text = content.decode("utf-8-sig") if isinstance(content, bytes) else content
    except UnicodeDecodeError:
        raise ValidationFailed(
            _("file: statements are UTF-8 CSV"), extra={"field": "file"}
        ) from None
    reader = csv.DictReader(io.StringIO(text))
    header = [h.strip() for h in (reader.fieldnames or [])]
    if header != COLUMNS:
        raise ValidationFailed(
            _("file: the header must be %(columns)s (got %(header)s)")
            % {"columns": ",".join(COLUMNS), "header": ",".join(header)},
            extra={"field": "file"},
        )
    return credit_lines_parsed(
        [row for row in reader if any((v or "").strip() for v in row.values())]
    )


def _same(existing: BankCredit, line: CreditLine) -> bool:
    return (
        existing.amount == line.amount
        and existing.currency == line.currency
        and existing.value_date == line.value_date
        and existing.payer_account_digest == sensitive.digest(line.payer_account)
    )


def _account_for(reference: str) -> CreditAccount | None:
    for number in ACCOUNT_NUMBER.findall(reference.upper()):
        account = (
            CreditAccount.objects.select_related("investor")
            .filter(account_number=number, status=CreditAccountStatus.OPEN)
            .first()
        )
        if account is not None:
            return account
    return None


def bank_credits_import(*, lines: list[CreditLine], source: str, actor) -> ImportResult:
    """Book each line once (see the module docstring). Returns what became of them."""
    require_permission(actor, IMPORT_PERM, action="import bank credits")
    for line in lines:
        existing = BankCredit.objects.filter(bank_line_id=line.line_id).first()
        if existing is not None and not _same(existing, line):
            raise Conflict(
                _(
                    "line_id: %(line_id)s was booked before with other figures "
                    "(%(amount)s %(currency)s on %(date)s)"
                )
                % {
                    "line_id": line.line_id,
                    "amount": existing.amount,
                    "currency": existing.currency,
                    "date": existing.value_date,
                },
                extra={"field": "line_id"},
            )
    counts = {"credited": 0, "held": 0, "unmatched": 0, "already_booked": 0}
    for line in lines:
        outcome = _book_line(line, source=source, actor=actor)
        counts[outcome] += 1
    return ImportResult(**counts)


def _book_line(line: CreditLine, *, source: str, actor) -> str:
    if BankCredit.objects.filter(bank_line_id=line.line_id).exists():
        return "already_booked"
    key = f"bank-credit:{line.line_id}"
    try:
        with transaction.atomic(durable=True):
            credit = BankCredit(
                bank_line_id=line.line_id,
                value_date=line.value_date,
                amount=line.amount,
                currency=line.currency,
                payer_name=line.payer_name,
                payer_account_masked=sensitive.mask_account(line.payer_account),
                payer_account_digest=sensitive.digest(line.payer_account),
                reference=line.reference,
                source=source,
                imported_by=actor,
            )
            account = _account_for(line.reference)
            if account is None:
                credit.status = BankCreditStatus.UNMATCHED
                credit.red_flag = compliance_services.red_flag_raise(
                    investor=None,
                    kind=RedFlagKind.UNMATCHED_DEPOSIT,
                    message=f"deposit of {line.amount} {line.currency} from "
                    f"{credit.payer_account_masked} whose reference names no investor",
                    details={"line_id": line.line_id, "reference": line.reference},
                    actor=actor,
                )
            else:
                investor = account.investor
                credit.investor = investor
                received = credit_services.client_deposit_receive_in_transaction(
                    investor=investor,
                    amount=line.amount,
                    currency=line.currency,
                    bank_account=line.payer_account,
                    reference=f"{line.reference} (bank line {line.line_id})"[:120],
                    idempotency_key=key,
                    actor=actor,
                )
                if isinstance(received, HeldDeposit):
                    credit.status = BankCreditStatus.HELD
                    credit.held_deposit = received
                    credit.red_flag = received.red_flag
                else:
                    credit.status = BankCreditStatus.CREDITED
                    credit.entry = received
            stamp(credit, actor=actor, reason=f"bank line {line.line_id}: {credit.status}")
            credit.save()
    except IntegrityError:
        if BankCredit.objects.filter(bank_line_id=line.line_id).exists():
            return "already_booked"  # booked by a concurrent import of the same statement
        raise
    return str(credit.status)


def bank_credit_return(*, credit: BankCredit, actor, reason: str) -> BankCredit:
    """Compliance sends an unmatched credit back to its sender (the red flag is confirmed).
    A held one is returned on the held-deposits page (lending.credit.held_deposit_return)."""
    require_permission(actor, RETURN_PERM, action="return a deposit")
    reason = (reason or "").strip()
    if not reason:
        raise ValidationFailed(_("reason: say why the money goes back"), extra={"field": "reason"})
    with transaction.atomic(durable=True):
        credit = BankCredit.objects.select_for_update().get(pk=credit.pk)
        if credit.status != BankCreditStatus.UNMATCHED:
            raise Conflict(
                _(
                    "credit: bank line %(line_id)s is %(status)s; only an unmatched credit is "
                    "returned here"
                )
                % {"line_id": credit.bank_line_id, "status": credit.get_status_display()},
                extra={"field": "credit", "status": credit.status},
            )
        credit.status = BankCreditStatus.RETURNED
        credit.resolution = reason[:300]
        stamp(credit, actor=actor, reason=f"returned to the sender: {reason}")
        credit.save(update_fields=["status", "resolution"])
        if credit.red_flag_id:
            compliance_services.red_flag_resolve(
                flag=credit.red_flag, status=RedFlagStatus.CONFIRMED, resolution=reason, actor=actor
            )
    return credit
