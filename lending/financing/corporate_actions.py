"""Corporate actions on collateral and financed lots (除权除息): docs/corporate-actions.md.

Entered by operations (permission lending.add_corporateaction) one by one
(`corporate_action_create`, staff page and API) or from a CSV file
(`corporate_actions_import_csv`: every line is checked first and every bad line is listed with
its field; nothing is written unless all lines are good). Processed by the daily task
(`corporate_actions_process`, beat 08:50 Monday to Friday, before the call auction; idempotent,
so it may run again at any time):

* on the ex-date (`corporate_action_ex_process`), for every investor holding the security at
  the ex-date's start (= the record date's close; in China the record date is the trading day
  before the ex-date, which the service checks against the exchange calendar):
  - cash dividend: a receivable of quantity × cash per share (rounded half up to the fen),
    Dr house custodian_entitlements / Cr client entitlement_receivable. The valuation counts it
    as "other collateral" in the ratio's numerator (DOMAIN.md formula);
  - bonus shares and split: floor(quantity × ratio) new shares, Dr house custodian /
    Cr client client_securities; each open financed lot of that instrument on the investor's
    credit account has its quantity and financed quantity still held multiplied by
    (1 + ratio) (whole shares, rounded down) and its price divided by it; amount and principal
    are unchanged;
  - rights issue: the number of rights shares the investor may subscribe (floor(quantity ×
    ratio)) and a notice to each holder (NOTICE_HOOKS); nothing is booked: the investor
    subscribes with own money in the portal or the API until the subscription ends, and the
    custodian's outcome books the shares or refunds the money (lending.financing.rights);
  the short sellers of the security compensate the lender (权益补偿, lending.shorts.compensation,
  in the same transaction: the owing accounts are locked with the holders');
  and the ex-date's reference price (the exchange's ex-rights reference price,
  (previous close − cash + rights price × rights ratio) / (1 + bonus ratio + rights ratio), on
  the price tick of the instrument's category) is written as the last price before the ex-date
  began (a price tick at the ex-date's start less one microsecond, source "corporate-action"):
  the price band of the ex-date is around it (lending.instruments.selectors.previous_closes)
  and the latest price moves to it at once, so market value and receivable (or new shares)
  change together and the maintenance ratio does not jump.
* on the pay date (`corporate_action_pay`, cash dividends): the cash arrives from the custodian
  into the client omnibus bank and the receivable becomes client money, one entry per
  investor: Dr client_bank / Cr custodian_entitlements and Dr entitlement_receivable /
  Cr client_money.

Taxes: `cash_per_share` is the cash per share the custodian pays to the holder; the
differentiated dividend tax of individuals (差别化红利税) is charged by the registrar at the
sale, outside this ledger, and is not modelled.
"""

from __future__ import annotations

import csv
import hashlib
import io
import logging
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal

from django.db import IntegrityError, transaction
from django.db.models import DecimalField, F, Q, Sum, Value
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.audit import stamp
from accounts.errors import ApplicationError, Conflict, RuleViolation, ValidationFailed
from accounts.permissions import require_permission
from accounts.precision import QUANTITY
from compliance import calendar
from custody import services as custody
from custody.models import EntryKind, LedgerAccount
from custody.selectors import balances_as_of
from lending.common.inputs import decimal_parsed, reason_required
from lending.credit.locks import lock_in_order
from lending.credit.models import CreditAccount
from lending.domain.formats import fmt, fmt_shares
from lending.financing.models import (
    CorporateAction,
    CorporateActionEntitlement,
    CorporateActionKind,
    CorporateActionStatus,
    Financing,
    FinancingStatus,
)
from lending.instruments import selectors as instruments_selectors
from lending.instruments import services as instruments_services
from lending.instruments.models import Instrument
from lending.shorts import compensation as short_compensation

ADD_PERM = "lending.add_corporateaction"
CHANGE_PERM = "lending.change_corporateaction"
CURRENCY = "CNY"
FEN = Decimal("0.01")
SHARE = Decimal(1)
PRICE_PLACES = Decimal("0.0001")
ZERO = Decimal(0)

