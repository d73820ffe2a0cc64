"""lending.domain.analytics: stress, historical replay, Monte Carlo (VaR / ES against closed forms,
probability of ruin), performance and reserve figures, worked by hand where possible."""

import math
from decimal import Decimal as D
from statistics import NormalDist

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lending.domain import analytics as an
from lending.domain import margin as m
from tests.lending.margin_lines import LINES

Z = NormalDist()


def stress(book: m.BookArrays, scenario: an.Scenario, **kwargs) -> an.StressResult:
    """stress_test under the DOMAIN.md lines and a 100% financing margin ratio."""
    return an.stress_test(book, scenario, lines=LINES, financing_margin_ratio=1.0, **kwargs)


def leveraged_book() -> m.BookArrays:
    """Account 0: own capital 100,000 at 5x: 50,000 sh of instrument 0 at 10.00 = 500,000,
    financed 400,000. Account 1: no debt, 1,000 sh of instrument 1 (sector 1) at 20.00.
    Account 2: 100,000 own + 100,000 borrowed in instrument 1 (10,000 sh at 20.00)."""
    return m.BookArrays(
        account=[0, 1, 2],
        quantity=[50_000, 1_000, 10_000],
        price=[10.0, 20.0, 20.0],
        haircut=[0.7, 0.7, 0.7],
        financed=[400_000, 0, 100_000],
        cash=[0, 0, 0],
        debt=[400_000, 0, 100_000],
        interest_fees=[0, 0, 0],
        instrument=[0, 1, 1],
    )


SECTORS = np.array([0, 1])


# =========================================================================== stress


def test_minus_20_percent_wipes_out_a_5x_account():
    res = stress(leveraged_book(), an.MARKET_SCENARIOS[1])
    # 500,000 * 0.8 = 400,000 of assets against 400,000 of debt: ratio 1.00, equity 0
    assert res.ratio[0] == pytest.approx(1.0)
    assert res.equity[0] == pytest.approx(0.0, abs=1e-6)
    assert res.wiped_out[0]
    assert res.shortfall[0] == pytest.approx(0.0, abs=1e-6)
    assert m.STATE_BY_CODE[res.state[0]] is m.MarginState.CALL
    # account 2: 160,000 / 100,000 = 1.6 -> normal; account 1 has no debt
    assert res.ratio[2] == pytest.approx(1.6) and res.ratio[1] == np.inf
    assert not res.wiped_out[1] and not res.wiped_out[2]
    assert res.under_line == {"target": 1, "warning": 1, "call": 1, "100%": 0}


def test_market_scenarios_by_hand():
    book = leveraged_book()
    r10, r30 = (stress(book, s) for s in (an.MARKET_SCENARIOS[0], an.MARKET_SCENARIOS[2]))
    # -10%: 450,000 / 400,000 = 1.125, equity 50,000
    assert r10.ratio[0] == pytest.approx(1.125) and r10.equity[0] == pytest.approx(50_000)
    assert not r10.wiped_out[0] and r10.total_shortfall == 0
    # -30%: 350,000 / 400,000 = 0.875, equity -50,000, shortfall 50,000
    assert r30.ratio[0] == pytest.approx(0.875) and r30.wiped_out[0]
    assert r30.shortfall[0] == pytest.approx(50_000)
    assert r30.total_shortfall == pytest.approx(50_000)
    # account 2 at -30%: 140,000 / 100,000 = 1.4, under the target, not under the call line
    # (exactly on the warning line: float screening, see lending.domain.margin, so not asserted)
    assert (r30.under_line["target"], r30.under_line["call"], r30.under_line["100%"]) == (2, 1, 1)


def test_liquidity_discount_creates_shortfall():
    s = an.Scenario("-20% and 5% liquidation discount", market_move=-0.20, liquidity_discount=0.05)
    res = stress(leveraged_book(), s)
    # sells 400,000 of stock at 95% = 380,000 against 400,000 of debt: 20,000 short
    assert res.shortfall[0] == pytest.approx(20_000)
    assert res.ratio[0] == pytest.approx(1.0)  # the ratio is at mark prices


