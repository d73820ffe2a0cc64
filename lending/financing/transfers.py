"""Collateral transfer in (担保品划转): shares the investor moves from their ordinary securities
account into the credit account, booked only on the custodian's confirmation.

Operations prepare it with the confirmation's reference (unique: one confirmation is booked
once) and the instrument and quantity it confirms (`collateral_transfer_prepare`, permission
lending.add_collateraltransferin); a second person (risk, permission
lending.approve_collateraltransferin, with a second factor, never the preparer; a CHECK
constraint too) approves it and the shares are posted in the same transaction: Dr house
custodian q / Cr client client_securities q (kind "securities"). Or rejects it. Shares out is
the securities withdrawal (services.securities_withdrawal_request), allowed only above the
withdrawal line."""

from __future__ import annotations

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.audit import stamp
from accounts.errors import ApplicationError, Conflict, RuleViolation, ValidationFailed
from accounts.permissions import require_permission
from accounts.second_factor import require_second_factor
from custody import services as custody
from custody.models import EntryKind
from lending.common.inputs import reason_required, shares_parsed
from lending.credit.locks import open_credit_account_lock
from lending.credit.models import CreditAccount
from lending.domain.formats import fmt_shares
from lending.financing.models import CollateralTransferIn, TransferStatus
from lending.instruments.models import Instrument
from lending.instruments.restricted import restricted_holder_check, restricted_shares_check

PREPARE_PERM = "lending.add_collateraltransferin"
APPROVE_PERM = "lending.approve_collateraltransferin"


def collateral_transfer_prepare(
    *,
    credit_account: CreditAccount,
    instrument: Instrument,
    quantity,
    confirmation_reference: str,
    actor,
    reason: str,
    restricted_shares: bool = False,
) -> CollateralTransferIn:
    """Prepare a transfer in from the custodian's confirmation. Refused: shares not eligible
    as collateral; restricted (限售) shares, as the confirmation declares them (never
    collateral); shares of a company the investor is a director, supervisor, senior manager or
    5% holder of (checked again at approval, the role may have been declared since)."""
    require_permission(actor, PREPARE_PERM, action="prepare a collateral transfer")
    quantity = shares_parsed(quantity)
    reference = (confirmation_reference or "").strip()
    if not reference or len(reference) > 64:
        raise ValidationFailed(
            _(
                "confirmation_reference: the custodian's confirmation reference is required "
                "(at most 64 characters)"
            ),
            extra={"field": "confirmation_reference"},
        )
    reason = reason_required(reason)
    if not instrument.collateral_eligible:
        raise RuleViolation(
            _("instrument: %(instrument)s is not eligible collateral")
            % {"instrument": instrument.ledger_unit},
            code="not_collateral_eligible",
            extra={"field": "instrument"},
        )
    restricted_shares_check(instrument=instrument, restricted=bool(restricted_shares))
    restricted_holder_check(
        investor_id=credit_account.investor_id,
        instrument=instrument,
        on=timezone.localdate(),
        doing="pledge",
    )
    transfer = CollateralTransferIn(
        credit_account=credit_account,
        instrument=instrument,
        quantity=quantity,
        confirmation_reference=reference,
        prepared_by=actor,
        reason=reason[:300],
    )
    stamp(transfer, actor=actor, reason=f"prepared from confirmation {reference}: {reason}")
    try:
        with transaction.atomic():
            transfer.save()
    except IntegrityError:
        raise Conflict(
            _("confirmation_reference: %(reference)s was already used for a transfer")
            % {"reference": reference},
            extra={"field": "confirmation_reference"},
        ) from None
    return transfer