#: The columns of the import file, in this order (docs/corporate-actions.md).
COLUMNS = [
    "instrument",
    "kind",
    "record_date",
    "ex_date",
    "pay_date",
    "cash_per_share",
    "ratio",
    "rights_price",
    "subscription_end",
    "source_reference",
]

PRICE_SOURCE = "corporate-action"

#: Writers of the holders' notices of a rights issue (lending.margin_calls.rights registers one
#: in lending.apps: notices live above financing). Each is called inside the caller's
#: transaction, the holders' accounts locked, with (entitlement ids, stage): stage 0 on the
#: ex-date (the entitlement), 1 when the custodian's outcome is booked (lending.financing.rights).
NOTICE_HOOKS: list = []


def notices_send(*, entitlement_ids: list[int], stage: int) -> None:
    for hook in list(NOTICE_HOOKS):
        hook(entitlement_ids=entitlement_ids, stage=stage)


log = logging.getLogger(__name__)


# --- entering actions ---------------------------------------------------------------------------


def _date(value, field_name: str, *, required: bool = True) -> date | None:
    if isinstance(value, date):
        return value
    text = str(value or "").strip()
    if not text:
        if required:
            raise ValidationFailed(
                _("%(field)s: a date (YYYY-MM-DD) is required") % {"field": field_name},
                extra={"field": field_name},
            )
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ValidationFailed(
            _("%(field)s: %(value)s is not a date (YYYY-MM-DD)")
            % {"field": field_name, "value": repr(text)},
            extra={"field": field_name},
        ) from None


def _number(value, field_name: str, *, required: bool) -> Decimal | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise ValidationFailed(
                _("%(field)s: required for this kind of action") % {"field": field_name},
                extra={"field": field_name},
            )
        return None
    return decimal_parsed(value, field_name, places=4)


def _absent(value, field_name: str, kind: str) -> None:
    if value is not None and str(value).strip() != "":
        raise ValidationFailed(
            _("%(field)s: not used by a %(kind)s action (leave it empty)")
            % {"field": field_name, "kind": dict(CorporateActionKind.choices).get(kind, kind)},
            extra={"field": field_name},
        )


@dataclass
class ActionTerms:
    """The checked terms of one action (what `corporate_action_create` saves)."""

    instrument: Instrument
    kind: str
    record_date: date
    ex_date: date
    pay_date: date | None = None
    cash_per_share: Decimal | None = None
    ratio: Decimal | None = None
    rights_price: Decimal | None = None
    subscription_end: date | None = None
    source_reference: str = ""