def test_sector_shock_hits_only_its_sector():
    s = an.Scenario("sector 1 -50%", sector_moves={1: -0.5})
    res = stress(leveraged_book(), s, instrument_sector=SECTORS)
    assert res.ratio[0] == pytest.approx(500_000 / 400_000)  # sector 0 untouched
    # account 2: 200,000 * 0.5 = 100,000 / 100,000 -> 1.0, wiped out
    assert res.ratio[2] == pytest.approx(1.0) and res.wiped_out[2]
    both = an.Scenario("market -10% and sector 1 -50%", market_move=-0.1, sector_moves={1: -0.5})
    res = stress(leveraged_book(), both, instrument_sector=SECTORS)
    # moves compound: 200,000 * 0.9 * 0.5 = 90,000 -> shortfall 10,000
    assert res.shortfall[2] == pytest.approx(10_000)
    with pytest.raises(ValueError):
        stress(leveraged_book(), s)  # sector moves need a sector map


def test_haircut_shock_cuts_available_margin():
    book = leveraged_book()
    base = stress(book, an.Scenario("none"))
    cut = stress(book, an.Scenario("haircuts -50%", haircut_shock=0.5))
    # account 2: (200,000 - 100,000) * 0.7 - 100,000 = -30,000; haircut 0.35: -65,000
    assert base.available_margin[2] == pytest.approx(-30_000)
    assert cut.available_margin[2] == pytest.approx(-65_000)
    # account 1 (collateral only): 20,000 * 0.7 = 14,000 -> 7,000
    assert cut.available_margin[1] == pytest.approx(7_000)


def test_replay_history_day_by_day():
    returns = np.array([[-0.10, 0.0], [-0.10, 0.0], [0.05, 0.0]])
    res = an.replay_history(leveraged_book(), returns, lines=LINES)
    # account 0: 500,000 -> 450,000 (1.125, under the call line on day 1) -> 405,000 (1.0125)
    # -> 425,250 (1.063125)
    assert res.first_call_day[0] == 1 and res.first_call_day[2] == 0
    assert res.min_ratio[0] == pytest.approx(1.0125)
    assert res.final_ratio[0] == pytest.approx(1.063125)
    assert not res.wiped_out[0]
    np.testing.assert_array_equal(res.accounts_in_call, [1, 1, 1])
    np.testing.assert_allclose(res.desk_shortfall, [0, 0, 0], atol=1e-6)
    crash = an.replay_history(leveraged_book(), np.array([[-0.3, 0.0], [0.5, 0.0]]), lines=LINES)
    # day 1: 350,000 vs 400,000 -> shortfall 50,000 and wiped out, even though day 2 recovers
    assert crash.max_shortfall[0] == pytest.approx(50_000) and crash.wiped_out[0]
    assert crash.final_ratio[0] == pytest.approx(525_000 / 400_000)


# =========================================================================== VaR / ES


def test_var_and_es_golden():
    losses = np.arange(1, 101, dtype=float)  # 1..100
    # 95% VaR: the 95th smallest loss = 95; ES: mean(95..100) = 97.5
    assert an.var(losses, 0.95) == 95
    assert an.expected_shortfall(losses, 0.95) == 97.5
    assert an.var(losses, 0.99) == 99 and an.expected_shortfall(losses, 0.99) == 99.5
    with pytest.raises(ValueError):
        an.var(losses, 1.0)


@settings(max_examples=100, deadline=None)
@given(
    st.lists(st.floats(min_value=-1e12, max_value=1e12, allow_nan=False), min_size=1, max_size=300),
    st.floats(min_value=0.5, max_value=0.999),
)
def test_expected_shortfall_is_never_below_var(losses, level):
    arr = np.array(losses)
    v, es = an.var(arr, level), an.expected_shortfall(arr, level)
    assert es >= v
    assert arr.min() <= v <= arr.max()


def single_position_model(vol: float = 0.02) -> an.FactorModel:
    # market part 0.012 and idiosyncratic 0.016: total sqrt(0.012^2 + 0.016^2) = 0.02
    return an.FactorModel(
        beta=[1.0],
        sector=[0],
        sector_loading=[0.0],
        idio_vol=[0.016 * vol / 0.02],
        market_vol=0.012 * vol / 0.02,
        sector_vol=[0.0],
    )


