"""Risk analytics runs: stress tests, historical replay, Monte Carlo VaR / expected shortfall,
probability of ruin, account performance, and the reserve target they size (docs/risk.md).

The arithmetic is lending.domain.analytics (pure, tested there); this module loads the whole book as
arrays, chooses the parameters, stores a run's results and the reserve target it proposes;
`risk_run_target_adopt` makes that the desk's target (custody) when a second person adopts it.
Flow: `risk_run_start` (risk role; records who, when, why and the full parameter set
with the seed) creates a pending `RiskRun` and enqueues the Celery task on commit;
`risk_run_execute` (the task, or a test, calls it with the run id) re-checks the status under a
row lock, computes outside any transaction, then stores the results and the proposed reserve
target in one transaction. A finished run is never recomputed; a run left "running" by a worker
that died is taken over after `STALE_AFTER`.

The book holds the short side (lending.mtm.book_arrays: shares owed as rows of negative
quantity with their sale amounts, the restricted proceeds, the lending fees owed, each
account's short margin ratio): a scenario moves a short row's price as a long one's, so a
rising market raises the short liabilities, lowers those accounts' ratios and can leave a
shortfall (a buy-back at price x (1 + liquidity discount)); the default scenarios include a
rising market (+20%) for that reason.

Sectors are the instrument categories (lending.models.InstrumentCategory): a sector shock or a
sector factor applies to every instrument of that category.

Reserve policy (DOMAIN.md "Custody and money"): target = w_e * expected loss + w_s * stressed
loss. The stressed loss is the worst desk shortfall of a stress run (over its scenarios and the
historical replay); the expected loss is the mean desk credit loss of a Monte Carlo run. Each
run supplies its own figure and takes the other from the latest succeeded run of the other
kind (0 if there is none); both run ids are recorded in the results.
"""

from __future__ import annotations

import csv
import logging
import math
import secrets
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from accounts.audit import stamp
from accounts.errors import Conflict, NotFound, RuleViolation, ValidationFailed
from accounts.permissions import require_permission
from accounts.second_factor import require_second_factor
from custody import selectors as custody_selectors
from custody import services as custody_services
from lending.credit import selectors as credit_selectors
from lending.credit.models import CreditAccount
from lending.domain import analytics as an
from lending.domain import margin
from lending.instruments.models import InstrumentCategory
from lending.mtm import book_arrays
from lending.risk.models import RiskRun
from lending.risk.models import RiskRunKind as Kind
from lending.risk.models import RiskRunStatus as Status

log = logging.getLogger(__name__)


RUN_PERM = "lending.run_riskrun"


VIEW_PERM = "lending.view_riskrun"


STALE_AFTER = timedelta(minutes=20)  # beyond the task time limit (15 min)


SHANGHAI = ZoneInfo("Asia/Shanghai")


DATA_DIR = Path(__file__).resolve().parent / "data"


HISTORICAL_PATHS = DATA_DIR / "historical_paths.csv"


#: sector index of a category = its position here
CATEGORIES: tuple[str, ...] = tuple(InstrumentCategory.values)


#: market beta per category (stress replay and Monte Carlo)
DEFAULT_CATEGORY_BETA = {
    "index_constituent": 1.0,
    "other_a_share": 1.2,
    "etf": 1.0,
    "money_market_govt": 0.0,
    "other_fund_bond": 0.3,
}


#: daily vols of the Monte Carlo factor model, per category
DEFAULT_SECTOR_VOL = {
    "index_constituent": 0.006,
    "other_a_share": 0.010,
    "etf": 0.004,
    "money_market_govt": 0.0005,
    "other_fund_bond": 0.003,
}


DEFAULT_IDIO_VOL = {
    "index_constituent": 0.012,
    "other_a_share": 0.020,
    "etf": 0.004,
    "money_market_govt": 0.0005,
    "other_fund_bond": 0.004,
}


#: The default scenarios' names as people read them (a custom scenario keeps the name it was
#: given): scenario_label.
SCENARIO_LABELS = {
    "market -10%": _("Market −10%"),
    "market -20%": _("Market −20%"),
    "market -30%": _("Market −30%"),
    "other A-shares -25%": _("Other A-shares −25%"),
    "haircuts halved": _("Haircuts halved"),
    "market -10%, forced sale 10% below": _("Market −10%, forced sales 10% below the price"),
    "market +20%": _("Market +20%"),
}


def scenario_label(name: str) -> str:
    return str(SCENARIO_LABELS.get(name, name))


DEFAULT_SCENARIOS: list[dict[str, Any]] = [
    {"name": "market -10%", "market_move": -0.10},
    {"name": "market -20%", "market_move": -0.20},
    {"name": "market -30%", "market_move": -0.30},
    {"name": "other A-shares -25%", "sector_moves": {"other_a_share": -0.25}},
    {"name": "haircuts halved", "haircut_shock": 0.5},
    {"name": "market -10%, forced sale 10% below", "market_move": -0.10, "liquidity_discount": 0.1},
    # a rising market hurts the short side (short liabilities at market value)
    {"name": "market +20%", "market_move": 0.20},
]