def action_terms_checked(
    *,
    instrument,
    kind: str,
    record_date,
    ex_date,
    pay_date=None,
    cash_per_share=None,
    ratio=None,
    rights_price=None,
    subscription_end=None,
    source_reference: str,
    today: date | None = None,
) -> ActionTerms:
    """Check one action's terms; ValidationFailed / RuleViolation naming the field."""
    if not isinstance(instrument, Instrument):
        instrument = instruments_selectors.instrument_by_code(str(instrument or ""))
    kind = str(kind or "").strip()
    if kind not in CorporateActionKind.values:
        raise ValidationFailed(
            _("kind: %(kind)s is not one of %(values)s")
            % {"kind": repr(kind), "values": ", ".join(CorporateActionKind.values)},
            extra={"field": "kind"},
        )
    record = _date(record_date, "record_date")
    ex = _date(ex_date, "ex_date")
    today = today or timezone.localdate()
    if ex < today:
        raise RuleViolation(
            _("ex_date: %(ex)s has passed; an action is entered before its ex-date") % {"ex": ex},
            code="ex_date_passed",
            extra={"field": "ex_date"},
        )
    if not calendar.is_trading_day(ex):
        raise RuleViolation(
            _("ex_date: %(ex)s is not a Shanghai trading day") % {"ex": ex},
            code="not_trading_day",
            extra={"field": "ex_date"},
        )
    expected = calendar.add_trading_days(ex, -1)
    if record != expected:
        raise RuleViolation(
            _("record_date: %(record)s must be the trading day before the ex-date (%(expected)s)")
            % {"record": record, "expected": expected},
            code="record_date_not_previous_trading_day",
            extra={"field": "record_date"},
        )
    source = str(source_reference or "").strip()
    if not source or len(source) > 200:
        raise ValidationFailed(
            _(
                "source_reference: the issuer's announcement reference is required "
                "(at most 200 characters)"
            ),
            extra={"field": "source_reference"},
        )
    terms = ActionTerms(
        instrument=instrument, kind=kind, record_date=record, ex_date=ex, source_reference=source
    )
    if kind == CorporateActionKind.CASH_DIVIDEND:
        terms.cash_per_share = _number(cash_per_share, "cash_per_share", required=True)
        terms.pay_date = _date(pay_date, "pay_date")
        if terms.pay_date < ex:  # type: ignore[operator]
            raise ValidationFailed(
                _("pay_date: %(pay)s is before the ex-date %(ex)s")
                % {"pay": terms.pay_date, "ex": ex},
                extra={"field": "pay_date"},
            )
        for name, value in (
            ("ratio", ratio),
            ("rights_price", rights_price),
            ("subscription_end", subscription_end),
        ):
            _absent(value, name, kind)
    else:
        terms.ratio = _number(ratio, "ratio", required=True)
        _absent(cash_per_share, "cash_per_share", kind)
        _absent(pay_date, "pay_date", kind)
        if kind == CorporateActionKind.RIGHTS:
            terms.rights_price = _number(rights_price, "rights_price", required=True)
            terms.subscription_end = _date(subscription_end, "subscription_end")
            if terms.subscription_end < ex:  # type: ignore[operator]
                raise ValidationFailed(
                    _("subscription_end: %(end)s is before the ex-date %(ex)s")
                    % {"end": terms.subscription_end, "ex": ex},
                    extra={"field": "subscription_end"},
                )
        else:
            _absent(rights_price, "rights_price", kind)
            _absent(subscription_end, "subscription_end", kind)
    return terms


def _save(terms: ActionTerms, *, actor, reason: str, file_name: str = "", sha256: str = ""):
    action = CorporateAction(
        instrument=terms.instrument,
        kind=terms.kind,
        record_date=terms.record_date,
        ex_date=terms.ex_date,
        pay_date=terms.pay_date,
        cash_per_share=terms.cash_per_share,
        ratio=terms.ratio,
        rights_price=terms.rights_price,
        subscription_end=terms.subscription_end,
        source_reference=terms.source_reference,
        import_file_name=file_name[:200],
        import_sha256=sha256,
        created_by=actor,
        reason=reason[:300],
    )
    stamp(action, actor=actor, reason=f"entered from {terms.source_reference}: {reason}")
    try:
        with transaction.atomic():
            action.save()
    except IntegrityError:
        raise Conflict(
            _("ex_date: a %(kind)s of %(instrument)s with ex-date %(ex)s is already recorded")
            % {
                "kind": dict(CorporateActionKind.choices).get(terms.kind, terms.kind),
                "instrument": terms.instrument.ledger_unit,
                "ex": terms.ex_date,
            },
            extra={"field": "ex_date"},
        ) from None
    return action


def corporate_action_create(*, actor, reason: str, **terms) -> CorporateAction:
    """Record one announced corporate action (the terms of `action_terms_checked`)."""
    require_permission(actor, ADD_PERM, action="record a corporate action")
    reason = reason_required(reason)
    checked = action_terms_checked(**terms)
    with transaction.atomic():
        return _save(checked, actor=actor, reason=reason)


@dataclass
class ImportResult:
    created: list[CorporateAction] = field(default_factory=list)
    file_name: str = ""
    sha256: str = ""


