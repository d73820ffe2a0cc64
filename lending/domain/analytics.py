"""Risk analytics: stress tests, Monte Carlo, performance, reserve sizing, leverage simulator.

Pure module (numpy and stdlib, no Django), DOMAIN.md "Risk analytics", "Formulas" and
"Custody and money" (reserve target). Books are :class:`lending.domain.margin.BookArrays`; all
randomness comes from ``np.random.default_rng(seed)`` so every figure is reproducible.

Stress (:func:`stress_test`, :func:`replay_history`). A scenario moves each position's price by
(1 + market_move) * (1 + sector_move[sector of its instrument]) - 1 (moves compound, floored at
-100%), scales haircuts by (1 - haircut_shock), and values liquidation at an extra discount
``liquidity_discount`` (longs sell at price * (1 - l), shorts are bought back at price * (1 + l)).
Per account: the maintenance ratio after the shock (mark prices, +inf = no debt), its state,
equity = A - D, ``wiped_out`` = debt and equity <= half a cent, and
shortfall = max(0, D_liquidation - A_liquidation) >= 0, the debt the desk cannot recover.
For the desk: total shortfall and the number of accounts under each line.

Monte Carlo. Daily log-returns (or arithmetic returns, ``returns="arithmetic"``) are drawn from
a market-plus-sector factor model (:class:`FactorModel`)

    r_i,t = drift_i + beta_i * s_m * Z_m,t + gamma_i * s_k(i) * Z_k(i),t + sigma_i * Z_i,t

with independent standard normals Z, or from a covariance matrix via its Cholesky factor
(:class:`CovarianceModel`, cost I^2 per path-day: fine for hundreds of instruments). A price
after t days is P_0 * exp(sum of r) (log) or P_0 * (1 + sum of r) (arithmetic).
Normals are float32, drawn by Box-Muller from the Generator's uniforms (twice as fast as
``Generator.standard_normal`` on the benchmark machine; the radius uses float64 uniforms so
tails reach 8.5 sigma).

* :func:`simulate_losses`: the loss of a static book of instrument exposures (money, signed)
  at the horizon, L = -sum_i x_i (P_i,T / P_i,0 - 1), one value per path, paths simulated day
  by day in chunks of ``chunk_paths`` (memory ~ chunk_paths * instruments * 12 bytes).
  ``method="aggregate"`` draws the horizon sum in one step (exact in distribution for a static
  book, since a sum of h iid normal days is normal with h times the variance).
* :func:`var` / :func:`expected_shortfall`: empirical VaR at level a is the
  ceil(a * n)-th smallest loss (inverted CDF); ES is the mean of the losses from that one up,
  so ES >= VaR always.
* :func:`ruin_probability`: each account's probability of ruin, ruin = equity <= 0 at the end
  of ANY trading day within the horizon (path-wise; ``at_any_day=False`` checks the horizon
  only), with a static book (no trading, no desk intervention), liabilities growing by
  ``daily_accrual`` per day. Also returns the desk's credit loss per path: the sum over
  accounts of max(0, -equity) at the horizon. Accounts without liabilities are never ruined.

Performance (:func:`performance`): simple daily returns of an equity history; annualised with
252 trading days: Sharpe = mean(r - rf) / std(r, ddof=1) * sqrt(252), Sortino = mean(r - rf)
/ sqrt(mean(min(0, r - rf)^2)) * sqrt(252), max drawdown = max_t (1 - E_t / max_{s<=t} E_s).

Reserve (DOMAIN.md): target = w_e * expected loss + w_s * stressed loss (weights default 1),
adequacy = reserve / target. Money is Decimal; float inputs are converted explicitly
(:func:`lending.domain.margin.to_money`).

Leverage simulator (DOMAIN.md "Formulas", investor education), Decimal in and out:
L = total assets / own capital, total_assets = E * L, borrowed = total_assets - E,
R_e = L * (r - f) - (L - 1) * i; after a price drop d: E' = E * (1 - L * d), floored at 0,
wiped out when L * d >= 1; wipeout_drop = 1 / L. Bad input raises :class:`SimulatorInputError`
(a ValueError) whose ``.field`` names the field and message the rule.
"""

from __future__ import annotations

import itertools
import math
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any, Literal

import numpy as np

from lending.domain.margin import (
    BookArrays,
    MarginLines,
    available_margin_many,
    classify_many,
    quantize_money,
    to_money,
    value_book,
)

TRADING_DAYS_PER_YEAR = 252


#: equity at or below this (money units) counts as wiped out: float valuation noise is far
#: below half a cent for books up to ~1e12.
WIPEOUT_EPSILON = 0.005


Returns = Literal["log", "arithmetic"]


# =========================================================================== stress