def test_monte_carlo_var_of_a_normal_position_matches_closed_form():
    x, sigma, h = 1_000_000.0, 0.02, 10
    model = single_position_model(sigma)
    assert model.daily_variance()[0] == pytest.approx(sigma**2, rel=1e-6)
    losses = an.simulate_losses(
        np.array([x]), model, horizon_days=h, n_paths=200_000, seed=7, returns="arithmetic"
    )
    s = x * sigma * math.sqrt(h)  # loss ~ N(0, s^2), s = 63,245.55
    for level in (0.95, 0.99):
        z = Z.inv_cdf(level)
        # closed form: VaR = s z (99%: 147,129); ES = s phi(z) / (1 - level) (99%: 168,502)
        # tolerance 2%: the standard error of the 99% quantile at 200,000 paths is ~0.4%
        assert an.var(losses, level) == pytest.approx(s * z, rel=0.02)
        es = s * Z.pdf(z) / (1 - level)
        assert an.expected_shortfall(losses, level) == pytest.approx(es, rel=0.02)
    assert losses.mean() == pytest.approx(0.0, abs=3 * s / math.sqrt(200_000) * 1.5)


def test_monte_carlo_log_returns_match_lognormal_quantile():
    x, sigma, h = 1_000_000.0, 0.02, 10
    losses = an.simulate_losses(
        np.array([x]), single_position_model(sigma), horizon_days=h, n_paths=200_000, seed=11
    )
    # loss = x (1 - exp(sigma sqrt(h) Z)): VaR_99 = x (1 - exp(-sigma sqrt(h) z_99)) = 137,146
    z = Z.inv_cdf(0.99)
    closed_form = x * (1 - math.exp(-sigma * math.sqrt(h) * z))
    assert an.var(losses, 0.99) == pytest.approx(closed_form, rel=0.02)


def test_covariance_model_portfolio_var():
    cov = np.array([[0.02**2, 0.5 * 0.02 * 0.03], [0.5 * 0.02 * 0.03, 0.03**2]])
    x = np.array([600_000.0, -200_000.0])  # long one, short the other
    losses = an.simulate_losses(
        x, an.CovarianceModel(cov), horizon_days=5, n_paths=200_000, seed=3, returns="arithmetic"
    )
    # portfolio daily variance x' cov x = 144 + 36 - 72 (x 1e6) = 108e6 -> s = sqrt(5 * 108e6)
    s = math.sqrt(5 * float(x @ cov @ x))
    assert an.var(losses, 0.99) == pytest.approx(s * Z.inv_cdf(0.99), rel=0.02)


def test_daily_and_aggregate_agree_and_seeds_reproduce():
    rng = np.random.default_rng(0)
    n = 50
    model = an.FactorModel(
        beta=rng.uniform(0.5, 1.5, n),
        sector=rng.integers(0, 4, n),
        sector_loading=np.ones(n),
        idio_vol=np.full(n, 0.015),
        market_vol=0.01,
        sector_vol=[0.005, 0.006, 0.007, 0.008],
    )
    x = rng.uniform(1e4, 1e5, n)
    daily = an.simulate_losses(x, model, n_paths=40_000, seed=5, returns="arithmetic")
    agg = an.simulate_losses(
        x, model, n_paths=40_000, seed=6, returns="arithmetic", method="aggregate"
    )
    s = math.sqrt(10 * float(x @ (x * model.daily_variance())) + 10 * _factor_cross(model, x))
    assert daily.std() == pytest.approx(s, rel=0.02) and agg.std() == pytest.approx(s, rel=0.02)
    # same seed and chunking, same paths (the paths depend on chunk_paths too)
    again = an.simulate_losses(x, model, n_paths=40_000, seed=5, returns="arithmetic")
    np.testing.assert_array_equal(again, daily)
    other = an.simulate_losses(x, model, n_paths=40_000, seed=9, returns="arithmetic")
    assert not np.array_equal(other, daily)


def _factor_cross(model: an.FactorModel, x: np.ndarray) -> float:
    """Covariance terms of the factor model (off-diagonal): market and shared sectors."""
    mk = (x * model.beta * model.market_vol).astype(float)
    total = mk.sum() ** 2 - (mk**2).sum()
    sec = (x * model.sector_loading * model.sector_vol[model.sector]).astype(float)
    for k in np.unique(model.sector):
        v = sec[model.sector == k]
        total += v.sum() ** 2 - (v**2).sum()
    return float(total)