def corporate_actions_import_csv(
    *, content: bytes | str, file_name: str, actor, reason: str
) -> ImportResult:
    """Record the actions of a CSV file (COLUMNS). Every line is checked first; when any is
    bad, ValidationFailed lists every bad line with its field and rule (extra["errors"]) and
    nothing is written. The file's name and SHA-256 are kept on each action."""
    require_permission(actor, ADD_PERM, action="import corporate actions")
    reason = reason_required(reason)
    raw = content.encode() if isinstance(content, str) else content
    sha256 = hashlib.sha256(raw).hexdigest()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ValidationFailed(
            _("file: the file is not UTF-8 CSV"), extra={"field": "file"}
        ) from None
    reader = csv.DictReader(io.StringIO(text))
    if [h.strip() for h in (reader.fieldnames or [])] != COLUMNS:
        raise ValidationFailed(
            _("file: the header must be %(columns)s") % {"columns": ",".join(COLUMNS)},
            extra={"field": "file"},
        )
    # each row with the file's own line number (a spreadsheet's: the header is line 1, blank
    # lines count), as the price upload and the exchange lists number theirs
    rows = [(reader.line_num, row) for row in reader]
    if not rows:
        raise ValidationFailed(_("file: the file has no actions"), extra={"field": "file"})
    errors: list[dict] = []
    checked: list[tuple[int, ActionTerms]] = []
    seen: dict[tuple, int] = {}
    for number, row in rows:
        try:
            if None in row or any(v is None for v in row.values()):
                raise ValidationFailed(
                    _("file: the line has not %(count)s columns") % {"count": len(COLUMNS)},
                    extra={"field": "file"},
                )
            terms = action_terms_checked(**{k.strip(): v for k, v in row.items()})
        except ApplicationError as exc:
            errors.append(
                {"line": number, "field": exc.extra.get("field", ""), "message": exc.message}
            )
            continue
        key = (terms.instrument.pk, terms.kind, terms.ex_date)
        if key in seen:
            errors.append({
                "line": number,
                "field": "ex_date",
                "message": _("ex_date: the same action as line %(line)s") % {"line": seen[key]},
            })  # fmt: skip
            continue
        seen[key] = number
        if CorporateAction.objects.filter(
            instrument=terms.instrument, kind=terms.kind, ex_date=terms.ex_date
        ).exists():
            errors.append({
                "line": number,
                "field": "ex_date",
                "message": _(
                    "ex_date: a %(kind)s of %(instrument)s with ex-date %(ex)s is already recorded"
                ) % {
                    "kind": dict(CorporateActionKind.choices).get(terms.kind, terms.kind),
                    "instrument": terms.instrument.ledger_unit,
                    "ex": terms.ex_date,
                },
            })  # fmt: skip
            continue
        checked.append((number, terms))
    if errors:
        listed = "; ".join(
            _("line %(line)s: %(message)s") % {"line": e["line"], "message": e["message"]}
            for e in errors
        )
        raise ValidationFailed(
            _("file: %(count)s bad line(s), nothing imported: %(listed)s")
            % {"count": len(errors), "listed": listed},
            extra={"field": "file", "errors": errors},
        )
    result = ImportResult(file_name=file_name, sha256=sha256)
    with transaction.atomic():
        for number, terms in checked:
            result.created.append(
                _save(
                    terms,
                    actor=actor,
                    reason=f"{reason} (file {file_name} line {number})",
                    file_name=file_name,
                    sha256=sha256,
                )
            )
    return result


def corporate_action_cancel(*, action: CorporateAction, actor, reason: str) -> CorporateAction:
    """Cancel an action not yet processed (the issuer withdrew it, or it was entered wrong)."""
    require_permission(actor, CHANGE_PERM, action="cancel a corporate action")
    reason = reason_required(reason)
    with transaction.atomic():
        locked = CorporateAction.objects.select_for_update().get(pk=action.pk)
        if locked.status != CorporateActionStatus.ANNOUNCED:
            raise Conflict(
                _("action: already %(status)s; only an announced action may be cancelled")
                % {"status": locked.get_status_display()},
                extra={"field": "action"},
            )
        locked.status = CorporateActionStatus.CANCELLED
        stamp(locked, actor=actor, reason=f"cancelled: {reason}")
        locked.save(update_fields=["status"])
    return locked