@dataclass(frozen=True)
class Scenario:
    """A one-step shock. ``sector_moves`` maps a sector index to its move; ``instrument_sector``
    (passed to :func:`stress_test`) maps instruments to sectors."""

    name: str
    market_move: float = 0.0
    sector_moves: Mapping[int, float] = field(default_factory=dict)
    haircut_shock: float = 0.0
    liquidity_discount: float = 0.0

    def __post_init__(self) -> None:
        if any(not isinstance(k, int) or k < 0 for k in self.sector_moves):
            raise ValueError(f"{self.name}: sector_moves keys are sector indices >= 0")
        moves = [self.market_move, *self.sector_moves.values()]
        if not all(math.isfinite(m) and m >= -1.0 for m in moves):
            raise ValueError(f"{self.name}: moves must be finite and >= -100%")
        if not 0.0 <= self.haircut_shock <= 1.0:
            raise ValueError(f"{self.name}: haircut_shock must be in [0, 1]")
        if not 0.0 <= self.liquidity_discount <= 1.0:
            raise ValueError(f"{self.name}: liquidity_discount must be in [0, 1]")


MARKET_SCENARIOS = (
    Scenario("market -10%", market_move=-0.10),
    Scenario("market -20%", market_move=-0.20),
    Scenario("market -30%", market_move=-0.30),
)


@dataclass(frozen=True, eq=False)
class StressResult:
    """Per account (N,): ratio (+inf no debt), state (int8 codes of lending.domain.margin), equity,
    shortfall (>= 0), wiped_out (bool), available_margin (shocked haircuts; NaN with shorts
    without a short margin ratio).
    Desk: total_shortfall, under_line = accounts with ratio below each line."""

    scenario: Scenario
    ratio: np.ndarray
    state: np.ndarray
    equity: np.ndarray
    shortfall: np.ndarray
    wiped_out: np.ndarray
    available_margin: np.ndarray
    total_shortfall: float
    under_line: dict[str, int]


def _row_multiplier(
    book: BookArrays, scenario: Scenario, instrument_sector: np.ndarray | None
) -> np.ndarray:
    mult = np.full(book.n_positions, 1.0 + scenario.market_move)
    if scenario.sector_moves:
        if book.instrument is None or instrument_sector is None:
            raise ValueError("sector moves need book.instrument and instrument_sector")
        sector_of_row = np.asarray(instrument_sector, dtype=np.int64)[book.instrument]
        n_sectors = max(int(sector_of_row.max(initial=-1)), *scenario.sector_moves) + 1
        sector_move = np.zeros(n_sectors)
        for k, move in scenario.sector_moves.items():
            sector_move[k] = move
        mult *= 1.0 + sector_move[sector_of_row]
    return np.maximum(mult, 0.0)


def _under_lines(ratio: np.ndarray, lines: MarginLines) -> dict[str, int]:
    return {
        "target": int((ratio < float(lines.target)).sum()),
        "warning": int((ratio < float(lines.warning)).sum()),
        "call": int((ratio < float(lines.call)).sum()),
        "100%": int((ratio < 1.0).sum()),
    }


def _liquidation_shortfall(book: BookArrays, mv: np.ndarray, discount: float) -> np.ndarray:
    long_value = book.group_sum(np.where(mv > 0, mv * (1.0 - discount), 0.0))
    short_cost = book.group_sum(np.where(mv < 0, -mv * (1.0 + discount), 0.0))
    assets = book.cash + book.short_proceeds + book.other_collateral + long_value
    liabilities = book.debt + book.interest_fees + short_cost
    return np.maximum(liabilities - assets, 0.0)


def stress_test(
    book: BookArrays,
    scenario: Scenario,
    *,
    instrument_sector: np.ndarray | None = None,
    lines: MarginLines,
    financing_margin_ratio: float | np.ndarray,
    short_margin_ratio: float | np.ndarray | None = None,
) -> StressResult:
    """Apply ``scenario`` to every account of ``book`` at once (see module docstring). The
    ``lines`` (states, accounts under each line) and the ``financing_margin_ratio`` (scalar or
    one per account: available margin) are the caller's: dated parameters, no default. The
    ``short_margin_ratio`` (scalar or one per account) values the available margin of accounts
    with shorts (NaN for them without it)."""
    price = book.price * _row_multiplier(book, scenario, instrument_sector)
    shocked = book.with_prices(price)
    v = value_book(shocked)
    equity = v.assets - v.liabilities
    mv = shocked.quantity * price
    shortfall = _liquidation_shortfall(shocked, mv, scenario.liquidity_discount)
    wiped = (v.liabilities > 0) & (equity <= WIPEOUT_EPSILON)
    haircut = book.haircut * (1.0 - scenario.haircut_shock)
    avail = available_margin_many(
        shocked, financing_margin_ratio, haircut=haircut, short_margin_ratio=short_margin_ratio
    )
    return StressResult(
        scenario=scenario,
        ratio=v.ratio,
        state=classify_many(v.ratio, lines),
        equity=equity,
        shortfall=shortfall,
        wiped_out=wiped,
        available_margin=avail,
        total_shortfall=float(shortfall.sum()),
        under_line=_under_lines(v.ratio, lines),
    )


