"""Risk runs at the service level, on accounts built through the real services: the stress
figures of a 5x account by hand, Monte Carlo figures equal to calling lending.domain.analytics with
the run's seed, the reserve target proposed and adopted, permissions and idempotent execution."""

from decimal import Decimal

import numpy as np
import pytest

from accounts.errors import PermissionDenied, ValidationFailed
from custody import selectors as custody_selectors
from custody import services as custody_services
from lending.domain import analytics as an
from lending.domain.margin import to_money
from lending.models import RiskRun
from lending.risk import services as risk

pytestmark = pytest.mark.django_db

MARKET_ONLY = [
    {"name": "market -20%", "market_move": -0.20},
    {"name": "market -30%", "market_move": -0.30},
]

# five_x (the 5x account): tests/lending/conftest.py


def executed(kind, actor, **kwargs):
    run = risk.risk_run_start(kind=kind, actor=actor, reason="desk review", **kwargs)
    return risk.risk_run_execute(run_id=run.pk)


def test_minus_20_percent_wipes_out_the_5x_account_by_hand(five_x, staff):
    run = executed("stress", staff["risk"], parameters={"scenarios": MARKET_ONLY, "history": ""})
    assert run.status == "succeeded" and run.accounts_valued == 1
    minus_20, minus_30 = run.results["scenarios"]
    row = minus_20["accounts"][0]
    assert row["account_number"] == five_x.account_number
    assert row["ratio_before"] == "1.250000"
    # -20%: assets 5,000 x 36 + 30,000 x 4 = 300,000.00 = debt: ratio 100%, equity 0, wiped out,
    # nothing beyond the assets yet
    assert row["assets"] == "300000.00" and row["liabilities"] == "300000.00"
    assert row["ratio"] == "1.000000" and row["equity"] == "0.00"
    assert row["wiped_out"] is True and row["state"] == "call"
    assert row["shortfall"] == "0.00"
    assert minus_20["under_line"] == {"target": 1, "warning": 1, "call": 1, "under_100": 0}
    assert minus_20["wiped_out"] == 1 and minus_20["total_shortfall"] == "0.00"
    # -30%: assets 375,000 x 0.7 = 262,500.00: shortfall 37,500.00 beyond the assets
    row = minus_30["accounts"][0]
    assert row["ratio"] == "0.875000" and row["shortfall"] == "37500.00"
    assert row["equity"] == "-37500.00" and minus_30["under_line"]["under_100"] == 1
    assert run.total_shortfall == run.stressed_loss == Decimal("37500.00")


def test_sector_haircut_liquidity_and_history(five_x, funded_account, staff):
    # cash 800,000 + 2,000 x 45 + 30,000 x 5 = 1,040,000.00 for 300,000.00 of debt
    healthy = funded_account()
    run = executed(
        "stress",
        staff["risk"],
        parameters={
            "scenarios": [
                {"name": "other A-shares -20%", "sector_moves": {"other_a_share": -0.2}},
                {"name": "haircuts halved", "haircut_shock": 0.5},
                {"name": "fire sale", "market_move": -0.2, "liquidity_discount": 0.1},
            ]
        },
    )
    sector, haircut, fire = run.results["scenarios"]
    by_number = {r["account_number"]: r for r in sector["accounts"]}
    # only SZSE:000001 is "other_a_share": 225,000 + 30,000 x 4 = 345,000.00
    assert by_number[five_x.account_number]["ratio"] == "1.150000"
    # haircuts move no price: ratios unchanged
    assert {r["ratio"] for r in haircut["accounts"]} == {"1.250000", f"{1040000 / 300000:.6f}"}
    # a forced sale 10% below the -20% price: 300,000 x 0.9 = 270,000 for 300,000 of debt
    fire_rows = {r["account_number"]: r for r in fire["accounts"]}
    assert fire_rows[five_x.account_number]["shortfall"] == "30000.00"
    assert fire["total_shortfall"] == "30000.00" and fire["reserve_coverage"] == "0.000000"
    replay = run.results["replay"]
    assert replay["name"] == "crash_2015_style" and replay["days"] == 30
    assert len(replay["desk_shortfall"]) == 30 and replay["wiped_out"] >= 1
    worst = replay["accounts"][0]
    assert worst["account_number"] == five_x.account_number and worst["first_call_day"] == 1
    assert healthy.account_number in {r["account_number"] for r in replay["accounts"]}
    assert run.stressed_loss == max(
        Decimal(fire["total_shortfall"]), Decimal(replay["max_desk_shortfall"])
    )