# --- processing -------------------------------------------------------------------------------


def reference_price(action: CorporateAction, previous_close: Decimal, tick: Decimal) -> Decimal:
    """The exchange's ex-rights reference price (除权除息参考价):
    (previous close − cash + rights price × rights ratio) / (1 + bonus ratio + rights ratio),
    rounded half up to the price tick."""
    cash = action.cash_per_share or ZERO
    bonus = action.ratio if action.kind in (CorporateActionKind.BONUS, "split") else ZERO
    rights = action.ratio if action.kind == CorporateActionKind.RIGHTS else ZERO
    rights_cash = (action.rights_price or ZERO) * (rights or ZERO)
    value = (previous_close - cash + rights_cash) / (1 + (bonus or ZERO) + (rights or ZERO))
    return value.quantize(tick, rounding=ROUND_HALF_UP)


def _reference_price_record(action: CorporateAction) -> Decimal | None:
    """Write the ex-date's reference price as the last price before the ex-date began."""
    instrument = action.instrument
    start = instruments_selectors.day_start(action.ex_date)
    previous = instruments_selectors.previous_closes([(instrument.pk, action.ex_date)]).get(
        (instrument.pk, action.ex_date)
    )
    if previous is None:
        return None
    tick = instruments_selectors.band_parameters(action.ex_date).tick(instrument.category)
    price = reference_price(action, previous[1], tick)
    if price <= 0:
        raise RuleViolation(
            _("cash_per_share: the dividend is not below the previous close %(close)s")
            % {"close": previous[1]},
            code="reference_price_not_positive",
            extra={"field": "cash_per_share"},
        )
    at = start - timedelta(microseconds=1)
    instruments_services.price_ticks_write_in_transaction(
        source=PRICE_SOURCE, ids=[instrument.pk], prices=[price], times=[at]
    )
    return price


def _holders(action: CorporateAction) -> dict[int, Decimal]:
    """{investor id: shares held at the ex-date's start} (the record date's close)."""
    accounts = list(
        LedgerAccount.objects.filter(
            purpose="client_securities",
            unit=action.instrument.ledger_unit,
            investor__isnull=False,
        )
    )
    as_of = instruments_selectors.day_start(action.ex_date)
    values = balances_as_of(accounts=accounts, as_of=as_of)
    return {a.investor_id: values[a.pk] for a in accounts if values[a.pk] > 0}


def _financed_lots_adjust(
    action: CorporateAction, credit_account: CreditAccount, factor: Decimal
) -> int:
    lots = list(
        Financing.objects.select_for_update(of=("self",))
        .filter(
            credit_account=credit_account,
            instrument=action.instrument,
            status=FinancingStatus.OPEN,
        )
        .order_by("pk")
    )
    for lot in lots:
        old = (lot.quantity, lot.quantity_held, lot.price)
        lot.quantity = (lot.quantity * factor).quantize(SHARE, rounding=ROUND_DOWN)
        lot.quantity_held = (lot.quantity_held * factor).quantize(SHARE, rounding=ROUND_DOWN)
        lot.price = (lot.price / factor).quantize(PRICE_PLACES, rounding=ROUND_HALF_UP)
        stamp(
            lot,
            actor=None,
            reason=f"system: corporate action #{action.pk} ({action.kind}, ex {action.ex_date}):"
            f" quantity {old[0]} -> {lot.quantity}, held {old[1]} -> {lot.quantity_held}, "
            f"price {old[2]} -> {lot.price}; amount and principal unchanged",
        )
        lot.save(update_fields=["quantity", "quantity_held", "price"])
    return len(lots)


def corporate_action_ex_process(*, action_id: int, actor=None) -> CorporateAction:
    """Book an action's ex-date (module docstring); once: a processed action is returned as it
    is. Runs in its own durable transaction."""
    require_permission(actor, CHANGE_PERM, action="process a corporate action")

    def run() -> CorporateAction:
        with transaction.atomic(durable=True):
            return _ex_process(action_id, actor)

    from custody.services.ledger import run_retrying

    return run_retrying(run, what="corporate_action_ex_process")