@dataclass(frozen=True, eq=False)
class ReplayResult:
    """Historical path replayed day by day (days d = 1..T after the book's prices).
    Per account (N,): min_ratio, final_ratio, first_call_day (1-based, 0 = never under the
    call line), max_shortfall, wiped_out (at any day). Per day (T,): desk_shortfall,
    accounts_in_call."""

    min_ratio: np.ndarray
    final_ratio: np.ndarray
    first_call_day: np.ndarray
    max_shortfall: np.ndarray
    wiped_out: np.ndarray
    desk_shortfall: np.ndarray
    accounts_in_call: np.ndarray


def replay_history(
    book: BookArrays,
    daily_returns: np.ndarray,
    *,
    lines: MarginLines,
    liquidity_discount: float = 0.0,
) -> ReplayResult:
    """Replay a historical path: ``daily_returns`` (T, I) simple returns per instrument
    (book.instrument indexes its columns), compounded day by day on the book's prices.
    One vectorised valuation per day; memory O(N + P), not O(T * N)."""
    if book.instrument is None:
        raise ValueError("replay needs book.instrument")
    rets = np.asarray(daily_returns, dtype=np.float64)
    if rets.ndim != 2 or not np.isfinite(rets).all() or (rets < -1).any():
        raise ValueError("daily_returns: finite (T, I) array of returns >= -100%")
    n = book.n_accounts
    growth = np.ones(rets.shape[1])
    min_ratio = np.full(n, np.inf)
    first_call = np.zeros(n, dtype=np.int64)
    max_short = np.zeros(n)
    wiped = np.zeros(n, dtype=bool)
    desk = np.zeros(rets.shape[0])
    in_call = np.zeros(rets.shape[0], dtype=np.int64)
    ratio = np.full(n, np.inf)
    for day, r in enumerate(rets, start=1):
        growth *= 1.0 + r
        price = book.price * growth[book.instrument]
        v = value_book(book, price)
        ratio = v.ratio
        np.minimum(min_ratio, ratio, out=min_ratio)
        call_now = ratio < float(lines.call)
        first_call[(first_call == 0) & call_now] = day
        sf = _liquidation_shortfall(book, book.quantity * price, liquidity_discount)
        np.maximum(max_short, sf, out=max_short)
        wiped |= (v.liabilities > 0) & (v.assets - v.liabilities <= WIPEOUT_EPSILON)
        desk[day - 1] = sf.sum()
        in_call[day - 1] = int(call_now.sum())
    return ReplayResult(min_ratio, ratio, first_call, max_short, wiped, desk, in_call)


# =========================================================================== Monte Carlo


def standard_normal_f32(rng: np.random.Generator, shape: int | tuple[int, ...]) -> np.ndarray:
    """float32 standard normals by Box-Muller (see module docstring).

    Radius sqrt(-2 ln u1) from float64 uniforms (u1 in (0, 1], cast to float32 before the log:
    numpy's float32 log/sin/cos measured ~10x faster than float64 on the benchmark machine),
    angle 2 pi u2 from float32 uniforms; cos and sin give two normals per pair.
    """
    shape = (shape,) if isinstance(shape, int) else tuple(shape)
    n = math.prod(shape)
    half = (n + 1) // 2
    u1 = rng.random(half)  # float64 in [0, 1)
    np.subtract(1.0, u1, out=u1)  # (0, 1]: the log is finite
    radius = u1.astype(np.float32)
    np.log(radius, out=radius)
    radius *= np.float32(-2.0)
    np.sqrt(radius, out=radius)
    angle = rng.random(half, dtype=np.float32)
    angle *= np.float32(2.0 * math.pi)
    out = np.empty(2 * half, dtype=np.float32)
    np.cos(angle, out=out[:half])
    np.sin(angle, out=out[half:])
    out[:half] *= radius
    out[half:] *= radius
    return out[:n].reshape(shape)