STRESS_DEFAULTS: dict[str, Any] = {
    "scenarios": DEFAULT_SCENARIOS,
    "history": "crash_2015_style",
    "history_liquidity_discount": 0.0,
    "category_beta": DEFAULT_CATEGORY_BETA,
    "top_n": 50,
    "expected_weight": "1",
    "stressed_weight": "1",
}


MONTE_CARLO_DEFAULTS: dict[str, Any] = {
    "horizon_days": 10,
    "n_paths": 10_000,
    "at_any_day": True,
    "market_vol": 0.013,
    "category_beta": DEFAULT_CATEGORY_BETA,
    "sector_vol": DEFAULT_SECTOR_VOL,
    "idio_vol": DEFAULT_IDIO_VOL,
    "top_n": 50,
    "performance_accounts": 10,
    "performance_days": 20,
    "expected_weight": "1",
    "stressed_weight": "1",
}


LIMITS = {"n_paths": (1, 200_000), "horizon_days": (1, 250), "top_n": (1, 500)}


#: A scenario's price move, as a fraction: from a total loss (-1) to a doubling (+1).
MOVE_LIMITS = (-1.0, 1.0)


LIMITS |= {"performance_accounts": (0, 50), "performance_days": (0, 60)}


#: ratio buckets of the "accounts by ratio after the shock" histogram (upper bounds)
RATIO_BUCKETS = ((1.0, "<100%"), (1.3, "100-130%"), (1.4, "130-140%"), (1.5, "140-150%"),
                 (2.0, "150-200%"), (3.0, "200-300%"), (math.inf, "≥300%"))  # fmt: skip


# =========================================================================== parameters


def _bad(field: str, message: str, **values) -> ValidationFailed:
    """A refusal naming the field: `message` is the translated text, "%(field)s: ..." with
    the other named placeholders in `values`."""
    return ValidationFailed(message % {"field": field, **values}, extra={"field": field})


def _float(value: Any, field: str, *, low: float | None = None, high: float | None = None):
    if isinstance(value, bool):
        raise _bad(field, gettext("%(field)s: must be a number"))
    try:
        number = float(Decimal(str(value)))
    except (InvalidOperation, ValueError, TypeError):
        raise _bad(field, gettext("%(field)s: must be a number")) from None
    if not math.isfinite(number):
        raise _bad(field, gettext("%(field)s: must be a finite number"))
    if low is not None and number < low:
        raise _bad(field, gettext("%(field)s: must be at least %(minimum)s"), minimum=f"{low:g}")
    if high is not None and number > high:
        raise _bad(field, gettext("%(field)s: must be at most %(maximum)s"), maximum=f"{high:g}")
    return number


def _int(value: Any, field: str) -> int:
    low, high = LIMITS[field]
    if isinstance(value, bool):
        raise _bad(field, gettext("%(field)s: must be a whole number"))
    try:
        number = int(str(value))
    except (ValueError, TypeError):
        raise _bad(field, gettext("%(field)s: must be a whole number")) from None
    if not low <= number <= high:
        raise _bad(
            field, gettext("%(field)s: must be between %(low)s and %(high)s"), low=low, high=high
        )
    return number


def _weight(value: Any, field: str) -> str:
    _float(value, field, low=0)
    return str(Decimal(str(value)))


def _per_category(value: Any, default: dict[str, float], field: str, *, low=0.0, high=None):
    if not isinstance(value, dict):
        raise _bad(field, gettext("%(field)s: must map instrument categories to numbers"))
    unknown = set(value) - set(CATEGORIES)
    if unknown:
        raise _bad(
            field,
            gettext("%(field)s: unknown categories %(categories)s"),
            categories=", ".join(sorted(unknown)),
        )
    merged = dict(default)
    for key, number in value.items():
        merged[key] = _float(number, f"{field}.{key}", low=low, high=high)
    return merged


def _scenario(raw: Any, n: int) -> dict[str, Any]:
    field = f"scenarios[{n}]"
    if not isinstance(raw, dict) or not str(raw.get("name", "")).strip():
        raise _bad(field, gettext("%(field)s: each scenario needs a name"))
    sectors = raw.get("sector_moves") or {}
    if not isinstance(sectors, dict) or set(sectors) - set(CATEGORIES):
        raise _bad(
            f"{field}.sector_moves",
            gettext("%(field)s: must map instrument categories to moves"),
        )
    lo, hi = MOVE_LIMITS
    out = {
        "name": str(raw["name"]).strip()[:80],
        "market_move": _float(raw.get("market_move", 0), f"{field}.market_move", low=lo, high=hi),
        "sector_moves": {
            k: _float(v, f"{field}.sector_moves.{k}", low=lo, high=hi) for k, v in sectors.items()
        },
        "haircut_shock": _float(
            raw.get("haircut_shock", 0), f"{field}.haircut_shock", low=0, high=1
        ),
        "liquidity_discount": _float(
            raw.get("liquidity_discount", 0), f"{field}.liquidity_discount", low=0, high=1
        ),
    }
    return out


def historical_path_names() -> list[str]:
    return sorted(_historical_paths())