def _ex_process(action_id: int, actor) -> CorporateAction:
    action = CorporateAction.objects.select_related("instrument").get(pk=action_id)
    if action.status != CorporateActionStatus.ANNOUNCED:
        return action
    holders = _holders(action)
    accounts = {
        ca.investor_id: ca
        for ca in CreditAccount.objects.filter(investor_id__in=list(holders)).order_by("pk")
    }
    locked = lock_in_order(
        investor_ids=list(holders),
        credit_account_ids=[ca.pk for ca in accounts.values()]
        + short_compensation.accounts_owing(action),  # short sellers compensate the lender
    )
    action = (
        CorporateAction.objects.select_for_update(of=("self",))
        .select_related("instrument")
        .get(pk=action_id)
    )
    if action.status != CorporateActionStatus.ANNOUNCED:  # processed meanwhile
        return action
    short_compensation.short_compensation_book_in_transaction(corporate_action=action, actor=actor)
    unit = action.instrument.ledger_unit
    kind = action.kind
    specs: list[custody.EntrySpec] = []
    entitlements: list[CorporateActionEntitlement] = []
    if kind == CorporateActionKind.CASH_DIVIDEND:
        house = custody.house_account("custodian_entitlements", CURRENCY, actor=actor)
    elif kind in (CorporateActionKind.BONUS, CorporateActionKind.SPLIT):
        house = custody.house_account("custodian", unit, actor=actor)
    factor = 1 + (action.ratio or ZERO)
    for investor_id in sorted(holders):
        quantity = holders[investor_id]
        investor = locked.investors[investor_id]
        credit_account = accounts.get(investor_id)
        entitlement = CorporateActionEntitlement(
            corporate_action=action,
            investor=investor,
            credit_account=credit_account,
            quantity_held=quantity,
        )
        key = f"corporate-action:{action.pk}:ex:{investor_id}"
        if kind == CorporateActionKind.CASH_DIVIDEND:
            cash = (quantity * action.cash_per_share).quantize(FEN, rounding=ROUND_HALF_UP)
            entitlement.cash_amount = cash
            if cash > 0:
                client = custody.client_account(
                    investor, "entitlement_receivable", CURRENCY, actor=actor
                )
                specs.append(
                    custody.EntrySpec(
                        legs=[custody.debit(house, cash), custody.credit(client, cash)],
                        memo=f"Cash dividend {fmt(cash)} on {fmt_shares(quantity)} {unit} "
                        f"(ex {action.ex_date}, {action.cash_per_share}/share, "
                        f"{action.source_reference}): receivable until {action.pay_date}",
                        kind=EntryKind.CORPORATE_ACTION,
                        idempotency_key=key,
                        effective_date=action.ex_date,
                    )
                )
        elif kind in (CorporateActionKind.BONUS, CorporateActionKind.SPLIT):
            new = (quantity * action.ratio).quantize(SHARE, rounding=ROUND_DOWN)
            entitlement.new_shares = new
            if new > 0:
                client = custody.client_account(investor, "client_securities", unit, actor=actor)
                specs.append(
                    custody.EntrySpec(
                        legs=[custody.debit(house, new), custody.credit(client, new)],
                        memo=f"{action.get_kind_display()} {fmt_shares(new)} {unit} on "
                        f"{fmt_shares(quantity)} (ex {action.ex_date}, {action.ratio} per "
                        f"share, {action.source_reference})",
                        kind=EntryKind.CORPORATE_ACTION,
                        idempotency_key=key,
                        effective_date=action.ex_date,
                    )
                )
        else:  # rights: a notice, no booking (lending.financing.rights: the subscription)
            entitlement.rights_quantity = (quantity * action.ratio).quantize(
                SHARE, rounding=ROUND_DOWN
            )
        entitlements.append(entitlement)
    # the ledger (step 3 of the lock order), then the financed lots (own rows come last)
    posted = custody.entries_post_in_transaction(entries=specs, actor=actor) if specs else []
    by_key = {entry.idempotency_key: entry for entry in posted}
    for entitlement in entitlements:
        if kind in (CorporateActionKind.BONUS, CorporateActionKind.SPLIT) and (
            entitlement.credit_account is not None
        ):
            entitlement.financings_adjusted = _financed_lots_adjust(
                action, entitlement.credit_account, factor
            )
        entitlement.ex_entry = by_key.get(
            f"corporate-action:{action.pk}:ex:{entitlement.investor.pk}"
        )
        stamp(entitlement, actor=actor, reason=f"system: corporate action #{action.pk} ex-date")
        entitlement.save()
    if kind == CorporateActionKind.RIGHTS:
        notices_send(
            entitlement_ids=[
                e.pk for e in entitlements if e.rights_quantity > 0 and e.credit_account_id
            ],
            stage=0,
        )
    action.reference_price = _reference_price_record(action)
    action.status = CorporateActionStatus.EX_PROCESSED
    action.ex_processed_at = timezone.now()
    stamp(
        action,
        actor=actor,
        reason=f"system: ex-date {action.ex_date} processed: {len(entitlements)} holder(s), "
        f"reference price {action.reference_price}",
    )
    action.save(update_fields=["reference_price", "status", "ex_processed_at"])
    pk = action.instrument_id
    transaction.on_commit(lambda: instruments_services.on_prices_changed([pk]))
    return action