@dataclass(frozen=True, eq=False)
class FactorModel:
    """Market-plus-sector factor model of daily log-returns, for I instruments.

    beta, sector_loading, idio_vol, drift: (I,) float; sector: (I,) int in [0, S);
    market_vol: daily vol of the market factor; sector_vol: (S,) daily vols.
    Daily variance of instrument i: (beta_i s_m)^2 + (gamma_i s_k)^2 + sigma_i^2.
    """

    beta: np.ndarray
    sector: np.ndarray
    sector_loading: np.ndarray
    idio_vol: np.ndarray
    market_vol: float
    sector_vol: np.ndarray
    drift: np.ndarray | None = None

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        set_(self, "beta", np.asarray(self.beta, dtype=np.float32))
        n = self.beta.shape[0]
        set_(self, "sector", np.asarray(self.sector, dtype=np.int64))
        for name in ("sector_loading", "idio_vol"):
            arr = np.asarray(getattr(self, name), dtype=np.float32)
            if arr.shape != (n,):
                raise ValueError(f"{name}: expected shape ({n},)")
            set_(self, name, arr)
        set_(self, "sector_vol", np.atleast_1d(np.asarray(self.sector_vol, dtype=np.float32)))
        drift = np.zeros(n) if self.drift is None else self.drift
        set_(self, "drift", np.asarray(drift, dtype=np.float32))
        if self.sector.shape != (n,) or self.drift.shape != (n,):
            raise ValueError("sector and drift need one entry per instrument")
        if n and (self.sector.min() < 0 or self.sector.max() >= self.sector_vol.shape[0]):
            raise ValueError("sector index out of range of sector_vol")
        if (self.idio_vol < 0).any() or self.market_vol < 0 or (self.sector_vol < 0).any():
            raise ValueError("vols must be >= 0")
        # precomputed loadings in float32
        set_(self, "_market_load", self.beta * np.float32(self.market_vol))
        set_(self, "_sector_load", self.sector_loading * self.sector_vol[self.sector])

    @property
    def n_instruments(self) -> int:
        return int(self.beta.shape[0])

    def daily_variance(self) -> np.ndarray:
        m = self._market_load.astype(np.float64)
        s = self._sector_load.astype(np.float64)
        return m * m + s * s + self.idio_vol.astype(np.float64) ** 2

    @property
    def n_factors(self) -> int:
        """Standard normals per path and day: I idiosyncratic, 1 market, S sector."""
        return self.n_instruments + 1 + int(self.sector_vol.shape[0])

    def combine(self, z: np.ndarray) -> np.ndarray:
        """Map standard normals (n_paths, n_factors) to log-return shocks (n_paths, I), float32.
        Linear, so the sum of h days' normals maps to the sum of h days' shocks."""
        n = self.n_instruments
        out = z[:, :n] * self.idio_vol
        out += z[:, n : n + 1] * self._market_load
        out += z[:, n + 1 :][:, self.sector] * self._sector_load
        return out


@dataclass(frozen=True, eq=False)
class CovarianceModel:
    """Daily log-returns ~ N(drift, cov) via the Cholesky factor of ``cov`` (I, I)."""

    cov: np.ndarray
    drift: np.ndarray | None = None

    def __post_init__(self) -> None:
        cov = np.asarray(self.cov, dtype=np.float64)
        if cov.ndim != 2 or cov.shape[0] != cov.shape[1] or not np.allclose(cov, cov.T):
            raise ValueError("cov must be a symmetric (I, I) matrix")
        object.__setattr__(self, "cov", cov)
        chol = np.linalg.cholesky(cov)  # LinAlgError if not positive definite
        object.__setattr__(self, "_chol_t", chol.T.astype(np.float32))
        drift = np.zeros(cov.shape[0]) if self.drift is None else self.drift
        object.__setattr__(self, "drift", np.asarray(drift, dtype=np.float32))

    @property
    def n_instruments(self) -> int:
        return int(self.cov.shape[0])

    def daily_variance(self) -> np.ndarray:
        return np.diag(self.cov).copy()

    @property
    def n_factors(self) -> int:
        return self.n_instruments

    def combine(self, z: np.ndarray) -> np.ndarray:
        """Standard normals (n_paths, I) to correlated shocks z @ chol.T, float32."""
        return z @ self._chol_t


ReturnModel = FactorModel | CovarianceModel


def shocks(model: ReturnModel, rng: np.random.Generator, n_paths: int) -> np.ndarray:
    """One day's zero-mean log-return shocks (n_paths, I) float32 (drift not included)."""
    return model.combine(standard_normal_f32(rng, (n_paths, model.n_factors)))


def _cumulative_returns(
    model: ReturnModel, rng: np.random.Generator, n_paths: int, horizon_days: int, method: str
) -> np.ndarray:
    """(n_paths, I) float32 sum of daily log-returns over the horizon.

    ``daily`` draws every day's normals and sums them before the (linear) factor map, which
    gives the same sum as mapping each day and adding; ``aggregate`` draws one day's normals
    scaled by sqrt(h), the same distribution with h times fewer draws."""
    if method == "aggregate":
        z = standard_normal_f32(rng, (n_paths, model.n_factors))
        z *= np.float32(math.sqrt(horizon_days))
    elif method == "daily":
        z = standard_normal_f32(rng, (n_paths, model.n_factors))
        for _ in range(horizon_days - 1):
            z += standard_normal_f32(rng, (n_paths, model.n_factors))
    else:
        raise ValueError("method must be 'daily' or 'aggregate'")
    cum = model.combine(z)
    cum += model.drift * np.float32(horizon_days)
    return cum