def test_monte_carlo_var_and_es_equal_analytics_with_the_same_seed(five_x, funded_account, staff):
    funded_account()
    params = {"n_paths": 300, "horizon_days": 5, "performance_accounts": 1, "performance_days": 3}
    run = executed("monte_carlo", staff["risk"], parameters=params, seed=20260601)
    assert run.status == "succeeded" and run.seed == 20260601
    # the same computation, straight from lending.domain.analytics
    book = risk.load_book()
    model = risk.factor_model(book, run.parameters)
    ruin = an.ruin_probability(book.book, model, horizon_days=5, n_paths=300, seed=20260601)
    market = an.simulate_losses(
        risk.exposures(book), model, horizon_days=5, n_paths=300, seed=20260601
    )
    assert run.var_95 == to_money(an.var(ruin.credit_loss, 0.95))
    assert run.var_99 == to_money(an.var(ruin.credit_loss, 0.99))
    assert run.es_95 == to_money(an.expected_shortfall(ruin.credit_loss, 0.95))
    assert run.es_99 == to_money(an.expected_shortfall(ruin.credit_loss, 0.99))
    assert run.expected_loss == to_money(ruin.credit_loss.mean())
    stored = run.results["market_loss"]
    assert stored["var_99"] == str(to_money(an.var(market, 0.99)))
    assert stored["es_95"] == str(to_money(an.expected_shortfall(market, 0.95)))
    assert Decimal(stored["var_95"]) > 0  # a real distribution, not all zeros
    worst = run.results["ruin"]["worst"][0]
    assert worst["account_number"] == five_x.account_number
    index = int(np.flatnonzero(book.credit_account_ids == five_x.pk)[0])
    assert worst["ruin_probability"] == f"{ruin.probability[index]:.6f}"
    assert sum(h["paths"] for h in run.results["credit_loss"]["histogram"]) == 300
    perf = run.results["performance"][0]
    assert perf["account_number"] == five_x.account_number and perf["observations"] <= 3


def test_the_target_is_sized_from_both_kinds_and_written_to_custody_once_adopted(five_x, staff):
    custody_services.reserve_fund_contribute(
        amount=Decimal("15000"),
        currency="CNY",
        actor=None,
        reason="test",
        idempotency_key="reserve-risk-1",
    )
    stress = executed(
        "stress",
        staff["risk"],
        parameters={"scenarios": MARKET_ONLY, "history": "", "stressed_weight": "1.2"},
    )
    # target = 1 x 0 (no Monte Carlo run yet) + 1.2 x 37,500.00
    assert stress.reserve_target == Decimal("45000.00")
    assert stress.reserve_balance == Decimal("15000.00")
    assert stress.reserve_adequacy == Decimal("0.333333")
    risk.risk_run_target_adopt(run=stress, actor=staff["risk2"], reason="reviewed")
    adequacy = custody_selectors.reserve_adequacy(currency="CNY")
    assert adequacy.target == Decimal("45000.00") and adequacy.reserve == Decimal("15000.00")
    assert stress.results["scenarios"][1]["reserve_coverage"] == "0.400000"

    mc = executed("monte_carlo", staff["risk"], parameters={"n_paths": 200}, seed=1)
    assert mc.stressed_loss == Decimal("37500.00")  # from the stress run, weight 1 now
    assert mc.reserve_target == mc.expected_loss + Decimal("37500.00")
    assert mc.results["reserve"]["other_run_id"] == stress.pk
    assert custody_selectors.reserve_adequacy(currency="CNY").target == stress.reserve_target
    risk.risk_run_target_adopt(run=mc, actor=staff["risk2"], reason="reviewed")
    assert custody_selectors.reserve_adequacy(currency="CNY").target == mc.reserve_target