def _historical_paths() -> dict[str, np.ndarray]:
    """{path name: (T,) daily market returns} from lending/risk/data/historical_paths.csv."""
    paths: dict[str, list[tuple[int, float]]] = {}
    with HISTORICAL_PATHS.open(encoding="utf-8") as handle:
        rows = csv.DictReader(line for line in handle if not line.startswith("#"))
        for row in rows:
            paths.setdefault(row["path"], []).append((int(row["day"]), float(row["market"])))
    return {name: np.array([r for _d, r in sorted(days)]) for name, days in paths.items()}


def parameters_normalize(kind: str, raw: dict[str, Any] | None) -> dict[str, Any]:
    """The full parameter set of a run: defaults filled in, every value checked (raises
    ValidationFailed naming the field). Stored on the run so it can be repeated."""
    raw = dict(raw or {})
    if kind == Kind.STRESS:
        unknown = set(raw) - set(STRESS_DEFAULTS)
        if unknown:
            raise _bad(sorted(unknown)[0], gettext("%(field)s: unknown parameter"))
        p = {**STRESS_DEFAULTS, **raw}
        scenarios = p["scenarios"]
        if not isinstance(scenarios, list) or len(scenarios) > 20:
            raise _bad("scenarios", gettext("scenarios: a list of at most 20 scenarios"))
        history = p["history"] or ""
        if history and history not in _historical_paths():
            raise _bad(
                "history",
                gettext("history: one of %(names)s or empty"),
                names=", ".join(historical_path_names()),
            )
        if not scenarios and not history:
            raise _bad(
                "scenarios", gettext("scenarios: give at least one scenario or a historical path")
            )
        return {
            "scenarios": [_scenario(s, n) for n, s in enumerate(scenarios)],
            "history": history,
            "history_liquidity_discount": _float(
                p["history_liquidity_discount"], "history_liquidity_discount", low=0, high=1
            ),
            "category_beta": _per_category(
                p["category_beta"], DEFAULT_CATEGORY_BETA, "category_beta", low=-5, high=5
            ),
            "top_n": _int(p["top_n"], "top_n"),
            "expected_weight": _weight(p["expected_weight"], "expected_weight"),
            "stressed_weight": _weight(p["stressed_weight"], "stressed_weight"),
        }
    if kind == Kind.MONTE_CARLO:
        unknown = set(raw) - set(MONTE_CARLO_DEFAULTS)
        if unknown:
            raise _bad(sorted(unknown)[0], gettext("%(field)s: unknown parameter"))
        p = {**MONTE_CARLO_DEFAULTS, **raw}
        return {
            "horizon_days": _int(p["horizon_days"], "horizon_days"),
            "n_paths": _int(p["n_paths"], "n_paths"),
            "at_any_day": bool(p["at_any_day"]),
            "market_vol": _float(p["market_vol"], "market_vol", low=0, high=1),
            "category_beta": _per_category(
                p["category_beta"], DEFAULT_CATEGORY_BETA, "category_beta", low=-5, high=5
            ),
            "sector_vol": _per_category(p["sector_vol"], DEFAULT_SECTOR_VOL, "sector_vol", high=1),
            "idio_vol": _per_category(p["idio_vol"], DEFAULT_IDIO_VOL, "idio_vol", high=1),
            "top_n": _int(p["top_n"], "top_n"),
            "performance_accounts": _int(p["performance_accounts"], "performance_accounts"),
            "performance_days": _int(p["performance_days"], "performance_days"),
            "expected_weight": _weight(p["expected_weight"], "expected_weight"),
            "stressed_weight": _weight(p["stressed_weight"], "stressed_weight"),
        }
    raise _bad("kind", gettext("kind: one of %(values)s"), values=", ".join(Kind.values))


# =========================================================================== the book


@dataclass(frozen=True, eq=False)
class Book:
    """The book as the analytics read it: lending.mtm.book_arrays.LoadedBook's arrays, with the
    instrument categories as names (sector index = position in CATEGORIES) and the lines."""

    book: margin.BookArrays
    credit_account_ids: np.ndarray  # (N,)
    investor_ids: np.ndarray  # (N,)
    instrument_ids: np.ndarray  # (I,) instrument pk of each column of book.instrument
    instrument_units: np.ndarray  # (I,) "SSE:600519"
    instrument_category: np.ndarray  # (I,) category value
    warning_line: np.ndarray  # (N,) per-account lines (fractions)
    call_line: np.ndarray
    target_line: np.ndarray
    financing_margin_ratio: np.ndarray  # (N,) per account (its contract's, else in force)
    lines: margin.MarginLines  # the parameter table's, in force on the day of the load
    # (N,) the short margin ratio in force for an account with shorts (a private fund's own),
    # 0 for the others: LoadedBook.short_margin_ratio
    short_margin_ratio: np.ndarray | None = None

    @property
    def sector(self) -> np.ndarray:
        index = {c: n for n, c in enumerate(CATEGORIES)}
        return np.array([index[str(c)] for c in self.instrument_category], dtype=np.int64)