def _growth_minus_one(cum: np.ndarray, returns: Returns) -> np.ndarray:
    if returns == "log":
        return np.expm1(cum, out=cum)
    if returns == "arithmetic":
        return cum
    raise ValueError("returns must be 'log' or 'arithmetic'")


def simulate_losses(
    exposures: np.ndarray,
    model: ReturnModel,
    *,
    horizon_days: int = 10,
    n_paths: int = 100_000,
    seed: int | None = None,
    chunk_paths: int = 2_000,
    returns: Returns = "log",
    method: Literal["daily", "aggregate"] = "daily",
) -> np.ndarray:
    """Loss per path (float64, (n_paths,), positive = loss) of a static book holding
    ``exposures[i]`` money in instrument i, over ``horizon_days`` trading days."""
    x = np.asarray(exposures, dtype=np.float64)
    if x.shape != (model.n_instruments,) or not np.isfinite(x).all():
        raise ValueError(f"exposures: expected shape ({model.n_instruments},)")
    if horizon_days < 1 or n_paths < 1 or chunk_paths < 1:
        raise ValueError("horizon_days, n_paths and chunk_paths must be >= 1")
    rng = np.random.default_rng(seed)
    losses = np.empty(n_paths)
    for start in range(0, n_paths, chunk_paths):
        c = min(chunk_paths, n_paths - start)
        cum = _cumulative_returns(model, rng, c, horizon_days, method)
        growth = _growth_minus_one(cum, returns)
        losses[start : start + c] = -(growth.astype(np.float64) @ x)
    return losses


def _tail_index(n: int, level: float) -> int:
    if not 0.0 < level < 1.0:
        raise ValueError("level must be in (0, 1)")
    if n < 1:
        raise ValueError("need at least one loss")
    return max(math.ceil(level * n - 1e-9), 1) - 1


def var(losses: np.ndarray, level: float) -> float:
    """Value at risk: the ceil(level * n)-th smallest loss (losses positive)."""
    arr = np.asarray(losses, dtype=np.float64).ravel()
    k = _tail_index(arr.size, level)
    return float(np.partition(arr, k)[k])


def expected_shortfall(losses: np.ndarray, level: float) -> float:
    """Mean of the losses from the VaR order statistic up; never below VaR."""
    arr = np.asarray(losses, dtype=np.float64).ravel()
    k = _tail_index(arr.size, level)
    part = np.partition(arr, k)
    return float(max(part[k:].mean(), part[k]))


@dataclass(frozen=True, eq=False)
class RuinResult:
    """probability: (N,) float64 share of paths on which the account is ruined;
    credit_loss: (n_paths,) desk loss per path = sum over accounts of max(0, -equity) at the
    horizon (money; expected loss = credit_loss.mean())."""

    probability: np.ndarray
    credit_loss: np.ndarray
    at_any_day: bool
    horizon_days: int