def custodian_cash_accounts(actor) -> tuple:
    """The house accounts an entitlement paid in cash moves through: (client omnibus bank,
    custodian entitlements)."""
    return (
        custody.house_account("client_bank", CURRENCY, actor=actor),
        custody.house_account("custodian_entitlements", CURRENCY, actor=actor),
    )


def entitlement_cash_legs(investor, amount: Decimal, actor, house: tuple | None = None) -> list:
    """The custodian pays an entitlement receivable in cash (a dividend on its pay date, a
    rights subscription refunded): the money arrives in the client omnibus bank
    (Dr client_bank / Cr custodian_entitlements) and the investor's receivable becomes free cash
    (Dr entitlement_receivable / Cr client_money). `house`: custodian_cash_accounts, read once
    by a caller paying many investors."""
    bank, claim = house or custodian_cash_accounts(actor)
    return [
        custody.debit(bank, amount),
        custody.credit(claim, amount),
        custody.debit(
            custody.client_account(investor, "entitlement_receivable", CURRENCY, actor=actor),
            amount,
        ),
        custody.credit(
            custody.client_account(investor, "client_money", CURRENCY, actor=actor), amount
        ),
    ]


def corporate_action_pay(*, action_id: int, actor=None) -> CorporateAction:
    """Pay a cash dividend processed on its ex-date: each receivable becomes client money, the
    cash arriving from the custodian in the client omnibus bank. Once."""
    require_permission(actor, CHANGE_PERM, action="pay a corporate action")

    def run() -> CorporateAction:
        with transaction.atomic(durable=True):
            return _pay(action_id, actor)

    from custody.services.ledger import run_retrying

    return run_retrying(run, what="corporate_action_pay")