def load_book() -> Book:
    """The whole book at the latest prices (lending.mtm.book_arrays.load_book: every open credit
    account, set-based reads), with each account's active-contract lines, and the lines of the
    parameter table in force today (the analytics' desk-wide lines: stress states, calls of a
    historical replay), read once per run."""
    today = timezone.localdate()
    loaded = book_arrays.load_book(on=today)
    return Book(
        book=loaded.book,
        credit_account_ids=np.asarray(loaded.credit_account_ids, dtype=np.int64),
        investor_ids=np.asarray(loaded.investor_ids, dtype=np.int64),
        instrument_ids=np.asarray(loaded.instrument_ids, dtype=np.int64),
        instrument_units=np.asarray(loaded.instrument_units, dtype=object),
        instrument_category=np.array(
            [book_arrays.CATEGORIES[int(c)] for c in loaded.instrument_category], dtype=object
        ),
        warning_line=np.asarray(loaded.lines.warning, dtype=np.float64),
        call_line=np.asarray(loaded.lines.call, dtype=np.float64),
        target_line=np.asarray(loaded.lines.target, dtype=np.float64),
        financing_margin_ratio=np.asarray(loaded.lines.financing_margin_ratio, dtype=np.float64),
        lines=credit_selectors.lines_in_force(today),
        short_margin_ratio=np.asarray(loaded.short_margin_ratio, dtype=np.float64),
    )


# =========================================================================== figures


def _money(value: float) -> str:
    return str(margin.to_money(float(value)))


def _ratio(value: float) -> str | None:
    return None if not math.isfinite(value) else f"{value:.6f}"


def _state(ratio: np.ndarray, b: Book) -> np.ndarray:
    """Each account's state under its own contract lines (no open-call memory: a shock)."""
    state = np.full(ratio.shape, "normal", dtype=object)
    state[ratio < b.warning_line] = "warning"
    state[ratio < b.call_line] = "call"
    return state


def _under_lines(ratio: np.ndarray, b: Book) -> dict[str, int]:
    return {
        "target": int((ratio < b.target_line).sum()),
        "warning": int((ratio < b.warning_line).sum()),
        "call": int((ratio < b.call_line).sum()),
        "under_100": int((ratio < 1.0).sum()),
    }


def _ratio_histogram(ratio: np.ndarray) -> list[dict[str, Any]]:
    finite = ratio[np.isfinite(ratio)]
    out, low = [], -math.inf
    for high, label in RATIO_BUCKETS:
        out.append({"bucket": label, "accounts": int(((finite >= low) & (finite < high)).sum())})
        low = high
    out.append({"bucket": "no debt", "accounts": int((~np.isfinite(ratio)).sum())})
    return out


def _account_numbers(ids: list[int]) -> dict[int, str]:
    return dict(CreditAccount.objects.filter(pk__in=ids).values_list("pk", "account_number"))


def _coverage(reserve: Decimal, loss: Decimal) -> str | None:
    return None if loss <= 0 else f"{reserve / loss:.6f}"


def _stress_figures(b: Book, params: dict[str, Any], reserve: Decimal) -> dict[str, Any]:
    book, sector = b.book, b.sector
    top_n = params["top_n"]
    index = {c: n for n, c in enumerate(CATEGORIES)}
    assets_before = margin.value_book(book)
    scenarios, worst_ids = [], set()
    for s in params["scenarios"]:
        scenario = an.Scenario(
            s["name"],
            market_move=s["market_move"],
            sector_moves={index[k]: v for k, v in s["sector_moves"].items()},
            haircut_shock=s["haircut_shock"],
            liquidity_discount=s["liquidity_discount"],
        )
        res = an.stress_test(
            book,
            scenario,
            instrument_sector=sector,
            lines=b.lines,
            financing_margin_ratio=b.financing_margin_ratio,
            short_margin_ratio=b.short_margin_ratio,
        )
        shocked = margin.value_book(book, book.price * _multiplier(book, scenario, sector))
        state = _state(res.ratio, b)
        order = np.lexsort((res.ratio, -res.shortfall))[:top_n]
        worst_ids.update(int(b.credit_account_ids[i]) for i in order)
        total = margin.to_money(res.total_shortfall)
        scenarios.append(
            {
                "name": s["name"],
                "parameters": s,
                "total_shortfall": str(total),
                "reserve_coverage": _coverage(reserve, total),
                "under_line": _under_lines(res.ratio, b),
                "wiped_out": int(res.wiped_out.sum()),
                "equity_lost": _money(
                    (assets_before.assets - assets_before.liabilities).sum() - res.equity.sum()
                ),
                "ratio_histogram": _ratio_histogram(res.ratio),
                "accounts": [
                    {
                        "credit_account_id": int(b.credit_account_ids[i]),
                        "ratio_before": _ratio(assets_before.ratio[i]),
                        "ratio": _ratio(res.ratio[i]),
                        "state": state[i],
                        "assets": _money(shocked.assets[i]),
                        "liabilities": _money(shocked.liabilities[i]),
                        "equity": _money(res.equity[i]),
                        "shortfall": _money(res.shortfall[i]),
                        "wiped_out": bool(res.wiped_out[i]),
                    }
                    for i in order
                ],
            }
        )
    replay = None
    if params["history"]:
        market = _historical_paths()[params["history"]]
        beta = np.array(
            [params["category_beta"][str(c)] for c in b.instrument_category], dtype=np.float64
        )
        rets = np.clip(np.outer(market, beta), -1.0, None).reshape(market.size, beta.size)
        rr = an.replay_history(
            book, rets, lines=b.lines, liquidity_discount=params["history_liquidity_discount"]
        )
        order = np.lexsort((rr.min_ratio, -rr.max_shortfall))[:top_n]
        worst_ids.update(int(b.credit_account_ids[i]) for i in order)
        peak = margin.to_money(float(rr.desk_shortfall.max(initial=0.0)))
        replay = {
            "name": params["history"],
            "days": int(market.size),
            "market_path": [round(float(x), 6) for x in np.cumprod(1.0 + market) - 1.0],
            "desk_shortfall": [_money(x) for x in rr.desk_shortfall],
            "accounts_in_call": [int(x) for x in rr.accounts_in_call],
            "max_desk_shortfall": str(peak),
            "reserve_coverage": _coverage(reserve, peak),
            "wiped_out": int(rr.wiped_out.sum()),
            "accounts": [
                {
                    "credit_account_id": int(b.credit_account_ids[i]),
                    "min_ratio": _ratio(rr.min_ratio[i]),
                    "final_ratio": _ratio(rr.final_ratio[i]),
                    "first_call_day": int(rr.first_call_day[i]),
                    "max_shortfall": _money(rr.max_shortfall[i]),
                    "wiped_out": bool(rr.wiped_out[i]),
                }
                for i in order
            ],
        }
    numbers = _account_numbers(sorted(worst_ids))
    for block in [*scenarios, *([replay] if replay else [])]:
        for row in block["accounts"]:
            row["account_number"] = numbers.get(row["credit_account_id"], "")
    losses = [Decimal(s["total_shortfall"]) for s in scenarios]
    if replay:
        losses.append(Decimal(replay["max_desk_shortfall"]))
    return {
        "accounts": book.n_accounts,
        "scenarios": scenarios,
        "replay": replay,
        "stressed_loss": str(max(losses, default=Decimal("0.00"))),
    }