def ruin_probability(
    book: BookArrays,
    model: ReturnModel,
    *,
    horizon_days: int = 10,
    n_paths: int = 1_000,
    seed: int | None = None,
    at_any_day: bool = True,
    daily_accrual: np.ndarray | None = None,
    returns: Returns = "log",
    chunk_paths: int = 64,
    block_rows: int = 1_280,
) -> RuinResult:
    """Probability of ruin of every account (see module docstring).

    Layout: per chunk of paths, a growth table G (I, days * chunk_paths) float32 of price
    relatives P_t / P_0. Accounts at risk are bucketed by their number of position rows k;
    for a block of accounts with k rows each, equity = base + mv0 (n, 1, k) @ G[inst] (n, k,
    days * chunk) (row gathers are contiguous copies, the weighted sum a batched matmul).
    Memory ~ block_rows * days * chunk_paths * 4 bytes + the table (~ 3 MB each with the
    defaults): cache-sized on purpose. Loops run over path chunks, row-count buckets and
    blocks, never over accounts.
    """
    if book.instrument is None:
        raise ValueError("ruin_probability needs book.instrument")
    if book.n_positions and (
        book.instrument.min() < 0 or book.instrument.max() >= model.n_instruments
    ):
        raise ValueError("book.instrument out of range of the model")
    if horizon_days < 1 or n_paths < 1 or chunk_paths < 1 or block_rows < 1:
        raise ValueError("horizon_days, n_paths, chunk_paths and block_rows must be >= 1")
    if returns not in ("log", "arithmetic"):
        raise ValueError("returns must be 'log' or 'arithmetic'")
    n = book.n_accounts
    accrual = np.zeros(n) if daily_accrual is None else _shape(daily_accrual, (n,), "daily_accrual")
    mv0 = book.quantity * book.price
    short_mv = book.group_sum(np.where(mv0 < 0, -mv0, 0.0))
    liabilities = book.debt + book.interest_fees + short_mv
    base = book.cash + book.short_proceeds + book.other_collateral - book.debt - book.interest_fees
    at_risk = liabilities > 0
    rows_per_account = np.bincount(book.account, minlength=n)
    # accounts at risk without position rows: equity base - accrual * t only falls, so its
    # worst day is the horizon, whichever way ruin is checked
    static = at_risk & (rows_per_account == 0)
    static_equity = base - accrual * horizon_days

    # rows of accounts at risk, sorted by (row count, account)
    keep = at_risk[book.account] & (rows_per_account[book.account] > 0)
    rows = np.flatnonzero(keep)
    order = np.lexsort((book.account[rows], rows_per_account[book.account[rows]]))
    rows = rows[order]
    inst_rows = book.instrument[rows]
    mv_rows = mv0[rows].astype(np.float32)
    acc_rows = book.account[rows]
    k_rows = rows_per_account[acc_rows]
    days = horizon_days if at_any_day else 1
    day_index = np.arange(1, horizon_days + 1) if at_any_day else np.array([horizon_days])

    # buckets: (k, first row, number of accounts); accounts of a bucket are consecutive
    buckets = []
    bucket_edges = np.flatnonzero(np.diff(k_rows, prepend=-1, append=-1))
    for lo, hi in itertools.pairwise(bucket_edges):
        k = int(k_rows[lo])
        accounts = acc_rows[lo:hi:k]
        buckets.append(
            (
                k,
                accounts,
                inst_rows[lo:hi].reshape(-1, k),
                mv_rows[lo:hi].reshape(-1, 1, k),
                base[accounts].astype(np.float32),
                (accrual[accounts, None] * day_index[None, :]).astype(np.float32),
            )
        )

    ruined = np.zeros(n, dtype=np.int64)
    credit_loss = np.zeros(n_paths)
    rng = np.random.default_rng(seed)
    n_inst = model.n_instruments
    for p0 in range(0, n_paths, chunk_paths):
        c = min(chunk_paths, n_paths - p0)
        table = np.empty((n_inst, days, c), dtype=np.float32)
        z = np.zeros((c, model.n_factors), dtype=np.float32)
        for d in range(horizon_days):
            z += standard_normal_f32(rng, (c, model.n_factors))
            if at_any_day or d == horizon_days - 1:
                g = model.combine(z)
                g += model.drift * np.float32(d + 1)
                g = np.exp(g, out=g) if returns == "log" else np.add(g, 1.0, out=g)
                table[:, d if at_any_day else 0, :] = g.T
        table2 = table.reshape(n_inst, days * c)
        for k, accounts, inst_k, mv_k, base_k, accrual_k in buckets:
            step = max(1, block_rows // k)
            for a0 in range(0, accounts.size, step):
                a1 = min(a0 + step, accounts.size)
                gathered = np.take(table2, inst_k[a0:a1].ravel(), axis=0)
                eq = np.matmul(mv_k[a0:a1], gathered.reshape(a1 - a0, k, days * c))
                eq = eq.reshape(a1 - a0, days, c)
                eq += base_k[a0:a1, None, None]
                eq -= accrual_k[a0:a1, :, None]
                worst = eq.min(axis=1) if at_any_day else eq[:, 0, :]
                ruined[accounts[a0:a1]] += (worst <= 0).sum(axis=1)
                credit_loss[p0 : p0 + c] += np.maximum(-eq[:, -1, :], 0).sum(
                    axis=0, dtype=np.float64
                )
    probability = ruined / n_paths
    probability[static] = (static_equity[static] <= 0).astype(np.float64)
    credit_loss += np.maximum(-static_equity[static], 0.0).sum()
    return RuinResult(probability, credit_loss, at_any_day, horizon_days)


def _shape(x: Any, shape: tuple[int, ...], name: str) -> np.ndarray:
    arr = np.asarray(x, dtype=np.float64)
    if arr.shape != shape or not np.isfinite(arr).all():
        raise ValueError(f"{name}: expected finite array of shape {shape}")
    return arr


# =========================================================================== performance


@dataclass(frozen=True, eq=False)
class Performance:
    """Annualised figures (factor 252); arrays with the leading shape of the equity input."""

    sharpe: np.ndarray | float
    sortino: np.ndarray | float
    max_drawdown: np.ndarray | float


def performance(
    equity: np.ndarray, *, risk_free_annual: float = 0.0, periods_per_year: int = 252
) -> Performance:
    """Sharpe, Sortino and maximum drawdown from equity histories (..., T + 1), T >= 2.

    Returns after a non-positive equity are undefined (NaN) and skipped. Sharpe / Sortino are
    NaN when the volatility / downside deviation is 0. Max drawdown is a fraction of the
    running peak (1.0 = everything lost; above 1 if equity went negative).
    """
    e = np.asarray(equity, dtype=np.float64)
    if e.shape[-1] < 3:
        raise ValueError("need at least 3 equity observations")
    prev = e[..., :-1]
    with np.errstate(divide="ignore", invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN rows give NaN, documented
        r = np.where(prev > 0, e[..., 1:] / prev - 1.0, np.nan)
        excess = r - risk_free_annual / periods_per_year
        mean = np.nanmean(excess, axis=-1)
        std = np.nanstd(r, axis=-1, ddof=1)
        downside = np.sqrt(np.nanmean(np.minimum(excess, 0.0) ** 2, axis=-1))
        scale = math.sqrt(periods_per_year)
        sharpe = np.where(std > 0, mean / std * scale, np.nan)
        sortino = np.where(downside > 0, mean / downside * scale, np.nan)
        peak = np.maximum.accumulate(e, axis=-1)
        dd = np.where(peak > 0, 1.0 - e / peak, 0.0)
    mdd = dd.max(axis=-1)
    if e.ndim == 1:
        return Performance(float(sharpe), float(sortino), float(mdd))
    return Performance(sharpe, sortino, mdd)


# =========================================================================== reserve


def _money(value: Decimal | float | int, name: str) -> Decimal:
    if isinstance(value, Decimal):
        result = value
    elif isinstance(value, int) and not isinstance(value, bool):
        result = Decimal(value)
    elif isinstance(value, float | np.floating):
        result = to_money(value)
    else:
        raise TypeError(f"{name}: expected a number")
    if not result.is_finite() or result < 0:
        raise ValueError(f"{name}: must be finite and >= 0")
    return result


def reserve_target(
    expected_loss: Decimal | float,
    stressed_loss: Decimal | float,
    *,
    expected_weight: Decimal = Decimal(1),
    stressed_weight: Decimal = Decimal(1),
) -> Decimal:
    """Reserve target = w_e * expected loss + w_s * stressed loss (DOMAIN.md: target >= EL +
    stressed loss, so weights >= 1 by default), money HALF_UP."""
    el, sl = _money(expected_loss, "expected_loss"), _money(stressed_loss, "stressed_loss")
    if expected_weight < 0 or stressed_weight < 0:
        raise ValueError("weights must be >= 0")
    return quantize_money(expected_weight * el + stressed_weight * sl)


def reserve_adequacy(reserve: Decimal, target: Decimal) -> Decimal | None:
    """reserve / target (1 = exactly adequate); None when the target is 0."""
    reserve, target = _money(reserve, "reserve"), _money(target, "target")
    return None if target == 0 else reserve / target


# =========================================================================== simulator


class SimulatorInputError(ValueError):
    """Bad simulator input; ``field`` names the input, the message states the rule."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.rule = message


def _sim_number(field_name: str, value: Any) -> Decimal:
    if isinstance(value, bool) or value is None:
        raise SimulatorInputError(field_name, "must be a number")
    try:
        if isinstance(value, Decimal):
            d = value
        elif isinstance(value, int):
            d = Decimal(value)
        elif isinstance(value, float):
            d = Decimal(repr(value))
        elif isinstance(value, str):
            d = Decimal(value.strip())
        else:
            raise SimulatorInputError(field_name, "must be a number")
    except InvalidOperation:
        raise SimulatorInputError(field_name, "must be a number") from None
    if not d.is_finite():
        raise SimulatorInputError(field_name, "must be a finite number")
    return d


@dataclass(frozen=True)
class SimulatorInputs:
    own_capital: Decimal
    leverage: Decimal
    asset_return: Decimal = Decimal(0)
    fee_rate: Decimal = Decimal(0)
    borrow_rate: Decimal = Decimal(0)
    price_drop: Decimal = Decimal(0)


SIM_MAX_CAPITAL = Decimal(10) ** 12  # one trillion yuan of own capital
SIM_MAX_LEVERAGE = Decimal(100)
SIM_MAX_RATE = Decimal(10)  # 1000% a year or a period


def validate_simulator_inputs(
    *,
    own_capital: Any,
    leverage: Any,
    asset_return: Any = 0,
    fee_rate: Any = 0,
    borrow_rate: Any = 0,
    price_drop: Any = 0,
) -> SimulatorInputs:
    """Parse and check; raises SimulatorInputError naming the first bad field.
    Rules: 0 < own_capital <= SIM_MAX_CAPITAL; 1 <= leverage <= SIM_MAX_LEVERAGE; rates
    finite and within +-SIM_MAX_RATE; 0 <= price_drop <= 1. The upper bounds keep every figure
    inside the precision money is kept at (a simulator, not a book: no real account is near)."""
    capital = _sim_number("own_capital", own_capital)
    if capital <= 0:
        raise SimulatorInputError("own_capital", "must be greater than 0")
    if capital > SIM_MAX_CAPITAL:
        raise SimulatorInputError("own_capital", f"must be at most {SIM_MAX_CAPITAL:,}")
    lev = _sim_number("leverage", leverage)
    if lev < 1:
        raise SimulatorInputError("leverage", "must be at least 1")
    if lev > SIM_MAX_LEVERAGE:
        raise SimulatorInputError("leverage", f"must be at most {SIM_MAX_LEVERAGE}")
    rates = {}
    for name, value in (("asset_return", asset_return), ("fee_rate", fee_rate),
                        ("borrow_rate", borrow_rate)):  # fmt: skip
        rates[name] = _sim_number(name, value)
        if abs(rates[name]) > SIM_MAX_RATE:
            raise SimulatorInputError(name, f"must be between -{SIM_MAX_RATE} and {SIM_MAX_RATE}")
    r, f, i = rates["asset_return"], rates["fee_rate"], rates["borrow_rate"]
    d = _sim_number("price_drop", price_drop)
    if not Decimal(0) <= d <= Decimal(1):
        raise SimulatorInputError("price_drop", "must be between 0 and 1")
    return SimulatorInputs(capital, lev, r, f, i, d)


@dataclass(frozen=True)
class LeverageOutcome:
    total_assets: Decimal  # money
    borrowed: Decimal  # money
    equity_return: Decimal  # fraction, exact
    equity_after_drop: Decimal  # money, floored at 0
    wiped_out: bool
    wipeout_drop: Decimal  # 1 / L


def equity_return(leverage: Decimal, asset_return: Decimal, fee_rate: Decimal,
                  borrow_rate: Decimal) -> Decimal:  # fmt: skip
    """R_e = L * (r - f) - (L - 1) * i."""
    return leverage * (asset_return - fee_rate) - (leverage - 1) * borrow_rate


def leverage_outcome(
    *,
    own_capital: Any,
    leverage: Any,
    asset_return: Any = 0,
    fee_rate: Any = 0,
    borrow_rate: Any = 0,
    price_drop: Any = 0,
) -> LeverageOutcome:
    """The simulator's figures for one input set; inputs as :func:`validate_simulator_inputs`
    takes them (Decimal, int, str or float), checked first."""
    s = validate_simulator_inputs(
        own_capital=own_capital,
        leverage=leverage,
        asset_return=asset_return,
        fee_rate=fee_rate,
        borrow_rate=borrow_rate,
        price_drop=price_drop,
    )
    total = s.own_capital * s.leverage
    after = s.own_capital * (1 - s.leverage * s.price_drop)
    return LeverageOutcome(
        total_assets=quantize_money(total),
        borrowed=quantize_money(total - s.own_capital),
        equity_return=equity_return(s.leverage, s.asset_return, s.fee_rate, s.borrow_rate),
        equity_after_drop=quantize_money(max(after, Decimal(0))),
        wiped_out=s.leverage * s.price_drop >= 1,
        wipeout_drop=Decimal(1) / s.leverage,
    )


@dataclass(frozen=True)
class ChartSeries:
    """``equity_return[L]``: [(asset return r, R_e)] and ``equity_after_drop[L]``:
    [(price drop d, E')] for each leverage L (keys are the Decimal leverages)."""

    equity_return: dict[Decimal, list[tuple[Decimal, Decimal]]]
    equity_after_drop: dict[Decimal, list[tuple[Decimal, Decimal]]]


DEFAULT_CHART_LEVERAGES = ("1", "1.5", "2", "3", "5", "10")


def chart_series(
    *,
    own_capital: Any = 100_000,
    leverages: Iterable[Any] = DEFAULT_CHART_LEVERAGES,
    asset_returns: Sequence[Any] | None = None,
    price_drops: Sequence[Any] | None = None,
    fee_rate: Any = 0,
    borrow_rate: Any = 0,
) -> ChartSeries:
    """Series for the simulator's charts; every point goes through the same validation.
    Defaults: asset returns -30%..+30% by 5%, price drops 0..100% by 5%."""
    if asset_returns is None:
        asset_returns = [Decimal(k) / 100 for k in range(-30, 31, 5)]
    if price_drops is None:
        price_drops = [Decimal(k) / 100 for k in range(0, 101, 5)]
    ret_series: dict[Decimal, list[tuple[Decimal, Decimal]]] = {}
    drop_series: dict[Decimal, list[tuple[Decimal, Decimal]]] = {}
    for lev_raw in leverages:
        base = validate_simulator_inputs(
            own_capital=own_capital, leverage=lev_raw, fee_rate=fee_rate, borrow_rate=borrow_rate
        )
        lev = base.leverage
        ret_series[lev] = [
            (r, equity_return(lev, r, base.fee_rate, base.borrow_rate))
            for r in (_sim_number("asset_return", x) for x in asset_returns)
        ]
        drop_series[lev] = []
        for d_raw in price_drops:
            o = leverage_outcome(own_capital=base.own_capital, leverage=lev, price_drop=d_raw)
            drop_series[lev].append((_sim_number("price_drop", d_raw), o.equity_after_drop))
    return ChartSeries(ret_series, drop_series)
