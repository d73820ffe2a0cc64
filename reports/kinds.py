"""The registry of filing kinds.

A kind is a builder `build(as_of) -> dict` plus an HTML template (and optionally a `charts`
function that turns the snapshot into inline SVG at render time). The builder reads only
selectors, only what was true at `as_of`, and returns Decimals, ints, strings, dates and
lists/dicts: no floats, no "generated at", nothing random, so the same as-of time always
gives the same data hash (reports/canonical.py).

Adding a kind: write `build_<kind>(as_of)` below (and `charts_<kind>` if it has charts),
write templates/reports/pdf/<kind>.html extending reports/pdf/base.html, and give the
registration below its `build=` (pending kinds have build=None and say what they wait for).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.utils import timezone
from django.utils.functional import Promise
from django.utils.translation import gettext as _g
from django.utils.translation import gettext_lazy as _

from accounts.errors import RuleViolation, ValidationFailed
from lending.domain import margin

from . import selectors, svg

Snapshot = dict
SCHEMA = 1


@dataclass(frozen=True)
class FilingKind:
    code: str
    title: Promise
    template: str
    build: Callable[[datetime], Snapshot] | None = None
    charts: Callable[[Snapshot], dict[str, str]] | None = None
    daily: bool = False
    schema: int = SCHEMA
    pending: Promise | str = ""

    @property
    def available(self) -> bool:
        return self.build is not None


KINDS: dict[str, FilingKind] = {}


def register(kind: FilingKind) -> FilingKind:
    if kind.code in KINDS:
        raise ValueError(f"filing kind {kind.code!r} registered twice")
    KINDS[kind.code] = kind
    return kind


def kind_get(code: str, *, available: bool = True) -> FilingKind:
    kind = KINDS.get(code)
    if kind is None:
        raise ValidationFailed(
            f"kind: unknown filing kind {code!r} (known: {', '.join(sorted(KINDS))})",
            extra={"field": "kind"},
        )
    if available and not kind.available:
        raise RuleViolation(
            f"kind: {code} cannot be generated yet: {kind.pending}",
            code="filing_kind_pending",
            extra={"field": "kind", "pending": str(kind.pending)},
        )
    return kind


def kinds_all() -> list[FilingKind]:
    return list(KINDS.values())


# --- investor register (accounts) ----------------------------------------------------------


def build_investor_register(as_of: datetime) -> Snapshot:
    from accounts.models import IdentityType, InvestorCategory, InvestorType

    investors = selectors.investors_as_of(as_of)
    by_type = Counter(p.investor_type for p in investors)
    by_category = Counter(p.category for p in investors)
    by_id_type = Counter(p.id_type for p in investors)
    by_month = Counter(timezone.localtime(p.created_at).strftime("%Y-%m") for p in investors)
    return {
        "totals": {"investors": len(investors)},
        "by_type": [{"code": c, "count": by_type[c]} for c in InvestorType.values],
        "by_category": [{"code": c, "count": by_category[c]} for c in InvestorCategory.values],
        "by_id_type": [{"code": c, "count": by_id_type[c]} for c in IdentityType.values],
        "onboarded_by_month": [{"month": m, "count": by_month[m]} for m in sorted(by_month)],
        "investors": [
            {
                "number": p.pk,
                "investor_type": p.investor_type,
                "category": p.category,
                "id_type": p.id_type,
                "id_number_masked": p.id_number_masked,
                "onboarded_on": timezone.localtime(p.created_at).date(),
            }
            for p in investors
        ],
    }


def charts_investor_register(snapshot: Snapshot) -> dict[str, str]:
    months = snapshot["data"]["onboarded_by_month"][-24:]
    return {
        "onboarding": svg.bar_chart(
            [(m["month"], m["count"]) for m in months], title=_g("Investors onboarded per month")
        )
    }


# --- segregation (custody ledger) ----------------------------------------------------------

CLIENT_CASH_EDGES = [
    Decimal(0),
    Decimal(10_000),
    Decimal(100_000),
    Decimal(1_000_000),
    Decimal(10_000_000),
]


def _purpose(purpose_key: str) -> str:
    # custody purpose keys: "house:<purpose>[:suffix]:<unit>" or "client:<id>:<purpose>...".
    parts = purpose_key.split(":")
    return parts[2] if parts[0] == "client" else parts[1]


def build_segregation(as_of: datetime) -> Snapshot:
    from custody import money
    from custody import selectors as custody

    trial = custody.trial_balance(as_of=as_of)
    currencies: dict[str, dict] = {}
    for row in trial.rows:
        if not money.is_currency(row.unit):
            continue
        purpose = _purpose(row.purpose_key)
        entry = currencies.setdefault(
            row.unit,
            {
                "client_money_owed": money.ZERO,
                "client_bank": money.ZERO,
                "reserve_bank": money.ZERO,
                "client_balances": [],
            },
        )
        if purpose == "client_money":
            owed = row.credit - row.debit
            entry["client_money_owed"] += owed
            entry["client_balances"].append(owed)
        elif purpose in ("client_bank", "reserve_bank"):
            entry[purpose] += row.debit - row.credit
    result = []
    for currency in sorted(currencies):
        entry = currencies[currency]
        segregated = entry["client_bank"] + entry["reserve_bank"]
        balances = sorted(entry["client_balances"])
        result.append(
            {
                "currency": currency,
                "client_money_owed": entry["client_money_owed"],
                "client_accounts": len(balances),
                "client_bank": entry["client_bank"],
                "reserve_bank": entry["reserve_bank"],
                "segregated_funds": segregated,
                "segregated_minus_owed": segregated - entry["client_money_owed"],
                "client_balances": balances,
                "trial_balance": {
                    "debit": trial.totals.get(currency, {}).get("debit", money.ZERO),
                    "credit": trial.totals.get(currency, {}).get("credit", money.ZERO),
                },
            }
        )
    return {
        "currencies": result,
        "ledger_balanced": trial.balanced,
        "client_money_requirements": _requirements(as_of),
        **_reconciliations(as_of),
    }


def _requirements(as_of: datetime) -> list[dict]:
    """The latest client-money requirement (15c3-3 model) per currency computed by as_of."""
    from custody.models import ClientMoneyRequirement

    latest: dict[str, object] = {}
    for row in selectors.history_as_of(ClientMoneyRequirement, as_of):
        if row.as_of > as_of:
            continue
        best = latest.get(row.currency)
        if best is None or (row.as_of, row.id) > (best.as_of, best.id):
            latest[row.currency] = row
    return [
        {
            "currency": c,
            "business_date": r.business_date,
            "computed_as_of": r.as_of,
            "credits": r.credits,
            "debits": r.debits,
            "requirement": r.requirement,
            "segregated_funds": r.segregated_funds,
            "excess": r.segregated_funds - r.requirement,
        }
        for c, r in sorted(latest.items())
    ]


def _reconciliations(as_of: datetime) -> dict:
    """Reconciliations of the latest business date run by as_of (status as it stood then) and
    every break still open at as_of."""
    from custody.models import Reconciliation, ReconciliationBreak

    recs = [r for r in selectors.history_as_of(Reconciliation, as_of) if r.run_at <= as_of]
    by_id = {r.id: r for r in recs}
    last_date = max((r.business_date for r in recs), default=None)
    breaks = [
        b
        for b in selectors.history_as_of(ReconciliationBreak, as_of)
        if b.reconciliation_id in by_id
    ]
    open_breaks = sorted((b for b in breaks if b.status == "open"), key=lambda b: b.id)
    return {
        "reconciliation_date": last_date,
        "reconciliations": [
            {
                "number": r.id,
                "kind": r.kind,
                "unit": r.unit,
                "status": r.status,
                "breaks": sum(1 for b in breaks if b.reconciliation_id == r.id),
            }
            for r in sorted(recs, key=lambda r: (r.kind, r.unit, r.id))
            if r.business_date == last_date
        ],
        "open_breaks": [
            {
                "number": b.id,
                "reconciliation": b.reconciliation_id,
                "kind": by_id[b.reconciliation_id].kind,
                "business_date": by_id[b.reconciliation_id].business_date,
                "unit": b.unit,
                "expected": b.expected,
                "actual": b.actual,
                "difference": b.difference,
                "due_at": b.due_at,
                "overdue": b.due_at < as_of,
            }
            for b in open_breaks
        ],
    }


def charts_segregation(snapshot: Snapshot) -> dict[str, str]:
    charts = {}
    for entry in snapshot["data"]["currencies"]:
        values = [Decimal(v) for v in entry["client_balances"]]
        charts[entry["currency"]] = svg.histogram(
            values,
            CLIENT_CASH_EDGES,
            title=_g("Client money balances (%(currency)s)") % {"currency": entry["currency"]},
        )
    return charts


# --- lending book (daily business, concentration, KPI) ------------------------------------

CENT = Decimal("0.01")
RATIO_Q = Decimal("0.0001")
#: Maintenance-ratio bins (percent): below 100, the call/warning/target band, up to 300+.
RATIO_EDGES_PCT = [0, 100, 130, 140, 150, 200, 300]
#: Leverage (total assets / own equity) bins.
LEVERAGE_EDGES = [Decimal(1), Decimal("1.25"), Decimal("1.5"), Decimal(2), Decimal(3)]
BOOK_NOTE = "financed_split_not_used"


def _money(value) -> Decimal:
    return Decimal(value).quantize(CENT)


def _ratio(value: Decimal | None) -> Decimal | None:
    return None if value is None else value.quantize(RATIO_Q)


def _bins(values: list[Decimal], edges: list) -> list[dict]:
    counts = svg.histogram_counts(values, edges) if edges else []
    return [
        {
            "from": Decimal(edges[i]),
            "to": Decimal(edges[i + 1]) if i + 2 < len(edges) else None,
            "count": c,
        }
        for i, c in enumerate(counts)
    ]


def build_daily_business(as_of: datetime) -> Snapshot:
    book = selectors.book_as_of(as_of)
    with_debt = [a for a in book if a.liabilities != 0]
    ratios = [a.ratio for a in with_debt]  # computed once per account
    total_assets = sum((a.total_assets for a in book), Decimal(0))
    liabilities = sum((a.liabilities for a in with_debt), Decimal(0))
    under = {
        line: sum(1 for a, r in zip(with_debt, ratios, strict=True) if r < getattr(a, line))
        for line in ("warning", "call", "target", "withdrawal")
    }
    day_start = selectors.local_day_start(as_of)
    calls = selectors.calls_issued_between(day_start, as_of)
    liquidations = selectors.liquidation_fills_between(day_start, as_of)
    return {
        "business_day": timezone.localtime(as_of).date(),
        "shorts": _short_side(book, as_of),
        "totals": {
            "credit_accounts": len(book),
            "accounts_with_debt": len(with_debt),
            "financing_balance": _money(sum((a.debt for a in book), Decimal(0))),
            "interest_receivable": _money(sum((a.interest for a in book), Decimal(0))),
            "cash": _money(sum((a.cash for a in book), Decimal(0))),
            "securities_market_value": _money(sum((a.market_value for a in book), Decimal(0))),
            "collateral_value": _money(sum((a.collateral_value for a in book), Decimal(0))),
            "total_assets": _money(total_assets),
        },
        "ratios": {
            "average": _ratio(sum(ratios, Decimal(0)) / len(ratios)) if ratios else None,
            "aggregate": _ratio(
                margin.ratio_of(sum((a.total_assets for a in with_debt), Decimal(0)), liabilities)
            ),
            "minimum": _ratio(min(ratios)) if ratios else None,
            "distribution": _bins([r * 100 for r in ratios], RATIO_EDGES_PCT),
        },
        "under_lines": under,
        "calls": {
            "count": len(calls),
            "amount_to_cure": _money(sum((c.amount_to_cure for c in calls), Decimal(0))),
            "rows": [
                {
                    "account_number": c.credit_account.account_number,
                    "issued_at": c.issued_at,
                    "ratio_at_issue": _ratio(c.ratio_at_issue),
                    "amount_to_cure": c.amount_to_cure,
                    "deadline": c.deadline,
                }
                for c in calls
            ],
        },
        "liquidations": {
            "count": len(liquidations),
            "proceeds": _money(sum((x["proceeds"] for x in liquidations), Decimal(0))),
            "buy_back_cost": _money(sum((x["buy_back_cost"] for x in liquidations), Decimal(0))),
            "debt_repaid": _money(
                sum(
                    (x["principal_repaid"] + x["interest_repaid"] for x in liquidations), Decimal(0)
                )
            ),
            "rows": liquidations,
        },
    }


def _short_side(book: list, as_of: datetime) -> dict:
    """The short side of the daily business filing (融券): per security the shares sold short
    on the day, returned on the day (buy to cover, buy-in, direct return) and outstanding at
    the as-of time, with the short balance (shares owed at the last price); the totals with
    the accounts owing shares, their restricted proceeds and the lending fees they owe."""
    names = selectors.instrument_names()
    rows = selectors.short_securities_as_of(as_of)
    return {
        "totals": {
            "accounts_with_shorts": sum(1 for a in book if a.has_shorts),
            "short_balance": _money(sum((r["market_value"] for r in rows), Decimal(0))),
            "sold": sum((r["sold"] for r in rows), Decimal(0)),
            "returned": sum((r["returned"] for r in rows), Decimal(0)),
            "outstanding": sum((r["outstanding"] for r in rows), Decimal(0)),
            "restricted_proceeds": _money(sum((a.short_proceeds for a in book), Decimal(0))),
            "lending_fees_owed": _money(sum((a.lending_fees_owed for a in book), Decimal(0))),
        },
        "securities": [
            {
                "instrument": r["instrument"],
                "name": names.get(r["instrument"], ""),
                "sold": r["sold"],
                "returned": r["returned"],
                "outstanding": r["outstanding"],
                "price": r["price"],
                "short_balance": _money(r["market_value"]),
                "accounts": r["accounts"],
            }
            for r in rows
        ],
    }


def _ratio_chart(rows: list[dict], title: str) -> str:
    items = []
    for row in rows:
        lo = f"{Decimal(row['from']):,f}"
        label = f"≥ {lo}%" if row["to"] is None else f"{lo}% – {Decimal(row['to']):,f}%"
        items.append((label, row["count"]))
    return svg.bar_chart(items, title=title)


def charts_daily_business(snapshot: Snapshot) -> dict[str, str]:
    return {
        "ratios": _ratio_chart(
            snapshot["data"]["ratios"]["distribution"],
            _g("Accounts with debt by maintenance ratio"),
        )
    }


TOP_N = 10


def build_concentration(as_of: datetime) -> Snapshot:
    book = selectors.book_as_of(as_of)
    names = selectors.instrument_names()
    total_debt = sum((a.debt for a in book), Decimal(0))
    clients = sorted((a for a in book if a.debt > 0), key=lambda a: (-a.debt, a.credit_account_id))
    securities = selectors.securities_as_of(as_of)
    total_financed = sum((s["financed"] for s in securities), Decimal(0))
    total_collateral = sum((s["collateral_value"] for s in securities), Decimal(0))

    def share(part: Decimal, whole: Decimal) -> Decimal | None:
        return (part / whole).quantize(RATIO_Q) if whole else None

    by_financing = sorted(
        (s for s in securities if s["financed"] > 0),
        key=lambda s: (-s["financed"], s["instrument"]),
    )
    by_collateral = sorted(
        (s for s in securities if s["collateral_value"] > 0),
        key=lambda s: (-s["collateral_value"], s["instrument"]),
    )
    return {
        "totals": {
            "financing_balance": _money(total_debt),
            "clients_with_financing": len(clients),
            "financing_by_securities": _money(total_financed),
            "collateral_value": _money(total_collateral),
        },
        "top_clients": [
            {
                "rank": n,
                "account_number": a.account_number,
                "investor_number": a.investor_id,
                "financing": _money(a.debt),
                "share": share(a.debt, total_debt),
                "ratio": _ratio(a.ratio),
            }
            for n, a in enumerate(clients[:TOP_N], 1)
        ],
        "top_securities_financing": [
            {
                "rank": n,
                "instrument": s["instrument"],
                "name": names.get(s["instrument"], ""),
                "financed": _money(s["financed"]),
                "share": share(s["financed"], total_financed),
            }
            for n, s in enumerate(by_financing[:TOP_N], 1)
        ],
        "top_securities_collateral": [
            {
                "rank": n,
                "instrument": s["instrument"],
                "name": names.get(s["instrument"], ""),
                "quantity": s["quantity"],
                "price": s["price"],
                "haircut": s["haircut"],
                "market_value": _money(s["market_value"]),
                "collateral_value": _money(s["collateral_value"]),
                "share": share(s["collateral_value"], total_collateral),
            }
            for n, s in enumerate(by_collateral[:TOP_N], 1)
        ],
    }


def charts_concentration(snapshot: Snapshot) -> dict[str, str]:
    data = snapshot["data"]
    return {
        "clients": svg.bar_chart(
            [(r["account_number"], Decimal(r["financing"])) for r in data["top_clients"]],
            title=_g("Top clients by financing (CNY)"),
        ),
        "securities": svg.bar_chart(
            [(r["instrument"], Decimal(r["financed"])) for r in data["top_securities_financing"]],
            title=_g("Top securities by financing (CNY)"),
        ),
    }


# --- defaults and forced liquidations -------------------------------------------------------


def _days(delta) -> Decimal:
    return (Decimal(delta.total_seconds()) / Decimal(86400)).quantize(CENT)


def _defaults(as_of: datetime) -> list:
    from lending.models import DefaultRecord

    return sorted(
        selectors.history_as_of(DefaultRecord, as_of), key=lambda d: (d.occurred_at, d.id)
    )


def build_defaults_liquidations(as_of: datetime) -> Snapshot:
    from lending.models import CreditAccount, LiquidationPlan

    defaults = _defaults(as_of)
    numbers = dict(
        CreditAccount.objects.filter(pk__in=[d.credit_account_id for d in defaults]).values_list(
            "pk", "account_number"
        )
    )
    plans = [p for p in selectors.history_as_of(LiquidationPlan, as_of) if p.approved_by_id]
    executed = [p for p in plans if p.status == "executed"]
    fills = selectors.liquidation_fills_between(None, as_of)
    recovered = [d for d in defaults if d.recovered_at is not None]
    recovery_days = [_days(d.recovered_at - d.occurred_at) for d in recovered]
    shortfall = sum((d.shortfall for d in defaults), Decimal(0))
    recovered_amount = sum((d.recovered_amount for d in defaults), Decimal(0))
    return {
        "totals": {
            "defaults": len(defaults),
            "shortfall": _money(shortfall),
            "recovered": _money(recovered_amount),
            "unrecovered": _money(shortfall - recovered_amount),
            "defaults_recovered": len(recovered),
            "average_recovery_days": (
                (sum(recovery_days, Decimal(0)) / len(recovery_days)).quantize(CENT)
                if recovery_days
                else None
            ),
            "plans_approved": len(plans),
            "plans_executed": len(executed),
            "liquidations_with_fills": len(fills),
            "liquidation_proceeds": _money(sum((f["proceeds"] for f in fills), Decimal(0))),
            "debt_repaid": _money(
                sum((f["principal_repaid"] + f["interest_repaid"] for f in fills), Decimal(0))
            ),
        },
        "defaults": [
            {
                "account_number": numbers.get(d.credit_account_id, ""),
                "occurred_at": d.occurred_at,
                "shortfall": d.shortfall,
                "covered_by_reserve": d.reserve_entry_id is not None,
                "recovered_amount": d.recovered_amount,
                "recovered_at": d.recovered_at,
                "recovery_days": _days(d.recovered_at - d.occurred_at) if d.recovered_at else None,
            }
            for d in defaults
        ],
        "liquidations": fills,
    }


# --- KPIs -----------------------------------------------------------------------------------


def build_kpi(as_of: datetime) -> Snapshot:
    from datetime import timedelta

    from lending.models import LiquidationPlan

    book = selectors.book_as_of(as_of)
    defaults = _defaults(as_of)
    defaulted_accounts = {d.credit_account_id for d in defaults}
    executed = [
        p for p in selectors.history_as_of(LiquidationPlan, as_of) if p.status == "executed"
    ]
    recovery = [_days(d.recovered_at - d.occurred_at) for d in defaults if d.recovered_at]
    leverage = []
    not_positive = 0
    for a in book:
        if a.liabilities == 0:
            continue
        equity = a.total_assets - a.liabilities
        if equity <= 0:
            not_positive += 1
        else:
            leverage.append(a.total_assets / equity)
    today = timezone.localtime(as_of).date()
    since = (today.replace(day=1) - timedelta(days=335)).replace(day=1)  # 12 months
    daily = selectors.interest_income_by_day(as_of, since)
    by_month: dict[str, Decimal] = {}
    for day, unit, amount in daily:
        if unit == "CNY":
            key = day.strftime("%Y-%m")
            by_month[key] = by_month.get(key, Decimal(0)) + amount
    last_days = [
        {"day": day, "income": _money(amount)}
        for day, unit, amount in daily
        if unit == "CNY" and day > today - timedelta(days=31)
    ]
    months = [{"month": m, "income": _money(by_month[m])} for m in sorted(by_month)]
    amounts = [Decimal(r["income"]) for r in last_days]
    mean = sum(amounts, Decimal(0)) / len(amounts) if amounts else None
    spread = None
    if amounts and mean:
        var = sum(((x - mean) ** 2 for x in amounts), Decimal(0)) / len(amounts)
        spread = (var.sqrt() / mean).quantize(RATIO_Q)
    fee_income = sum(
        (
            amount
            for _day, unit, amount in selectors.income_by_day(
                "lending_fee_income", as_of, today.replace(day=1)
            )
            if unit == "CNY"
        ),
        Decimal(0),
    )
    inventory = selectors.lending_inventory_as_of(as_of)
    return {
        "totals": {
            "credit_accounts": len(book),
            "accounts_with_debt": sum(1 for a in book if a.liabilities != 0),
            "defaulted_accounts": len(defaulted_accounts),
            "default_rate": (
                (Decimal(len(defaulted_accounts)) / len(book)).quantize(RATIO_Q) if book else None
            ),
            "forced_liquidations": len(executed),
            "average_recovery_days": (
                (sum(recovery, Decimal(0)) / len(recovery)).quantize(CENT) if recovery else None
            ),
            "average_leverage": (
                (sum(leverage, Decimal(0)) / len(leverage)).quantize(RATIO_Q) if leverage else None
            ),
            "accounts_without_equity": not_positive,
        },
        "shorts": {
            "short_balance": _money(sum((a.short_market_value for a in book), Decimal(0))),
            "accounts_with_shorts": sum(1 for a in book if a.has_shorts),
            "restricted_proceeds": _money(sum((a.short_proceeds for a in book), Decimal(0))),
            "lending_fee_income_month_to_date": _money(fee_income),
            "inventory_quantity": inventory["quantity"],
            "inventory_lent": inventory["lent"],
            "inventory_utilisation": (
                (inventory["lent"] / inventory["quantity"]).quantize(RATIO_Q)
                if inventory["quantity"]
                else None
            ),
        },
        "leverage_distribution": _bins(leverage, LEVERAGE_EDGES),
        "revenue": {
            "daily": last_days,
            "monthly": months,
            "daily_mean": mean.quantize(CENT) if mean is not None else None,
            "daily_coefficient_of_variation": spread,
        },
    }


def charts_kpi(snapshot: Snapshot) -> dict[str, str]:
    data = snapshot["data"]
    items = []
    for row in data["leverage_distribution"]:
        lo = f"{Decimal(row['from']):f}"
        items.append(
            (f"≥ {lo}" if row["to"] is None else f"{lo} – {Decimal(row['to']):f}", row["count"])
        )
    return {
        "leverage": svg.bar_chart(items, title=_g("Accounts with debt by leverage")),
        "revenue": svg.bar_chart(
            [(r["month"], Decimal(r["income"])) for r in data["revenue"]["monthly"]],
            title=_g("Interest income per month (CNY)"),
        ),
    }


# --- reserves -------------------------------------------------------------------------------


def build_reserves(as_of: datetime) -> Snapshot:
    from custody import money
    from custody import selectors as custody
    from custody.models import CreditFacility, LedgerAccount, ReserveTarget
    from lending.models import RiskRun

    day = timezone.localtime(as_of).date()
    currencies = []
    reserve_accounts = LedgerAccount.objects.filter(purpose="reserve_fund", investor=None)
    targets = {t.currency: t for t in selectors.history_as_of(ReserveTarget, as_of)}
    units = sorted({a.unit for a in reserve_accounts} | set(targets))
    for unit in units:
        balance = sum(
            (
                custody.account_balance(account=a, as_of=as_of)
                for a in reserve_accounts
                if a.unit == unit
            ),
            money.ZERO,
        )
        target = targets.get(unit)
        currencies.append(
            {
                "currency": unit,
                "reserve": balance,
                "target": target.target if target else None,
                "target_as_of": target.as_of if target else None,
                "target_source": target.source if target else "",
                "coverage": (balance / target.target).quantize(RATIO_Q)
                if target and target.target
                else None,
                "excess": balance - target.target if target else None,
            }
        )
    facilities = []
    for f in sorted(selectors.history_as_of(CreditFacility, as_of), key=lambda f: f.id):
        drawn = money.ZERO
        if f.account_id:
            account = LedgerAccount.objects.get(pk=f.account_id)
            drawn = custody.account_balance(account=account, as_of=as_of)
        usable = f.status == "active" and f.start_date <= day < f.expiry_date
        facilities.append(
            {
                "bank": f.bank,
                "currency": f.currency,
                "limit": f.limit,
                "drawn": drawn,
                "available": f.limit - drawn if usable else money.ZERO,
                "start_date": f.start_date,
                "expiry_date": f.expiry_date,
                "status": f.status,
                "usable": usable,
            }
        )
    run = (
        RiskRun.objects.filter(kind="stress", status="succeeded", finished_at__lte=as_of)
        .order_by("-finished_at", "-pk")
        .first()
    )
    stress = None
    if run is not None:
        scenarios = run.results.get("scenarios", []) if isinstance(run.results, dict) else []
        stress = {
            "run": run.pk,
            "finished_at": run.finished_at,
            "currency": run.currency,
            "accounts_valued": run.accounts_valued,
            "stressed_loss": run.stressed_loss,
            "total_shortfall": run.total_shortfall,
            "reserve_target": run.reserve_target,
            "reserve_balance": run.reserve_balance,
            "reserve_adequacy": run.reserve_adequacy,
            "scenarios": [
                {
                    "name": str(s.get("name", "")),
                    "total_shortfall": Decimal(str(s.get("total_shortfall", "0"))),
                    "wiped_out": int(s.get("wiped_out", 0)),
                }
                for s in scenarios
                if isinstance(s, dict)
            ],
        }
    return {"currencies": currencies, "facilities": facilities, "stress": stress}


# --- the registry --------------------------------------------------------------------------

register(
    FilingKind(
        code="daily_business",
        title=_("Daily business report"),
        template="reports/pdf/daily_business.html",
        daily=True,
        build=build_daily_business,
        charts=charts_daily_business,
        schema=2,
    )
)
register(
    FilingKind(
        code="concentration",
        title=_("Concentration report"),
        template="reports/pdf/concentration.html",
        daily=True,
        build=build_concentration,
        charts=charts_concentration,
    )
)
register(
    FilingKind(
        code="defaults_liquidations",
        title=_("Defaults and forced liquidations"),
        template="reports/pdf/defaults_liquidations.html",
        build=build_defaults_liquidations,
    )
)
register(
    FilingKind(
        code="segregation",
        title=_("Segregation and reconciliation"),
        template="reports/pdf/segregation.html",
        build=build_segregation,
        charts=charts_segregation,
        daily=True,
        schema=2,
    )
)
register(
    FilingKind(
        code="reserves",
        title=_("Reserves, facilities and stress results"),
        template="reports/pdf/reserves.html",
        build=build_reserves,
    )
)
register(
    FilingKind(
        code="kpi",
        title=_("KPI report"),
        template="reports/pdf/kpi.html",
        build=build_kpi,
        charts=charts_kpi,
        schema=2,
    )
)
register(
    FilingKind(
        code="investor_register",
        title=_("Investor register"),
        template="reports/pdf/investor_register.html",
        build=build_investor_register,
        charts=charts_investor_register,
        daily=True,
    )
)