def _multiplier(book: margin.BookArrays, scenario: an.Scenario, sector: np.ndarray):
    mult = np.full(book.n_positions, 1.0 + scenario.market_move)
    if scenario.sector_moves and book.n_positions:
        moves = np.zeros(len(CATEGORIES))
        for k, v in scenario.sector_moves.items():
            moves[k] = v
        mult *= 1.0 + moves[sector[book.instrument]]
    return np.maximum(mult, 0.0)


def factor_model(b: Book, params: dict[str, Any]) -> an.FactorModel:
    """The market-plus-sector model of a Monte Carlo run (one factor per category)."""
    cats = [str(c) for c in b.instrument_category]
    return an.FactorModel(
        beta=np.array([params["category_beta"][c] for c in cats]),
        sector=b.sector,
        sector_loading=np.ones(len(cats)),
        idio_vol=np.array([params["idio_vol"][c] for c in cats]),
        market_vol=params["market_vol"],
        sector_vol=np.array([params["sector_vol"][c] for c in CATEGORIES]),
    )


def exposures(b: Book) -> np.ndarray:
    """Money held per instrument column across the book (signed), for simulate_losses."""
    book = b.book
    return np.bincount(
        book.instrument, weights=book.quantity * book.price, minlength=b.instrument_ids.size
    )


def _histogram(losses: np.ndarray, bins: int = 30) -> list[dict[str, str | int]]:
    if losses.size == 0:
        return []
    low, high = float(losses.min()), float(losses.max())
    if high <= low:
        return [{"from": _money(low), "to": _money(high), "paths": int(losses.size)}]
    counts, edges = np.histogram(losses, bins=bins, range=(low, high))
    return [
        {"from": _money(edges[k]), "to": _money(edges[k + 1]), "paths": int(c)}
        for k, c in enumerate(counts)
    ]


def _distribution(losses: np.ndarray) -> dict[str, Any]:
    return {
        "mean": _money(losses.mean()),
        "std": _money(losses.std()),
        "var_95": _money(an.var(losses, 0.95)),
        "var_99": _money(an.var(losses, 0.99)),
        "es_95": _money(an.expected_shortfall(losses, 0.95)),
        "es_99": _money(an.expected_shortfall(losses, 0.99)),
        "max": _money(losses.max()),
        "histogram": _histogram(losses),
    }