def test_only_the_risk_role_starts_runs_and_execution_is_idempotent(five_x, staff):
    for role in ("ops", "compliance", "auditor"):
        with pytest.raises(PermissionDenied):
            risk.risk_run_start(kind="stress", actor=staff[role], reason="try")
    with pytest.raises(ValidationFailed) as bad:
        risk.risk_run_start(kind="stress", actor=staff["risk"], reason="x", parameters={"top_n": 0})
    assert bad.value.extra == {"field": "top_n"}
    with pytest.raises(ValidationFailed):
        risk.risk_run_start(kind="stress", actor=staff["risk"], reason=" ")
    # a scenario moves prices by at most +100% (and at least -100%)
    for scenario, where in (
        ({"name": "boom", "market_move": 5}, "scenarios[0].market_move"),
        ({"name": "tech", "sector_moves": {"etf": 1.5}}, "scenarios[0].sector_moves.etf"),
    ):
        with pytest.raises(ValidationFailed, match="must be at most 1") as bad:
            risk.risk_run_start(
                kind="stress", actor=staff["risk"], reason="x", parameters={"scenarios": [scenario]}
            )
        assert bad.value.extra == {"field": where}
    run = risk.risk_run_start(
        kind="stress", actor=staff["risk"], reason="morning check", parameters={"history": ""}
    )
    assert run.status == "pending" and run.seed is not None
    assert run.parameters["scenarios"][0] == {
        "name": "market -10%",
        "market_move": -0.1,
        "sector_moves": {},
        "haircut_shock": 0.0,
        "liquidity_discount": 0.0,
    }
    first = risk.risk_run_execute(run_id=run.pk)
    again = risk.risk_run_execute(run_id=run.pk)  # a redelivered task
    assert first.status == again.status == "succeeded"
    assert again.finished_at == first.finished_at
    history = RiskRun.history.filter(id=run.pk).order_by("history_id")
    assert [h.status for h in history] == ["pending", "running", "succeeded"]
    assert {h.history_user for h in history} == {staff["risk"]}


def test_the_task_runs_the_service(five_x, staff):
    from lending.tasks import risk_run_execute

    run = risk.risk_run_start(
        kind="stress", actor=staff["risk"], reason="task", parameters={"history": ""}
    )
    assert risk_run_execute.apply(args=[run.pk]).get() == "succeeded"


def test_performance_from_mark_to_market_snapshots(five_x, staff):
    from datetime import timedelta

    from django.utils import timezone

    from lending.models import MtmRun, MtmShard, MtmSnapshot

    equity = [75000.0, 82500.0, 70000.0, 90000.0]
    now = timezone.now()
    for n, e in enumerate(equity):
        at = now - timedelta(days=len(equity) - n)
        run = MtmRun.objects.create(kind="full", status="succeeded", started_at=at, finished_at=at)
        MtmShard.objects.create(run=run, shard=0, id_from=five_x.pk, id_to=five_x.pk + 1)
        MtmSnapshot.objects.create(
            run=run, shard=0, accounts=[five_x.pk], ratios=[float("inf")], assets=[e + 300000],
            liabilities=[300000.0], states=[0], stored_states=[0],
        )  # fmt: skip
    history = risk.snapshot_equity([five_x.pk], days=10)[five_x.pk]
    assert [str(e) for _d, e in history] == ["75000.00", "82500.00", "70000.00", "90000.00"]
    perf = risk.account_performance(five_x, days=10, history=history)
    expected = an.performance(np.array(equity))
    assert perf["source"] == "mark-to-market snapshots" and perf["observations"] == 4
    assert perf["sharpe"] == f"{expected.sharpe:.4f}"
    assert perf["sortino"] == f"{expected.sortino:.4f}"
    assert perf["max_drawdown"] == f"{1 - 70000 / 82500:.4f}"