def collateral_transfer_decide(
    *, transfer: CollateralTransferIn, approve: bool, actor, reason: str = ""
) -> CollateralTransferIn:
    """Approve (book the shares) or reject a prepared transfer: four eyes, second factor."""
    require_permission(actor, APPROVE_PERM, action="approve a collateral transfer")
    require_second_factor(actor, action="approve a collateral transfer")
    with transaction.atomic(durable=True):
        account = open_credit_account_lock(transfer.credit_account)
        locked = CollateralTransferIn.objects.select_for_update().get(pk=transfer.pk)
        if locked.status != TransferStatus.PREPARED:
            raise Conflict(
                _("transfer: %(reference)s is already %(status)s")
                % {
                    "reference": locked.confirmation_reference,
                    "status": locked.get_status_display(),
                },
                extra={"field": "transfer"},
            )
        if actor is not None and actor.pk == locked.prepared_by_id:
            raise RuleViolation(
                _("transfer: the person who prepared it may not approve it (four eyes)"),
                code="four_eyes",
                extra={"field": "transfer"},
            )
        locked.decided_by, locked.decided_at = actor, timezone.now()
        if approve:
            restricted_shares_check(
                instrument=locked.instrument, restricted=locked.restricted_shares
            )
            restricted_holder_check(
                investor_id=account.investor_id,
                instrument=locked.instrument,
                on=timezone.localdate(),
                doing="pledge",
            )
            unit = locked.instrument.ledger_unit
            client = custody.client_account(
                account.investor, "client_securities", unit, actor=actor
            )
            custodian = custody.house_account("custodian", unit, actor=actor)
            custody.balances_lock([client, custodian])
            locked.entry = custody.entry_post_in_transaction(
                legs=[
                    custody.debit(custodian, locked.quantity),
                    custody.credit(client, locked.quantity),
                ],
                memo=f"Collateral transferred in {fmt_shares(locked.quantity)} {unit} "
                f"(custodian confirmation {locked.confirmation_reference})",
                kind=EntryKind.SECURITIES,
                actor=actor,
                idempotency_key=f"transfer-in:{locked.confirmation_reference}",
            )
            locked.status = TransferStatus.BOOKED
        else:
            reason = reason_required(reason)
            locked.status = TransferStatus.REJECTED
        stamp(locked, actor=actor, reason=f"{locked.status}: {reason}".strip(": "))
        locked.save()
    return locked


CONFIRMATION_COLUMNS = ["account_number", "instrument", "quantity", "confirmation_reference"]


def _yes(value) -> bool:
    """The confirmation file's restricted_shares column: yes/true/1/y, no/false/0/n or empty."""
    text = (value or "").strip().lower()
    if text not in ("yes", "true", "1", "y", "no", "false", "0", "n", ""):
        raise ValidationFailed(
            _("restricted_shares: %(value)s is not yes or no") % {"value": repr(value)},
            extra={"field": "restricted_shares"},
        )
    return text in ("yes", "true", "1", "y")


def collateral_transfers_import_csv(*, content: bytes | str, actor, reason: str) -> int:
    """The custodian's confirmation file: one transfer in per row (CONFIRMATION_COLUMNS),
    each prepared as `collateral_transfer_prepare` would (and approved one by one later).
    Every row is checked first; a bad one refuses the file naming its field and line, and
    nothing is prepared. Returns the transfers prepared."""
    import csv
    import io

    from lending.credit import selectors as credit_selectors
    from lending.instruments import selectors as instruments_selectors

    require_permission(actor, PREPARE_PERM, action="prepare collateral transfers")
    reason = reason_required(reason)
    try:
        text = content.decode("utf-8-sig") if isinstance(content, bytes) else content
    except UnicodeDecodeError:
        raise ValidationFailed(
            _("file: the file is not UTF-8 CSV"), extra={"field": "file"}
        ) from None
    reader = csv.DictReader(io.StringIO(text))
    header = [h.strip() for h in (reader.fieldnames or [])]
    if header not in (CONFIRMATION_COLUMNS, [*CONFIRMATION_COLUMNS, "restricted_shares"]):
        raise ValidationFailed(
            _("file: the header must be %(columns)s (and optionally restricted_shares)")
            % {"columns": ",".join(CONFIRMATION_COLUMNS)},
            extra={"field": "file"},
        )
    rows = list(reader)
    if not rows:
        raise ValidationFailed(_("file: the file has no confirmations"), extra={"field": "file"})
    with transaction.atomic():
        for number, row in enumerate(rows, start=2):
            try:
                collateral_transfer_prepare(
                    credit_account=credit_selectors.credit_account_by_number(row["account_number"]),
                    instrument=instruments_selectors.instrument_by_code(row["instrument"]),
                    quantity=row["quantity"],
                    confirmation_reference=row["confirmation_reference"],
                    actor=actor,
                    reason=f"{reason} (confirmation file line {number})",
                    restricted_shares=_yes(row.get("restricted_shares")),
                )
            except ApplicationError as exc:
                raise type(exc)(
                    f"{exc.message} (line {number})",
                    code=exc.code,
                    extra={**exc.extra, "line": number},
                ) from exc
    return len(rows)