def _monte_carlo_figures(b: Book, params: dict[str, Any], seed: int) -> dict[str, Any]:
    """Desk credit loss (sum of accounts' negative equity at the horizon) and the market loss
    of the clients' holdings, both from default_rng(seed); each account's ruin probability."""
    model = factor_model(b, params)
    horizon, paths = params["horizon_days"], params["n_paths"]
    if b.book.n_accounts and b.instrument_ids.size:
        ruin = an.ruin_probability(
            b.book, model, horizon_days=horizon, n_paths=paths, seed=seed,
            at_any_day=params["at_any_day"],
        )  # fmt: skip
        probability, credit_loss = ruin.probability, ruin.credit_loss
        market_loss = an.simulate_losses(
            exposures(b), model, horizon_days=horizon, n_paths=paths, seed=seed
        )
    else:  # no positions: nothing moves
        v = margin.value_book(b.book)
        probability = ((v.liabilities > 0) & (v.assets <= v.liabilities)).astype(float)
        credit_loss = np.full(paths, float(np.maximum(v.liabilities - v.assets, 0).sum()))
        market_loss = np.zeros(paths)
    order = np.argsort(-probability, kind="stable")[: params["top_n"]]
    ids = [int(b.credit_account_ids[i]) for i in order]
    numbers = _account_numbers(ids)
    ratio = margin.value_book(b.book).ratio
    accounts = [
        {
            "credit_account_id": int(b.credit_account_ids[i]),
            "account_number": numbers.get(int(b.credit_account_ids[i]), ""),
            "ratio": _ratio(ratio[i]),
            "ruin_probability": f"{probability[i]:.6f}",
        }
        for i in order
    ]
    at_risk = probability > 0
    return {
        "accounts": b.book.n_accounts,
        "model": "market + sector (instrument category) factor model, log returns",
        "credit_loss": _distribution(credit_loss),
        "market_loss": _distribution(market_loss),
        "expected_loss": _money(credit_loss.mean()),
        "ruin": {
            "accounts_with_positive_probability": int(at_risk.sum()),
            "mean_probability": f"{probability.mean() if probability.size else 0:.6f}",
            "expected_ruined_accounts": f"{probability.sum():.4f}",
            "worst": accounts,
        },
    }


# --- performance -----------------------------------------------------------------------------


def snapshot_equity(ids: list[int], *, days: int) -> dict[int, list[tuple[str, Decimal]]]:
    """Daily equity from the mark-to-market snapshots: the last succeeded full-book run of
    each of the last `days` days that have one (the runs, then their snapshot rows of the
    shards holding `ids`: lending.mtm.snapshots)."""
    from lending.mtm import snapshots
    from lending.mtm.models import MtmRun

    if days < 1 or not ids:
        return {}
    since = timezone.now() - timedelta(days=2 * days + 7)
    last_of_day: dict[str, int] = {}
    runs = MtmRun.objects.filter(status="succeeded", kind="full", finished_at__gte=since)
    for pk, finished in runs.order_by("finished_at", "pk").values_list("pk", "finished_at"):
        last_of_day[timezone.localtime(finished, SHANGHAI).date().isoformat()] = pk
    chosen = dict(sorted(last_of_day.items())[-days:])
    day_of_run = {pk: day for day, pk in chosen.items()}
    out: dict[int, list[tuple[str, Decimal]]] = {}
    found = snapshots.figures(list(chosen.values()), ids)
    for run_id, account_id, assets, liabilities in zip(
        found.run_ids.tolist(),
        found.accounts.tolist(),
        found.assets.tolist(),
        found.liabilities.tolist(),
        strict=True,
    ):
        out.setdefault(account_id, []).append(
            (day_of_run[run_id], margin.to_money(assets - liabilities))
        )
    return {pk: sorted(history) for pk, history in out.items()}


def equity_history(credit_account: CreditAccount, *, days: int) -> list[tuple[str, Decimal]]:
    """Equity (assets - liabilities) at the 15:00 Shanghai close of the last `days` trading
    days, from the ledger and price ticks at that instant
    (lending.financing.valuation.account_view with as_of): the fallback when the mark-to-market
    snapshots hold fewer than three days.
    Bounded: `days` valuations of six queries each."""
    from compliance import calendar
    from lending.financing.valuation import account_view

    if days < 1:
        return []
    now = timezone.now()
    today = timezone.localdate(now, SHANGHAI)
    out = []
    for day in calendar.last_n_trading_days(calendar.previous_trading_day(today), days):
        close = datetime.combine(day, time(15, 0), SHANGHAI)
        if close > now:
            continue
        view = account_view(credit_account, as_of=close)
        out.append((day.isoformat(), view.total_assets - view.total_liabilities))
    return out


def account_performance(
    credit_account: CreditAccount, *, days: int, history: list[tuple[str, Decimal]] | None = None
) -> dict[str, Any]:
    """Sharpe, Sortino and maximum drawdown of an account's daily equity (None when there
    are fewer than three observations or the figure is undefined). `history` from the
    mark-to-market snapshots when it has three days or more, else from the ledger."""
    source = "mark-to-market snapshots"
    if history is None or len(history) < 3:
        history, source = equity_history(credit_account, days=days), "ledger and price ticks"
    figures: dict[str, Any] = {"observations": len(history), "source": source}
    figures |= {"sharpe": None, "sortino": None, "max_drawdown": None}
    if len(history) >= 3:
        perf = an.performance(np.array([float(e) for _d, e in history]))
        for name in ("sharpe", "sortino", "max_drawdown"):
            value = float(getattr(perf, name))
            figures[name] = f"{value:.4f}" if math.isfinite(value) else None
    figures["equity"] = [[d, str(e)] for d, e in history]
    return figures