def test_standard_normals_are_standard():
    z = an.standard_normal_f32(np.random.default_rng(1), (400_001,))
    assert z.dtype == np.float32 and z.shape == (400_001,)
    assert abs(z.mean()) < 0.01 and z.std() == pytest.approx(1.0, abs=0.01)
    # tail mass beyond 2.326 on each side ~ 1%
    assert (z > 2.326).mean() == pytest.approx(0.01, abs=0.0015)
    assert (z < -2.326).mean() == pytest.approx(0.01, abs=0.0015)


# =========================================================================== ruin


def ruin_book() -> m.BookArrays:
    """0: 1,000 sh at 105 = 105,000 against 100,000 debt (ratio 1.05). 1: the same holding
    split in two rows. 2: no debt. 3: debt and no positions, cash below the debt. 4: 300%."""
    return m.BookArrays(
        account=[0, 1, 1, 2, 4],
        quantity=[1_000, 400, 600, 1_000, 1_000],
        price=[105.0, 105.0, 105.0, 105.0, 105.0],
        haircut=[0.7] * 5,
        financed=[0.0] * 5,
        cash=[0, 0, 0, 50_000, 0],
        debt=[100_000, 100_000, 0, 60_000, 35_000],
        interest_fees=[0, 0, 0, 0, 0],
        instrument=[0, 0, 0, 0, 0],
    )


def test_ruin_probability_matches_closed_form_at_horizon():
    sigma, h = 0.02, 10
    res = an.ruin_probability(
        ruin_book(), single_position_model(sigma), horizon_days=h, n_paths=20_000, seed=4,
        at_any_day=False, chunk_paths=1_000,
    )  # fmt: skip
    # ruin at the horizon iff 105,000 exp(sigma sqrt(h) Z) <= 100,000
    # P = Phi(ln(100/105) / (0.02 sqrt(10))) = Phi(-0.7715) = 0.2202; s.e. 0.003 at 20,000 paths
    expected = Z.cdf(math.log(100 / 105) / (sigma * math.sqrt(h)))
    assert res.probability[0] == pytest.approx(expected, abs=0.015)
    assert res.probability[1] == res.probability[0]  # same holding in two rows
    assert res.probability[2] == 0  # no debt
    assert res.probability[3] == 1  # 50,000 cash against 60,000 debt, nothing can move
    assert res.probability[4] < 1e-3  # a 65% fall in 10 days at 2% daily vol
    # desk credit loss per path: E[max(0, 100,000 - 105,000 e^{sZ})] for accounts 0 and 1,
    # plus the fixed 10,000 of account 3
    assert res.credit_loss.min() == pytest.approx(10_000, abs=1.0)
    s = sigma * math.sqrt(h)
    k = math.log(100 / 105) / s
    put = 100_000 * Z.cdf(k) - 105_000 * math.exp(s * s / 2) * Z.cdf(k - s)
    assert res.credit_loss.mean() == pytest.approx(10_000 + 2 * put, rel=0.05)


def test_ruin_at_any_day_is_at_least_ruin_at_horizon():
    kw = {"horizon_days": 10, "n_paths": 2_000, "seed": 8}
    model = single_position_model(0.02)
    anyday = an.ruin_probability(ruin_book(), model, **kw)
    horizon = an.ruin_probability(ruin_book(), model, at_any_day=False, **kw)
    # same seed, same paths: ruined at the horizon implies ruined at some day
    assert (anyday.probability >= horizon.probability).all()
    assert anyday.probability[0] > horizon.probability[0]
    # interest accrual makes ruin more likely
    accrual = an.ruin_probability(
        ruin_book(), model, daily_accrual=np.full(5, 500.0), at_any_day=False, **kw
    )
    assert accrual.probability[0] > horizon.probability[0]


