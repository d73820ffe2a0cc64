"""Risk benchmark: the desk's Monte Carlo loss distribution and each account's probability of
ruin, at the sizes the desk needs, against a naive baseline measured in the same run.

    .venv/bin/python -m bench.risk.run            # full size (goal: each part <= 30 s)
    .venv/bin/python -m bench.risk.run --quick    # small smoke run, same code paths
    .venv/bin/python bench/risk/run.py            # as a script

Part 1: loss distribution of a static book of 1,000 instruments (market + 10 sectors factor
model), 100,000 paths x 10 trading days, simulated day by day (lending.domain.analytics
.simulate_losses, method="daily"); VaR and ES at 95% and 99%. The exact one-step
"aggregate" method is timed too.
Part 2: probability of ruin (equity <= 0 at the end of any of 10 trading days) of every
account of a 100,000-account book (5 positions each), 1,000 paths
(lending.domain.analytics.ruin_probability).
Baselines (labelled as extrapolated): part 1 path by path (numpy over instruments, a Python
loop over paths and days) on a sample of paths; part 2 account by account (numpy over paths
and days, a Python loop over accounts) on a sample of accounts.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

if __package__ in (None, ""):  # run as a script: make the project importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from lending.domain import analytics as an
from lending.domain import margin as m

GOAL_SECONDS = 30.0
N_SECTORS = 10


def make_model(n_instruments: int, seed: int) -> an.FactorModel:
    rng = np.random.default_rng(seed)
    return an.FactorModel(
        beta=rng.uniform(0.6, 1.4, n_instruments),
        sector=rng.integers(0, N_SECTORS, n_instruments),
        sector_loading=rng.uniform(0.5, 1.5, n_instruments),
        idio_vol=rng.uniform(0.010, 0.030, n_instruments),  # daily
        market_vol=0.013,
        sector_vol=rng.uniform(0.005, 0.012, N_SECTORS),
    )


def make_book(n_accounts: int, per_account: int, n_instruments: int, seed: int) -> m.BookArrays:
    """Synthetic book: 5 long rows per account, ratios spread between ~110% and ~400%."""
    rng = np.random.default_rng(seed)
    rows = n_accounts * per_account
    account = np.repeat(np.arange(n_accounts), per_account)
    price = rng.uniform(5.0, 100.0, rows).round(2)
    quantity = rng.integers(1, 50, rows) * 100.0
    mv = np.bincount(account, quantity * price, minlength=n_accounts)
    ratio = 1.1 + rng.gamma(2.0, 0.5, n_accounts)
    debt = (mv / ratio).round(2)
    return m.BookArrays(
        account=account,
        quantity=quantity,
        price=price,
        haircut=np.full(rows, 0.65),
        financed=np.zeros(rows),
        cash=np.zeros(n_accounts),
        debt=debt,
        interest_fees=np.zeros(n_accounts),
        instrument=rng.integers(0, n_instruments, rows),
    )


def naive_desk_losses(x: np.ndarray, model: an.FactorModel, n_paths: int, days: int, seed: int):
    """Baseline: one path at a time, one day at a time (numpy over instruments only)."""
    rng = np.random.default_rng(seed)
    losses = np.empty(n_paths)
    for p in range(n_paths):
        log_price = np.zeros(model.n_instruments)
        for _ in range(days):
            z_m = rng.standard_normal()
            z_s = rng.standard_normal(model.sector_vol.shape[0])
            z_i = rng.standard_normal(model.n_instruments)
            log_price += (
                model.beta * model.market_vol * z_m
                + model.sector_loading * model.sector_vol[model.sector] * z_s[model.sector]
                + model.idio_vol * z_i
            )
        losses[p] = -(np.expm1(log_price) @ x)
    return losses


def naive_ruin(book: m.BookArrays, model: an.FactorModel, n_accounts: int, n_paths: int,
               days: int, seed: int) -> tuple[np.ndarray, float, float]:  # fmt: skip
    """Baseline: simulate the price paths once (days x paths x instruments, float64), then a
    Python loop over accounts, each valued on every path and day with numpy. Returns the
    probabilities and the seconds spent on the paths and on the account loop."""
    t0 = time.perf_counter()
    rng = np.random.default_rng(seed)
    z = np.stack([an.standard_normal_f32(rng, (n_paths, model.n_factors)) for _ in range(days)])
    growth = np.exp(np.cumsum([model.combine(zd) for zd in z], axis=0, dtype=np.float64))
    t1 = time.perf_counter()
    prob = np.empty(n_accounts)
    starts = np.searchsorted(book.account, np.arange(n_accounts + 1))  # rows sorted by account
    for a in range(n_accounts):
        rows = range(starts[a], starts[a + 1])
        equity = book.cash[a] - book.debt[a] - book.interest_fees[a]
        for r in rows:
            equity = equity + book.quantity[r] * book.price[r] * growth[:, :, book.instrument[r]]
        prob[a] = (equity.min(axis=0) <= 0).mean()
    return prob, t1 - t0, time.perf_counter() - t1


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def timed(fn, *args, **kwargs):
    t0 = time.perf_counter()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - t0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes (smoke test)")
    parser.add_argument("--seed", type=int, default=20261122)
    args = parser.parse_args(argv)

    if args.quick:
        paths, instruments, days, accounts, ruin_paths = 5_000, 1_000, 10, 5_000, 200
        naive_paths, naive_accounts = 100, 200
    else:
        paths, instruments, days, accounts, ruin_paths = 100_000, 1_000, 10, 100_000, 1_000
        naive_paths, naive_accounts = 500, 500
    command = "python -m bench.risk.run" + (" --quick" if args.quick else "")
    print(f"# risk benchmark  {datetime.now(UTC):%Y-%m-%d %H:%M UTC}")
    print(f"# command: cd /work/main && .venv/bin/{command}")
    print(
        f"# python {platform.python_version()}, numpy {np.__version__}, "
        f"{os.cpu_count()} cpus, load average before {os.getloadavg()[0]:.2f}"
    )

    model = make_model(instruments, args.seed)
    rng = np.random.default_rng(args.seed + 1)
    exposures = rng.uniform(1e6, 2e7, instruments)  # money per instrument (collateral held)

    # ---- part 1: desk loss distribution
    losses, t_daily = timed(
        an.simulate_losses, exposures, model, horizon_days=days, n_paths=paths, seed=args.seed
    )
    losses_agg, t_agg = timed(
        an.simulate_losses, exposures, model, horizon_days=days, n_paths=paths,
        seed=args.seed, method="aggregate",
    )  # fmt: skip
    _, t_naive = timed(naive_desk_losses, exposures, model, naive_paths, days, args.seed)
    naive_extrapolated = t_naive * paths / naive_paths
    size = f"{paths:,} paths x {instruments:,} instruments x {days} days"
    print(f"\n## desk loss distribution: {size}")
    print(f"measured  daily simulation      {t_daily:8.2f} s   goal <= {GOAL_SECONDS:.0f} s  "
          f"{'MET' if t_daily <= GOAL_SECONDS else 'MISSED'}")  # fmt: skip
    print(f"measured  aggregate (one step)  {t_agg:8.2f} s   (same distribution, 1/{days} draws)")
    print(f"baseline  path-by-path loop     {naive_extrapolated:8.2f} s   "
          f"EXTRAPOLATED from {naive_paths:,} paths measured in {t_naive:.2f} s")  # fmt: skip
    total = float(exposures.sum())
    for level in (0.95, 0.99):
        print(
            f"  {level:.0%}: VaR {an.var(losses, level):16,.0f}  ES "
            f"{an.expected_shortfall(losses, level):16,.0f}  "
            f"(aggregate VaR {an.var(losses_agg, level):16,.0f}; book {total:,.0f})"
        )

    # ---- part 2: probability of ruin
    book = make_book(accounts, 5, instruments, args.seed + 2)
    res, t_ruin = timed(
        an.ruin_probability, book, model, horizon_days=days, n_paths=ruin_paths, seed=args.seed
    )
    _, t_naive_paths, t_naive_loop = naive_ruin(
        book, model, naive_accounts, ruin_paths, days, args.seed
    )
    naive_ruin_extrapolated = t_naive_paths + t_naive_loop * accounts / naive_accounts
    print(f"\n## probability of ruin (any day): {accounts:,} accounts x 5 positions, "
          f"{ruin_paths:,} paths x {days} days")  # fmt: skip
    print(f"measured  bucketed gather+matmul {t_ruin:8.2f} s   goal <= {GOAL_SECONDS:.0f} s  "
          f"{'MET' if t_ruin <= GOAL_SECONDS else 'MISSED'}")  # fmt: skip
    print(f"baseline  account-by-account    {naive_ruin_extrapolated:8.2f} s   EXTRAPOLATED: "
          f"price paths {t_naive_paths:.2f} s once + account loop {t_naive_loop:.2f} s for "
          f"{naive_accounts:,} accounts scaled to {accounts:,}")  # fmt: skip
    p = res.probability
    print(
        f"  accounts with P(ruin) > 0: {int((p > 0).sum()):,}; > 1%: {int((p > 0.01).sum()):,}; "
        f"max {p.max():.3f}; desk expected credit loss {res.credit_loss.mean():,.0f}, "
        f"99% {an.var(res.credit_loss, 0.99):,.0f}"
    )
    print(f"\npeak RSS {peak_rss_mib():,.0f} MiB; load average after {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