# =========================================================================== runs


def risk_run_start(
    *,
    kind: str,
    parameters: dict[str, Any] | None = None,
    seed: int | None = None,
    reason: str,
    actor,
    currency: str = "CNY",
    enqueue: bool = True,
) -> RiskRun:
    """Record a pending run (risk role) and, on commit, hand it to the Celery task.
    The seed is drawn now when none is given, so every run can be repeated exactly."""
    require_permission(actor, RUN_PERM, action="start a risk run")
    if not reason or not reason.strip():
        raise _bad("reason", gettext("reason: a reason is required"))
    if kind not in Kind.values:
        raise _bad("kind", gettext("kind: one of %(values)s"), values=", ".join(Kind.values))
    params = parameters_normalize(kind, parameters)
    if seed is None:
        seed = secrets.randbits(53)
    elif isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**63:
        raise _bad("seed", gettext("seed: a whole number between 0 and 2^63 - 1"))
    with transaction.atomic():
        run = RiskRun(
            kind=kind,
            parameters=params,
            seed=seed,
            currency=currency,
            reason=reason.strip(),
            started_by=actor,
        )
        stamp(run, actor=actor, reason=reason)
        run.save()
        if enqueue:
            transaction.on_commit(lambda pk=run.pk: _enqueue(pk))
    return run


def _enqueue(run_id: int) -> None:
    from lending.risk.tasks import risk_run_execute

    try:
        risk_run_execute.delay(run_id)
    except Exception:  # the broker is down: the run stays pending, shown as such
        log.exception("risk run %s: could not enqueue", run_id)


def _save(run: RiskRun, reason: str, fields: list[str]) -> None:
    stamp(run, actor=run.started_by, reason=reason)
    run.save(update_fields=fields)


def _latest(kind: str, exclude: int) -> RiskRun | None:
    return (
        RiskRun.objects.filter(kind=kind, status=Status.SUCCEEDED)
        .exclude(pk=exclude)
        .order_by("-finished_at", "-pk")
        .first()
    )


def risk_run_execute(*, run_id: int) -> RiskRun:
    """Execute a pending run (the task's body). Idempotent: a finished run is returned as it
    is, and a run another worker is running (started within STALE_AFTER) is left alone."""
    with transaction.atomic():
        run = RiskRun.objects.select_for_update().filter(pk=run_id).first()
        if run is None:
            raise NotFound(f"risk run #{run_id} does not exist")
        now = timezone.now()
        if run.status in (Status.SUCCEEDED, Status.FAILED):
            return run
        if run.status == Status.RUNNING and run.started_at and now - run.started_at < STALE_AFTER:
            return run
        run.status, run.started_at = Status.RUNNING, now
        _save(run, "run started", ["status", "started_at"])
    started_at = run.started_at
    try:
        reserve = custody_selectors.reserve_fund_balance(currency=run.currency)
        b = load_book()
        if run.kind == Kind.STRESS:
            figures = _stress_figures(b, run.parameters, reserve)
        else:
            figures = _monte_carlo_figures(b, run.parameters, run.seed)
            figures["performance"] = _performance(figures, run.parameters)
    except Exception as exc:
        log.exception("risk run %s failed", run_id)
        with transaction.atomic():
            run = RiskRun.objects.select_for_update().get(pk=run_id)
            if run.status == Status.RUNNING and run.started_at == started_at:
                run.status, run.finished_at = Status.FAILED, timezone.now()
                run.error = f"{type(exc).__name__}: {exc}"[:2000]
                _save(run, "run failed", ["status", "finished_at", "error"])
        return run
    return _finish(run_id, started_at, figures)


def _performance(figures: dict[str, Any], params: dict[str, Any]) -> list[dict[str, Any]]:
    ids = [row["credit_account_id"] for row in figures["ruin"]["worst"]]
    ids = ids[: params["performance_accounts"]]
    accounts = CreditAccount.objects.in_bulk(ids)
    days = params["performance_days"]
    snapshots = snapshot_equity(ids, days=days)
    out = []
    for pk in ids:
        perf = account_performance(accounts[pk], days=days, history=snapshots.get(pk))
        out.append({"credit_account_id": pk, "account_number": accounts[pk].account_number, **perf})
    return out