def test_ruin_probability_equals_a_naive_account_loop():
    # a messy book: 1 to 4 rows per account in shuffled order, shorts, cash, accrual
    rng = np.random.default_rng(12)
    n_acc, n_inst, h, paths = 40, 6, 5, 300
    counts = rng.integers(1, 5, n_acc)
    account = np.repeat(np.arange(n_acc), counts)
    rows = account.size
    quantity = rng.integers(1, 20, rows) * 100.0 * np.where(rng.random(rows) < 0.15, -1, 1)
    price = rng.uniform(5, 50, rows)
    mv = np.bincount(account, np.abs(quantity) * price, minlength=n_acc)
    shuffle = rng.permutation(rows)
    book = m.BookArrays(
        account=account[shuffle], quantity=quantity[shuffle], price=price[shuffle],
        haircut=np.zeros(rows), financed=np.zeros(rows), cash=rng.uniform(0, 1e4, n_acc),
        debt=mv * rng.uniform(0.5, 0.95, n_acc), interest_fees=np.zeros(n_acc),
        instrument=rng.integers(0, n_inst, rows)[shuffle],
    )  # fmt: skip
    model = an.FactorModel(
        beta=np.ones(n_inst), sector=np.arange(n_inst) % 2, sector_loading=np.ones(n_inst),
        idio_vol=np.full(n_inst, 0.03), market_vol=0.02, sector_vol=[0.01, 0.02],
    )  # fmt: skip
    accrual = np.full(n_acc, 50.0)
    res = an.ruin_probability(
        book, model, horizon_days=h, n_paths=paths, seed=3, chunk_paths=paths,
        daily_accrual=accrual, block_rows=7,
    )  # fmt: skip
    # reference: the same draws (one chunk: day by day, all paths), one account at a time
    gen = np.random.default_rng(3)
    z = np.cumsum([an.standard_normal_f32(gen, (paths, model.n_factors)) for _ in range(h)], 0)
    growth = np.exp(np.stack([model.combine(zd).astype(np.float64) for zd in z]))  # (h, P, I)
    expected = np.empty(n_acc)
    for a in range(n_acc):
        equity = book.cash[a] - book.debt[a] - accrual[a] * np.arange(1, h + 1)[:, None]
        for r in np.flatnonzero(book.account == a):
            equity = equity + book.quantity[r] * book.price[r] * growth[:, :, book.instrument[r]]
        expected[a] = (equity.min(axis=0) <= 0).mean()
    assert expected.max() > 0.05  # the book does get ruined sometimes
    # float32 valuation: at most one path per account may fall on the other side of 0
    np.testing.assert_allclose(res.probability, expected, atol=1.0 / paths + 1e-12)


# =========================================================================== performance


def test_performance_golden():
    # returns +10%, -10%, +10%: mean 1/30, sample std sqrt(0.04/3) = 0.11547
    # Sharpe = (1/30) / 0.11547 * sqrt(252) = 0.288675 * 15.874508 = 4.5826
    # downside = sqrt(mean(0, 0.01, 0)) = 0.057735; Sortino = 0.57735 * 15.874508 = 9.1652
    # drawdown: peak 110, trough 99 -> 10%
    p = an.performance(np.array([100.0, 110.0, 99.0, 108.9]))
    assert p.sharpe == pytest.approx(4.5826, abs=1e-4)
    assert p.sortino == pytest.approx(9.1652, abs=1e-4)
    assert p.max_drawdown == pytest.approx(0.10)
    many = an.performance(np.array([[100.0, 110.0, 99.0, 108.9], [100.0, 100.0, 100.0, 50.0]]))
    assert many.sharpe[0] == pytest.approx(4.5826, abs=1e-4)
    assert many.max_drawdown[1] == pytest.approx(0.5)
    flat = an.performance(np.array([100.0, 100.0, 100.0]))
    assert math.isnan(flat.sharpe) and flat.max_drawdown == 0


# =========================================================================== reserve


def test_reserve_target_and_adequacy():
    # expected loss from Monte Carlo (float, converted explicitly) + stressed loss (Decimal)
    target = an.reserve_target(1_000_000.004, D("5000000.00"))
    assert target == D("6000000.00")
    weighted = an.reserve_target(D(1_000_000), D(5_000_000), stressed_weight=D("1.2"))
    assert weighted == D("7000000.00")  # 1,000,000 + 1.2 * 5,000,000
    assert an.reserve_adequacy(D("4500000"), target) == D("0.75")
    assert an.reserve_adequacy(D(1), D(0)) is None
    with pytest.raises(ValueError):
        an.reserve_target(float("nan"), D(0))
    with pytest.raises(ValueError):
        an.reserve_target(D(-1), D(0))