def _pay(action_id: int, actor) -> CorporateAction:
    action = CorporateAction.objects.get(pk=action_id)
    if (
        action.kind != CorporateActionKind.CASH_DIVIDEND
        or action.status != CorporateActionStatus.EX_PROCESSED
    ):
        return action
    due = list(
        CorporateActionEntitlement.objects.filter(
            corporate_action_id=action_id, pay_entry__isnull=True, cash_amount__gt=0
        ).order_by("investor_id")
    )
    locked = lock_in_order(investor_ids=[e.investor_id for e in due])
    action = (
        CorporateAction.objects.select_for_update(of=("self",))
        .select_related("instrument")
        .get(pk=action_id)
    )
    if action.status != CorporateActionStatus.EX_PROCESSED:
        return action
    house = custodian_cash_accounts(actor)
    specs = []
    for entitlement in due:
        investor = locked.investors[entitlement.investor_id]
        cash = entitlement.cash_amount
        specs.append(
            custody.EntrySpec(
                legs=entitlement_cash_legs(investor, cash, actor, house),
                memo=f"Cash dividend {fmt(cash)} paid on {fmt_shares(entitlement.quantity_held)}"
                f" {action.instrument.ledger_unit} (pay date {action.pay_date}, "
                f"{action.source_reference})",
                kind=EntryKind.CORPORATE_ACTION,
                idempotency_key=f"corporate-action:{action.pk}:pay:{entitlement.investor_id}",
                effective_date=action.pay_date,
            )
        )
    posted = custody.entries_post_in_transaction(entries=specs, actor=actor) if specs else []
    now = timezone.now()
    for entitlement, entry in zip(due, posted, strict=True):
        entitlement.pay_entry, entitlement.paid_at = entry, now
        stamp(entitlement, actor=actor, reason=f"system: corporate action #{action.pk} paid")
        entitlement.save(update_fields=["pay_entry", "paid_at"])
    action.status = CorporateActionStatus.PAID
    action.paid_at = now
    stamp(action, actor=actor, reason=f"system: paid on {action.pay_date}: {len(due)} holder(s)")
    action.save(update_fields=["status", "paid_at"])
    return action


@dataclass
class ProcessResult:
    ex_processed: list[int] = field(default_factory=list)
    paid: list[int] = field(default_factory=list)
    failed: dict[int, str] = field(default_factory=dict)  # action id: the refusal


def corporate_actions_process(*, on: date | None = None, actor=None) -> ProcessResult:
    """The daily task: every announced action whose ex-date has come (on or before `on`, today
    by default), then every processed cash dividend whose pay date has come. Idempotent."""
    require_permission(actor, CHANGE_PERM, action="process corporate actions")
    on = on or timezone.localdate()
    result = ProcessResult()
    due_ex = CorporateAction.objects.filter(
        status=CorporateActionStatus.ANNOUNCED, ex_date__lte=on
    ).order_by("ex_date", "pk")
    for action_id in due_ex.values_list("pk", flat=True):
        try:
            corporate_action_ex_process(action_id=action_id, actor=actor)
        except ApplicationError as exc:  # one bad action does not stop the others
            log.error("corporate action %s not processed: %s", action_id, exc.message)
            result.failed[action_id] = exc.message
            continue
        result.ex_processed.append(action_id)
    due_pay = CorporateAction.objects.filter(
        status=CorporateActionStatus.EX_PROCESSED,
        kind=CorporateActionKind.CASH_DIVIDEND,
        pay_date__lte=on,
    ).order_by("pay_date", "pk")
    for action_id in due_pay.values_list("pk", flat=True):
        try:
            corporate_action_pay(action_id=action_id, actor=actor)
        except ApplicationError as exc:
            log.error("corporate action %s not paid: %s", action_id, exc.message)
            result.failed[action_id] = exc.message
            continue
        result.paid.append(action_id)
    return result


# --- reads -------------------------------------------------------------------------------------


def entitlements_of(credit_account: CreditAccount):
    """The account's entitlements still of interest to the investor: unpaid dividends and
    rights open for subscription (the portal account page), each rights entitlement with
    `rights_left` (its rights shares not yet subscribed) and its subscriptions."""
    today = timezone.localdate()
    subscribed = Coalesce(
        Sum("subscriptions__quantity", filter=~Q(subscriptions__status="cancelled")),
        Value(ZERO),
        output_field=DecimalField(**QUANTITY.fields),
    )
    return (
        CorporateActionEntitlement.objects.filter(investor_id=credit_account.investor_id)
        .select_related("corporate_action__instrument")
        .filter(
            Q(cash_amount__gt=0, pay_entry__isnull=True)
            | Q(
                rights_quantity__gt=0,
                corporate_action__status=CorporateActionStatus.EX_PROCESSED,
                corporate_action__subscription_end__gte=today,
            )
        )
        .annotate(rights_left=F("rights_quantity") - subscribed)
        .prefetch_related("subscriptions")
        .order_by("-corporate_action__ex_date", "pk")
    )