def _finish(run_id: int, started_at, figures: dict[str, Any]) -> RiskRun:
    with transaction.atomic():
        run = RiskRun.objects.select_for_update().get(pk=run_id)
        if run.status != Status.RUNNING or run.started_at != started_at:
            return run  # another worker took the run over
        params = run.parameters
        if run.kind == Kind.STRESS:
            other = _latest(Kind.MONTE_CARLO, run.pk)
            stressed = Decimal(figures["stressed_loss"])
            expected = other.expected_loss if other and other.expected_loss is not None else None
            run.total_shortfall = stressed
        else:
            other = _latest(Kind.STRESS, run.pk)
            expected = Decimal(figures["expected_loss"])
            stressed = other.stressed_loss if other and other.stressed_loss is not None else None
            credit = figures["credit_loss"]
            run.var_95, run.var_99 = Decimal(credit["var_95"]), Decimal(credit["var_99"])
            run.es_95, run.es_99 = Decimal(credit["es_95"]), Decimal(credit["es_99"])
        expected = expected if expected is not None else Decimal("0.00")
        stressed = stressed if stressed is not None else Decimal("0.00")
        target = an.reserve_target(
            expected,
            stressed,
            expected_weight=Decimal(params["expected_weight"]),
            stressed_weight=Decimal(params["stressed_weight"]),
        )
        # proposed only: the desk's target changes when a second person adopts it
        reserve = custody_selectors.reserve_fund_balance(currency=run.currency)
        adequacy = an.reserve_adequacy(reserve, target)
        figures["reserve"] = {
            "expected_loss": str(expected),
            "stressed_loss": str(stressed),
            "expected_weight": params["expected_weight"],
            "stressed_weight": params["stressed_weight"],
            "target": str(target),
            "reserve_fund_balance": str(reserve),
            "adequacy": None if adequacy is None else f"{adequacy:.6f}",
            "other_run_id": other.pk if other else None,
        }
        run.accounts_valued = figures["accounts"]
        run.expected_loss, run.stressed_loss = expected, stressed
        run.reserve_target, run.reserve_balance = target, reserve
        run.reserve_adequacy = None if adequacy is None else adequacy.quantize(Decimal("1e-6"))
        run.results = figures
        run.status, run.finished_at = Status.SUCCEEDED, timezone.now()
        _save(run, "run finished", [f.attname for f in RiskRun._meta.concrete_fields[1:]])
    return run


# =========================================================================== reads


def risk_runs_for(user, *, kind: str | None = None):
    """Runs a staff user may see (every staff role has the view permission), newest first."""
    require_permission(user, VIEW_PERM, action="see risk runs")
    qs = RiskRun.objects.select_related("started_by").defer("results")
    return qs.filter(kind=kind) if kind else qs


def risk_run_for(user, pk: int) -> RiskRun:
    require_permission(user, VIEW_PERM, action="see risk runs")
    run = RiskRun.objects.select_related("started_by").filter(pk=pk).first()
    if run is None:
        raise NotFound(gettext("risk run #%(pk)s does not exist") % {"pk": pk})
    return run


def reserve_position(*, currency: str = "CNY"):
    """The reserve fund beside its target (custody.selectors.reserve_adequacy) and the run
    whose proposal was adopted last (None when none was), for the staff pages."""
    adequacy = custody_selectors.reserve_adequacy(currency=currency)
    latest = (
        RiskRun.objects.filter(
            status=Status.SUCCEEDED, currency=currency, target_adopted_at__isnull=False
        )
        .order_by("-target_adopted_at", "-pk")
        .defer("results")
        .first()
    )
    return adequacy, latest


ADOPT_PERM = "lending.adopt_riskrun"


def risk_run_target_adopt(*, run: RiskRun, actor, reason: str) -> RiskRun:
    """Adopt the reserve target `run` proposes as the desk's (custody.ReserveTarget): by a
    treasurer or risk officer (lending.adopt_riskrun) signed in with a second factor, who did
    not start the run. Only a succeeded run's proposal, once; the row and the target change in
    one transaction."""
    require_permission(actor, ADOPT_PERM, action="adopt a reserve target")
    require_second_factor(actor, action="adopt a reserve target")
    reason = (reason or "").strip()
    if not reason:
        raise ValidationFailed(
            gettext("reason: say why the target is adopted"), extra={"field": "reason"}
        )
    with transaction.atomic(durable=True):
        run = RiskRun.objects.select_for_update().get(pk=run.pk)
        if run.status != Status.SUCCEEDED or run.reserve_target is None:
            raise RuleViolation(
                gettext("run: #%(pk)s is %(status)s and proposes no reserve target")
                % {"pk": run.pk, "status": run.get_status_display()},
                code="no_target",
                extra={"field": "run", "status": run.status},
            )
        if run.target_adopted_at is not None:
            raise Conflict(
                gettext("run: the target of #%(pk)s was adopted on %(at)s")
                % {
                    "pk": run.pk,
                    "at": f"{timezone.localtime(run.target_adopted_at):%Y-%m-%d %H:%M}",
                },
                extra={"field": "run"},
            )
        if actor is not None and actor.pk == run.started_by_id:
            raise RuleViolation(
                gettext("run: the person who started a run may not adopt its target (four eyes)"),
                code="four_eyes",
                extra={"field": "run"},
            )
        previous = custody_selectors.reserve_adequacy(currency=run.currency).target
        custody_services.reserve_target_set_in_transaction(
            currency=run.currency,
            target=run.reserve_target,
            as_of=timezone.localdate(),
            source=f"lending risk run #{run.pk} ({run.kind})",
            actor=actor,
            reason=f"adopted from risk run #{run.pk} (was {previous}): {reason}",
        )
        run.target_adopted_by, run.target_adopted_at = actor, timezone.now()
        run.target_adoption_reason = reason
        stamp(run, actor=actor, reason=f"reserve target {run.reserve_target} adopted: {reason}")
        run.save(update_fields=["target_adopted_by", "target_adopted_at", "target_adoption_reason"])
    return run
