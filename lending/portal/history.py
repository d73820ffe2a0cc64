"""The investor's history: every movement on the credit account, read from the custody ledger
(docs/investor-history.md).

Reads only. The lines are the postings of the investor's own ledger accounts (custody
`LedgerAccount` owned by the investor: cash `client_money`, debt `financing_receivable` and
`interest_receivable`, shares `client_securities`, the dividend or rights money due
`entitlement_receivable`), one `HistoryRow` per journal entry with one `Movement` per ledger
account it moved. Each entry is joined to what it is about, so a row says in words what happened:
the fill with its order, price, quantity and fees (and the liquidation plan of a liquidation
sale), the bank line of a deposit, the withdrawal, the interest day, the corporate action, the
collateral transfer, the default covered by the reserve fund. An entry nothing explains is named
by its kind.

Order and balances: by business date (the entry's `effective_date`, the day it counts for), then
by entry, as the ledger numbers them; a movement's `balance` is the account's balance after it in
that order, on the account's normal side (cash and shares held for the investor: what the desk
holds; debt: what the investor owes), so the newest row's balances are the account's balances now
(for entries dated up to today). Amounts are the ledger's own (a movement's `amount` is the sum of
its entry's postings on that account, turned to the normal side): over any period the movements
of an account add up to its postings, exactly.

The ledger keeps accounts per investor, not per credit account: an investor has one credit
account at the desk, and the history of a credit account is its investor's ledger.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from decimal import Decimal

from django.core.exceptions import ObjectDoesNotExist
from django.db import connection
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.errors import ValidationFailed
from custody.models import EntryKind, JournalEntry, LedgerAccount, Owner, Posting
from lending.credit.models import CreditAccount
from lending.domain.formats import fmt, fmt_shares
from lending.financing.models import (
    BankCredit,
    CollateralTransferIn,
    CorporateActionEntitlement,
    CorporateActionKind,
    InterestAccrual,
    PenaltyAccrual,
    WithdrawalRequest,
)
from lending.instruments.models import Instrument
from lending.liquidation.models import DefaultRecord
from lending.orders.models import Fill, OrderPurpose

ZERO = Decimal(0)
CENT = Decimal("0.01")

#: The investor's ledger accounts a history shows, by purpose: (account code in the API and
#: the CSV, debt or not). Any other client account (a purpose added later) shows as "other".
ACCOUNTS = {
    "client_money": "cash",
    "financing_receivable": "financing",
    "interest_receivable": "interest",
    "client_securities": "shares",
    "entitlement_receivable": "entitlement",
}

#: Category codes (stable, English, for machines) of what an entry is about.
CATEGORIES = (
    "deposit",
    "withdrawal",
    "buy",
    "financed_buy",
    "sale",
    "sale_to_repay",
    "liquidation_sale",
    "repayment",
    "sale_repayment",
    "liquidation_repayment",
    "interest",
    "interest_collected",
    "penalty_interest",
    "transfer_in",
    "transfer_out",
    "corporate_action",
    "rights",
    "default_covered",
    "reversal",
    "other",
)

_TRADE_CATEGORY = {
    OrderPurpose.CASH_BUY: "buy",
    OrderPurpose.FINANCED_BUY: "financed_buy",
    OrderPurpose.SELL: "sale",
    OrderPurpose.SELL_TO_REPAY: "sale_to_repay",
    OrderPurpose.LIQUIDATION: "liquidation_sale",
}


# --- what a page shows ------------------------------------------------------------------------


@dataclass(frozen=True)
class Movement:
    account: str  # cash, financing, interest, shares, entitlement, other (ACCOUNTS)
    ledger_account_id: int
    unit: str  # CNY, or the instrument's ledger unit for shares
    amount: Decimal  # change of the balance on its normal side (sum of the entry's postings)
    balance: Decimal  # the account's balance after this entry, on its normal side
    instrument_name: str = ""

    @property
    def is_money(self) -> bool:
        return self.account != "shares"

    def _text(self, value: Decimal, sign: str = "") -> str:
        """Digits as the desk prints them in both languages: money to the cent with thousands
        separators (16,991.33), shares without trailing zeros (1,700)."""
        if self.is_money:
            return f"{value.quantize(CENT):{sign},.2f}"
        return f"{value.normalize():{sign},f}"

    @property
    def change_text(self) -> str:
        return self._text(self.amount, "+")

    @property
    def balance_text(self) -> str:
        return self._text(self.balance)

    @property
    def label(self) -> str:
        labels = {
            "cash": _("Cash"),
            "financing": _("Financing owed"),
            "interest": _("Interest owed"),
            "shares": _("Shares"),
            "entitlement": _("Entitlement receivable"),
        }
        return labels.get(self.account, _("Other"))


@dataclass(frozen=True)
class TradeDetail:
    """The fill an entry booked, as the market executed it."""

    exec_id: str
    client_order_id: str
    side: str
    purpose: str
    instrument: str
    instrument_name: str
    quantity: Decimal
    price: Decimal
    turnover: Decimal
    commission: Decimal
    stamp_duty: Decimal
    transfer_fee: Decimal
    executed_at: datetime
    liquidation_plan_id: int | None

    @property
    def fees(self) -> Decimal:
        return self.commission + self.stamp_duty + self.transfer_fee


@dataclass
class HistoryRow:
    entry_id: int
    booked_at: datetime  # when the ledger booked it, in the desk's time zone
    business_date: date
    kind: str  # the journal entry's kind (custody EntryKind)
    category: str = "other"  # CATEGORIES
    description: str = ""
    memo: str = ""  # the ledger's own memo (English, for the desk)
    trade: TradeDetail | None = None
    liquidation_plan_id: int | None = None
    movements: list[Movement] = field(default_factory=list)

    def movement(self, account: str, unit: str | None = None) -> Movement | None:
        for m in self.movements:
            if m.account == account and (unit is None or m.unit == unit):
                return m
        return None

    @property
    def cash(self) -> Movement | None:
        return self.movement("cash")


# --- the period ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Period:
    start: date | None = None
    end: date | None = None

    @property
    def query(self) -> str:
        """The filter as a query string (for the CSV link and the pages' links)."""
        parts = []
        if self.start:
            parts.append(f"from={self.start.isoformat()}")
        if self.end:
            parts.append(f"to={self.end.isoformat()}")
        return "&".join(parts)


def period_parsed(start: str | date | None, end: str | date | None) -> Period:
    """`from` and `to` (YYYY-MM-DD, both optional, both included); a bad date, or `from` after
    `to`, is ValidationFailed naming the field."""

    def parsed(value, name: str) -> date | None:
        if value in (None, ""):
            return None
        if isinstance(value, date):
            return value
        try:
            return date.fromisoformat(str(value).strip())
        except ValueError:
            raise ValidationFailed(
                _("%(field)s: %(value)s is not a date (YYYY-MM-DD)")
                % {"field": name, "value": str(value)[:20]},
                extra={"field": name},
            ) from None

    period = Period(parsed(start, "from"), parsed(end, "to"))
    if period.start and period.end and period.start > period.end:
        raise ValidationFailed(
            _("from: %(start)s is after to: %(end)s")
            % {"start": period.start.isoformat(), "end": period.end.isoformat()},
            extra={"field": "from"},
        )
    return period


# --- the history ------------------------------------------------------------------------------


class History:
    """The history of one credit account over a period, newest first: a lazy sequence that
    Django's Paginator and the API's pagination slice like a queryset (`count()`, `[a:b]`);
    each slice reads only its own entries (a handful of queries, whatever the page size)."""

    def __init__(self, credit_account: CreditAccount, period: Period | None = None):
        self.credit_account = credit_account
        self.period = period or Period()
        self._accounts: dict[int, LedgerAccount] | None = None
        self._count: int | None = None

    # the investor's ledger accounts
    @property
    def accounts(self) -> dict[int, LedgerAccount]:
        if self._accounts is None:
            self._accounts = {
                a.pk: a
                for a in LedgerAccount.objects.filter(
                    investor_id=self.credit_account.investor_id, owner=Owner.CLIENT
                )
            }
        return self._accounts

    def _entries(self):
        ids = list(self.accounts)
        qs = JournalEntry.objects.filter(
            Exists(Posting.objects.filter(entry_id=OuterRef("pk"), account_id__in=ids))
        )
        if self.period.start:
            qs = qs.filter(effective_date__gte=self.period.start)
        if self.period.end:
            qs = qs.filter(effective_date__lte=self.period.end)
        return qs.order_by("-effective_date", "-id")

    def count(self) -> int:
        if self._count is None:
            self._count = self._entries().count() if self.accounts else 0
        return self._count

    def __len__(self) -> int:
        return self.count()

    def __getitem__(self, key):
        if isinstance(key, int):
            rows = self[key : key + 1]
            if not rows:
                raise IndexError(key)
            return rows[0]
        if not self.accounts:
            return []
        entries = list(self._entries()[key])
        return self._rows(entries)

    def __iter__(self):
        return iter(self.all())

    def all(self) -> list[HistoryRow]:
        """Every row of the period (the CSV download), newest first."""
        if not self.accounts:
            return []
        return self._rows(list(self._entries()))

    # -- reading one slice
    def _rows(self, entries: list[JournalEntry]) -> list[HistoryRow]:
        if not entries:
            return []
        ids = [e.pk for e in entries]
        movements = self._movements(entries)
        units = {m.unit for ms in movements.values() for m in ms if m.account == "shares"}
        names = instrument_names(units)
        rows = []
        for e in entries:
            row = HistoryRow(
                entry_id=e.pk,
                booked_at=timezone.localtime(e.created_at),
                business_date=e.effective_date,
                kind=e.kind,
                memo=e.memo,
                movements=[
                    replace(m, instrument_name=names.get(m.unit, ""))
                    if m.account == "shares"
                    else m
                    for m in movements.get(e.pk, [])
                ],
            )
            rows.append(row)
        _describe(rows, entries, ids, names)
        return rows

    def _movements(self, entries: list[JournalEntry]) -> dict[int, list[Movement]]:
        """Per entry, one movement per ledger account, with the account's balance after it:
        the running sum of the account's postings in (business date, entry, posting) order,
        from the period's start (with the balance before it) to the page's last entry."""
        accounts = self.accounts
        ids = list(accounts)
        last = max(e.effective_date for e in entries)
        start = self.period.start
        opening: dict[int, Decimal] = defaultdict(lambda: ZERO)
        with connection.cursor() as cursor:
            if start is not None:
                cursor.execute(
                    "SELECT p.account_id, sum(p.amount) FROM custody_posting p "
                    "JOIN custody_journalentry e ON e.id = p.entry_id "
                    "WHERE p.account_id = ANY(%s) AND e.effective_date < %s "
                    "GROUP BY p.account_id",
                    [ids, start],
                )
                opening.update(dict(cursor.fetchall()))
            cursor.execute(
                "SELECT s.entry_id, s.account_id, sum(s.amount), max(s.running) FILTER "
                "(WHERE s.last_of_entry) FROM ("
                " SELECT p.entry_id, p.account_id, p.amount,"
                "  sum(p.amount) OVER w AS running,"
                "  row_number() OVER (PARTITION BY p.entry_id, p.account_id ORDER BY p.id DESC)"
                "   = 1 AS last_of_entry"
                " FROM custody_posting p JOIN custody_journalentry e ON e.id = p.entry_id"
                " WHERE p.account_id = ANY(%s) AND e.effective_date <= %s"
                "  AND (%s::date IS NULL OR e.effective_date >= %s::date)"
                " WINDOW w AS (PARTITION BY p.account_id ORDER BY e.effective_date, e.id, p.id)"
                ") s WHERE s.entry_id = ANY(%s) GROUP BY s.entry_id, s.account_id "
                "ORDER BY s.entry_id, s.account_id",
                [ids, last, start, start, [e.pk for e in entries]],
            )
            fetched = cursor.fetchall()
        result: dict[int, list[Movement]] = defaultdict(list)
        for entry_id, account_id, amount, running in fetched:
            account = accounts[account_id]
            sign = account.normal_sign
            result[entry_id].append(
                Movement(
                    account=ACCOUNTS.get(account.purpose, "other"),
                    ledger_account_id=account_id,
                    unit=account.unit,
                    amount=amount * sign,
                    balance=(opening[account_id] + running) * sign,
                )
            )
        order = {code: i for i, code in enumerate(ACCOUNTS.values())}
        for movements in result.values():
            movements.sort(key=lambda m: (order.get(m.account, 99), m.unit))
        return result


def instrument_names(units) -> dict[str, str]:
    """{ledger unit: instrument name} for units such as "SSE:600519"."""
    pairs = [u.split(":", 1) for u in units if ":" in u]
    if not pairs:
        return {}
    q = Q()
    for exchange, code in pairs:
        q |= Q(exchange=exchange, code=code)
    return {i.ledger_unit: i.name for i in Instrument.objects.filter(q)}


# --- what each entry is about ---------------------------------------------------------------


def _describe(rows: list[HistoryRow], entries, ids: list[int], names: dict[str, str]) -> None:
    by_id = {e.pk: e for e in entries}
    kinds = {e.kind for e in entries}

    def of(kinds_needed, read) -> dict:
        """`read(ids)` only when an entry of the page could be explained by it."""
        return read(ids) if kinds & set(kinds_needed) else {}

    K = EntryKind
    fills = of(
        (K.TRADE, K.FINANCING),
        lambda ids: {
            f.entry_id: f
            for f in Fill.objects.filter(entry_id__in=ids).select_related(
                "order__instrument", "order__liquidation_order__line"
            )
        },
    )
    repay_keys = {
        e.idempotency_key.split(":", 1)[1]: e.pk
        for e in entries
        if (e.idempotency_key or "").startswith("fill-repay:")
    }
    sold = {}
    if repay_keys:
        sold = {
            repay_keys[f.exec_id]: f
            for f in Fill.objects.filter(exec_id__in=list(repay_keys)).select_related(
                "order__instrument", "order__liquidation_order__line"
            )
        }
    withdrawals = of(
        (K.WITHDRAWAL, K.SECURITIES),
        lambda ids: {
            w.entry_id: w
            for w in WithdrawalRequest.objects.filter(entry_id__in=ids).select_related("instrument")
        },
    )
    transfers = of(
        (K.SECURITIES,),
        lambda ids: {
            t.entry_id: t
            for t in CollateralTransferIn.objects.filter(entry_id__in=ids).select_related(
                "instrument"
            )
        },
    )
    deposits = of(
        (K.DEPOSIT,),
        lambda ids: {b.entry_id: b for b in BankCredit.objects.filter(entry_id__in=ids)},
    )
    accruals = of(
        (K.INTEREST,),
        lambda ids: {a.entry_id: a for a in InterestAccrual.objects.filter(entry_id__in=ids)},
    )
    penalties = of(
        (K.INTEREST,),
        lambda ids: {p.entry_id: p for p in PenaltyAccrual.objects.filter(entry_id__in=ids)},
    )
    entitlements: dict[int, tuple[str, CorporateActionEntitlement]] = {}
    if K.CORPORATE_ACTION in kinds:
        for ent in CorporateActionEntitlement.objects.filter(
            Q(ex_entry_id__in=ids) | Q(pay_entry_id__in=ids)
        ).select_related("corporate_action__instrument"):
            if ent.ex_entry_id in by_id:
                entitlements[ent.ex_entry_id] = ("ex", ent)
            if ent.pay_entry_id in by_id:
                entitlements[ent.pay_entry_id] = ("pay", ent)
    defaults = of(
        (K.RESERVE,),
        lambda ids: {
            d.reserve_entry_id: d for d in DefaultRecord.objects.filter(reserve_entry_id__in=ids)
        },
    )

    for row in rows:
        entry = by_id[row.entry_id]
        key = entry.idempotency_key or ""
        if row.entry_id in fills:
            _trade(row, fills[row.entry_id])
        elif row.entry_id in sold:
            _sale_repayment(row, sold[row.entry_id])
        elif row.entry_id in withdrawals:
            _withdrawal(row, withdrawals[row.entry_id])
        elif row.entry_id in transfers:
            t = transfers[row.entry_id]
            row.category = "transfer_in"
            row.description = _(
                "Shares transferred in from your securities account: %(quantity)s "
                "%(instrument)s (custodian confirmation %(reference)s)"
            ) % {
                "quantity": fmt_shares(t.quantity),
                "instrument": _instrument(t.instrument.ledger_unit, t.instrument.name),
                "reference": t.confirmation_reference,
            }
        elif row.entry_id in deposits:
            b = deposits[row.entry_id]
            row.category = "deposit"
            row.description = _(
                "Deposit from your bank account of record %(account)s, value date %(date)s "
                "(bank line %(line)s)"
            ) % {
                "account": b.payer_account_masked,
                "date": b.value_date.isoformat(),
                "line": b.bank_line_id,
            }
        elif row.entry_id in accruals:
            a = accruals[row.entry_id]
            row.category = "interest"
            row.description = _(
                "Interest for %(date)s on financing of %(principal)s at %(rate)s a year"
            ) % {
                "date": a.business_date.isoformat(),
                "principal": fmt(a.principal),
                "rate": _percent(a.annual_rate),
            }
        elif row.entry_id in penalties:
            p = penalties[row.entry_id]
            row.category = "penalty_interest"
            row.description = _(
                "Penalty interest for %(date)s on overdue financing of %(principal)s at "
                "%(rate)s a year"
            ) % {
                "date": p.business_date.isoformat(),
                "principal": fmt(p.principal),
                "rate": _percent(p.annual_rate),
            }
        elif row.entry_id in entitlements:
            _entitlement(row, *entitlements[row.entry_id])
        elif row.entry_id in defaults:
            row.category = "default_covered"
            row.description = _(
                "Debt left after the liquidation, %(amount)s, taken off the account by the desk "
                "and recorded as a default"
            ) % {"amount": fmt(defaults[row.entry_id].shortfall)}
        elif key.startswith("repay:"):
            row.category = "repayment"
            row.description = _("Repayment from cash: %(split)s") % {"split": _split(row)}
        elif key.startswith("interest-collect:"):
            row.category = "interest_collected"
            row.description = _("Interest collected from cash")
        elif key.startswith("rights-"):
            row.category = "rights"
            row.description = {
                "rights-subscribe": _("Rights shares subscribed and paid from cash"),
                "rights-cancel": _("Rights subscription cancelled: the money comes back"),
                "rights-settle": _("Rights issue settled by the custodian"),
            }.get(key.split(":", 1)[0], _("Rights issue"))
        elif entry.reversal_of_id:
            row.category = "reversal"
            row.description = _("Correction: reversal of entry %(entry)s") % {
                "entry": entry.reversal_of_id
            }
        elif entry.kind == EntryKind.DEPOSIT:
            row.category = "deposit"
            row.description = _("Deposit from your bank account of record")
        elif entry.kind == EntryKind.WITHDRAWAL:
            row.category = "withdrawal"
            row.description = _("Cash withdrawal to your bank account of record")
        elif entry.kind == EntryKind.INTEREST:
            row.category = "interest"
            row.description = _("Interest")
        else:
            row.category = "other"
            row.description = str(EntryKind(entry.kind).label) if entry.kind else _("Other")


def _instrument(unit: str, name: str) -> str:
    return f"{unit} {name}".strip()


def _percent(rate: Decimal) -> str:
    return f"{(rate * 100).quantize(CENT)}%"


def _split(row: HistoryRow) -> str:
    """What a repayment paid: interest and principal, from its own movements."""
    interest = -(row.movement("interest").amount if row.movement("interest") else ZERO)
    principal = -(row.movement("financing").amount if row.movement("financing") else ZERO)
    return _("interest %(interest)s, principal %(principal)s") % {
        "interest": fmt(interest),
        "principal": fmt(principal),
    }


def _trade_detail(fill: Fill) -> TradeDetail:
    order = fill.order
    try:
        plan_id = order.liquidation_order.line.plan_id
    except ObjectDoesNotExist:  # no liquidation order: an ordinary trade
        plan_id = None
    return TradeDetail(
        exec_id=fill.exec_id,
        client_order_id=order.client_order_id,
        side=order.side,
        purpose=order.purpose,
        instrument=order.instrument.ledger_unit,
        instrument_name=order.instrument.name,
        quantity=fill.quantity,
        price=fill.price,
        turnover=fill.turnover,
        commission=fill.commission,
        stamp_duty=fill.stamp_duty,
        transfer_fee=fill.transfer_fee,
        executed_at=timezone.localtime(fill.executed_at),
        liquidation_plan_id=plan_id,
    )


def _trade(row: HistoryRow, fill: Fill) -> None:
    trade = _trade_detail(fill)
    row.trade = trade
    row.liquidation_plan_id = trade.liquidation_plan_id
    row.category = _TRADE_CATEGORY.get(trade.purpose, "other")
    what = {
        "buy": _("Bought with own cash: %(quantity)s %(instrument)s at %(price)s"),
        "financed_buy": _("Financed buy: %(quantity)s %(instrument)s at %(price)s"),
        "sale": _("Sold: %(quantity)s %(instrument)s at %(price)s"),
        "sale_to_repay": _("Sold to repay: %(quantity)s %(instrument)s at %(price)s"),
        "liquidation_sale": _(
            "Liquidation sale (plan %(plan)s): %(quantity)s %(instrument)s at %(price)s"
        ),
    }.get(row.category, _("Trade: %(quantity)s %(instrument)s at %(price)s"))
    # the price as the market gave it, never rounded (2 or 3 places)
    done = what % {
        "quantity": fmt_shares(trade.quantity),
        "instrument": _instrument(trade.instrument, trade.instrument_name),
        "price": price_text(trade.price),
        "plan": trade.liquidation_plan_id or "",
    }
    row.description = _("%(trade)s; %(fees)s") % {"trade": done, "fees": _fees(trade)}


def price_text(price: Decimal) -> str:
    """A price with at least 2 places and no trailing zeros beyond them (10.00, 4.975)."""
    text = format(price.normalize(), "f")
    whole, _dot, places = text.partition(".")
    return f"{whole}.{places.ljust(2, '0')}"


def _fees(trade: TradeDetail) -> str:
    return _(
        "fees %(fees)s (commission %(commission)s, stamp duty %(stamp)s, transfer fee %(transfer)s)"
    ) % {
        "fees": fmt(trade.fees),
        "commission": fmt(trade.commission),
        "stamp": fmt(trade.stamp_duty),
        "transfer": fmt(trade.transfer_fee),
    }


def _sale_repayment(row: HistoryRow, fill: Fill) -> None:
    trade = _trade_detail(fill)
    row.liquidation_plan_id = trade.liquidation_plan_id
    if trade.purpose == OrderPurpose.LIQUIDATION:
        row.category = "liquidation_repayment"
        row.description = _(
            "Liquidation proceeds repaid the financing (plan %(plan)s, %(instrument)s): %(split)s"
        ) % {
            "plan": trade.liquidation_plan_id or "",
            "instrument": trade.instrument,
            "split": _split(row),
        }
    else:
        row.category = "sale_repayment"
        row.description = _("Sale proceeds repaid the financing (%(instrument)s): %(split)s") % {
            "instrument": trade.instrument,
            "split": _split(row),
        }


def _withdrawal(row: HistoryRow, w: WithdrawalRequest) -> None:
    if w.instrument_id:
        row.category = "transfer_out"
        row.description = _(
            "Shares transferred out of the credit account: %(quantity)s %(instrument)s"
        ) % {
            "quantity": fmt_shares(w.quantity or ZERO),
            "instrument": _instrument(w.instrument.ledger_unit, w.instrument.name),
        }
    else:
        row.category = "withdrawal"
        row.description = _("Cash withdrawal to your bank account of record")


def _entitlement(row: HistoryRow, when: str, ent: CorporateActionEntitlement) -> None:
    action = ent.corporate_action
    instrument = _instrument(action.instrument.ledger_unit, action.instrument.name)
    row.category = "corporate_action"
    if action.kind == CorporateActionKind.CASH_DIVIDEND:
        if when == "ex":
            row.description = _(
                "Cash dividend of %(instrument)s on %(quantity)s shares, %(per_share)s a share: "
                "receivable from the ex-date %(date)s"
            ) % {
                "instrument": instrument,
                "quantity": fmt_shares(ent.quantity_held),
                "per_share": price_text(action.cash_per_share or ZERO),
                "date": action.ex_date.isoformat(),
            }
        else:
            row.description = _("Cash dividend of %(instrument)s paid into your cash") % {
                "instrument": instrument
            }
        return
    row.description = _(
        "%(action)s of %(instrument)s: %(shares)s new shares (ex-date %(date)s)"
    ) % {
        "action": action.get_kind_display(),
        "instrument": instrument,
        "shares": fmt_shares(ent.new_shares),
        "date": action.ex_date.isoformat(),
    }
    if action.kind == CorporateActionKind.RIGHTS:
        row.category = "rights"
        row.description = _(
            "Rights issue of %(instrument)s: %(shares)s rights shares you may subscribe "
            "(ex-date %(date)s)"
        ) % {
            "instrument": instrument,
            "shares": fmt_shares(ent.rights_quantity),
            "date": action.ex_date.isoformat(),
        }


# --- the CSV ---------------------------------------------------------------------------------

#: The CSV's columns, one line per entry and ledger account it moved (docs/investor-history.md).
CSV_COLUMNS = (
    "entry_id",
    "business_date",
    "booked_at",
    "category",
    "description",
    "account",
    "unit",
    "amount",
    "balance",
    "instrument",
    "quantity",
    "price",
    "turnover",
    "commission",
    "stamp_duty",
    "transfer_fee",
    "order",
    "liquidation_plan",
)


def amount_text(value: Decimal, *, money: bool = True) -> str:
    """The ledger's amount as plain text, exact: money with at least 2 places (1234.50),
    shares without trailing zeros (300)."""
    if money and value == value.quantize(CENT):
        return format(value.quantize(CENT), "f")
    text = format(value.normalize(), "f")
    return "0" if text in ("-0", "") else text


def _cell(text: str) -> str:
    """A text cell a spreadsheet will not run as a formula."""
    if text and text[0] in "=+-@\t\r":
        return "'" + text
    return text


def csv_lines(rows: list[HistoryRow]):
    """The CSV's lines (lists of cells), the header first."""
    yield list(CSV_COLUMNS)
    for row in rows:
        t = row.trade
        for m in row.movements:
            yield [
                str(row.entry_id),
                row.business_date.isoformat(),
                row.booked_at.isoformat(timespec="seconds"),
                row.category,
                _cell(row.description),
                m.account,
                m.unit,
                amount_text(m.amount, money=m.is_money),
                amount_text(m.balance, money=m.is_money),
                t.instrument if t else "",
                amount_text(t.quantity, money=False) if t else "",
                price_text(t.price) if t else "",
                amount_text(t.turnover) if t else "",
                amount_text(t.commission) if t else "",
                amount_text(t.stamp_duty) if t else "",
                amount_text(t.transfer_fee) if t else "",
                t.client_order_id if t else "",
                str(row.liquidation_plan_id or ""),
            ]


# --- where money comes in ---------------------------------------------------------------------


@dataclass(frozen=True)
class DepositInstructions:
    """What the investor needs to pay money in: the desk's receiving account (the client money
    omnibus bank account, custody's `client_bank` ledger account and the account number its
    bank statements quote) and the reference the bank-credit matcher reads (the credit account
    number, lending.financing.bank_credits)."""

    currency: str
    account_number: str  # "" when treasury has not mapped the account yet
    bank_name: str  # settings.DESK_CLIENT_BANK_NAME, "" when not configured
    account_name: str  # the desk: the account is in its name, held for its clients
    reference: str  # the credit account number; "" without an open credit account


def deposit_instructions(credit_account: CreditAccount | None, *, currency: str = "CNY"):
    from django.conf import settings

    bank = LedgerAccount.objects.filter(
        purpose="client_bank", owner=Owner.HOUSE, unit=currency
    ).first()
    open_account = credit_account is not None and credit_account.status == "open"
    return DepositInstructions(
        currency=currency,
        account_number=bank.external_ref if bank else "",
        bank_name=settings.DESK_CLIENT_BANK_NAME,
        account_name=settings.DESK_NAME,
        reference=credit_account.account_number if open_account else "",
    )
