"""Issue 15, "one place for each rule": the margin lines and the financing margin ratio of an
account without a contract come only from the dated regulator parameter table, through
lending.credit.selectors (lines_in_force, financing_margin_ratio_in_force), on the valuation
day; a missing parameter raises, there is no fallback value."""

from datetime import date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from compliance import parameters as P
from compliance import services as compliance_services
from compliance.models import RegulatoryParameter
from compliance.selectors import ParameterMissing
from lending.credit import selectors as credit_selectors
from lending.credit import services as credit
from lending.domain import margin
from lending.financing.valuation import account_view
from lending.margin_calls import services as calls
from lending.mtm import book_arrays
from reports import selectors as report_selectors
from tests.lending.margin_lines import LINES

pytestmark = pytest.mark.django_db

SHANGHAI = ZoneInfo("Asia/Shanghai")


def _parameter_add(key: str, effective_from: date, value: str) -> None:
    compliance_services.parameter_add(
        key=key,
        effective_from=effective_from,
        value=Decimal(value),
        source="test: the desk moved a line",
        actor=None,
    )


@pytest.fixture
def bare_account(make_investor):
    """An open credit account without any contract."""
    investor = make_investor()
    return credit.credit_account_open(
        investor=investor, account_name=investor.real_name, actor=None
    )


def test_the_selectors_read_the_dated_table():
    # seeded history (compliance/parameters.py): the DOMAIN.md lines since 2010-03-31
    assert credit_selectors.lines_in_force(date(2024, 6, 3)) == LINES
    fmr = credit_selectors.financing_margin_ratio_in_force
    assert fmr(date(2015, 11, 22)) == Decimal("0.50")
    assert fmr(date(2015, 11, 23)) == Decimal("1.00")
    assert fmr(date(2023, 9, 8)) == Decimal("0.80")  # not the 1.00 once hard-coded
    assert fmr(date(2026, 1, 18)) == Decimal("0.80")
    assert fmr(date(2026, 1, 19)) == Decimal("1.00")
    with pytest.raises(TypeError):  # a day, not an instant: the caller picks the local day
        credit_selectors.lines_in_force(timezone.now())


def test_a_contract_less_account_is_valued_with_the_lines_in_force_on_the_valuation_day(
    bare_account,
):
    today = timezone.localdate()
    changed_on = today - timedelta(days=10)
    _parameter_add(P.WARNING_LINE, changed_on, "1.45")
    _parameter_add(P.WITHDRAWAL_LINE, changed_on, "3.20")
    moved = margin.MarginLines(
        warning=Decimal("1.45"), call=LINES.call, target=LINES.target, withdrawal=Decimal("3.20")
    )

    # now: the new rows are in force
    view = account_view(bare_account)
    assert view.contract is None
    assert view.lines == moved
    assert view.financing_margin_ratio == Decimal("1.00")  # in force since 2026-01-19

    # as of a day before the change: the lines then, and the 80% ratio of 2023-09-08..2026-01-18
    before = datetime.combine(changed_on - timedelta(days=1), datetime.min.time(), SHANGHAI)
    assert account_view(bare_account, as_of=before).lines == LINES
    old = datetime(2025, 6, 2, 15, tzinfo=SHANGHAI)
    assert account_view(bare_account, as_of=old).financing_margin_ratio == Decimal("0.80")

    # the mark-to-market loader: read once for the load, on the day asked
    loaded = book_arrays.load_book(credit_account_ids=[bare_account.pk])
    assert not loaded.has_active_contract[0]
    assert loaded.lines.warning[0] == pytest.approx(1.45)
    assert loaded.lines.withdrawal[0] == pytest.approx(3.20)
    assert loaded.lines.financing_margin_ratio[0] == pytest.approx(1.00)
    earlier = book_arrays.load_book(credit_account_ids=[bare_account.pk], on=date(2025, 6, 2))
    assert earlier.lines.warning[0] == pytest.approx(1.40)
    assert earlier.lines.financing_margin_ratio[0] == pytest.approx(0.80)

    # the margin-call state machine: 142% is under the moved warning line (it was not under 140%)
    assert calls.lines_for(bare_account, on=today) == moved
    transition = calls.margin_state_apply(
        credit_account=bare_account,
        ratio=Decimal("1.42"),
        total_assets=Decimal("142000.00"),
        total_liabilities=Decimal("100000.00"),
        valued_at=timezone.now(),
    )
    assert transition.to_state == "warning"

    # the filings' book read
    row = next(
        r
        for r in report_selectors.book_as_of(timezone.now())
        if r.credit_account_id == bare_account.pk
    )
    assert (row.warning, row.withdrawal) == (Decimal("1.45"), Decimal("3.20"))


def test_a_missing_parameter_raises(bare_account, funded_account):
    with pytest.raises(ParameterMissing):  # before the table's first row
        credit_selectors.lines_in_force(date(2009, 12, 31))
    with pytest.raises(ParameterMissing):
        credit_selectors.financing_margin_ratio_in_force(date(2009, 12, 31))

    with_contract = funded_account()
    RegulatoryParameter.objects.filter(key=P.CALL_LINE).delete()
    with pytest.raises(ParameterMissing, match=P.CALL_LINE):
        credit_selectors.lines_in_force(timezone.localdate())
    with pytest.raises(ParameterMissing):
        account_view(bare_account)
    with pytest.raises(ParameterMissing):
        book_arrays.load_book(credit_account_ids=[bare_account.pk])
    with pytest.raises(ParameterMissing):
        calls.lines_for(bare_account, on=timezone.localdate())
    # an account with a contract keeps the lines signed into it: nothing to read
    assert account_view(with_contract).lines == LINES
    assert book_arrays.load_book(credit_account_ids=[with_contract.pk]).lines.call[0] == 1.30

    RegulatoryParameter.objects.filter(key=P.FINANCING_MARGIN_RATIO).delete()
    with pytest.raises(ParameterMissing, match=P.FINANCING_MARGIN_RATIO):
        credit_selectors.financing_margin_ratio_in_force(timezone.localdate())
