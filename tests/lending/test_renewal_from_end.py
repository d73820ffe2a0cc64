"""A credit contract renews from its end date, never to more than 6 months (dated
credit.max_term_months) after it (DOMAIN.md "Credit contracts" and "Maturity and extension").

A contract signed on S for 6 months ends on E = S + 6 months. A renewal of 6 months approved
on any day ends on E + 6 months: approved early, it does not start from the approval day; approved
late (the contract has ended), it does not either; approved so late that E + 6 months has passed,
it is refused (a new application is needed)."""

from datetime import date

import pytest

from accounts.errors import RuleViolation
from compliance import calendar
from compliance import selectors as compliance_selectors
from lending.credit import services as credit
from tests.lending.test_credit import apply, prepare

pytestmark = pytest.mark.django_db


def renewal(contract, staff, months=6):
    application = credit.credit_renewal_apply(
        contract=contract, requested_term_months=months, actor=contract.investor.user
    )
    return prepare(application, staff["ops2"], proposed_term_months=months)


@pytest.fixture
def contract(make_investor, make_eligible, staff):
    from compliance import parameters as P
    from compliance import services as compliance_services

    # approvals months later would find the eligibility check of today out of date (30 days):
    # the desk's dated validity is lengthened from today, as staff would, to isolate the rule
    compliance_services.parameter_add(
        key=P.ELIGIBILITY_CHECK_VALIDITY_DAYS,
        effective_from=compliance_selectors.today(),
        value=400,
        source="test: approvals months after the eligibility check",
        actor=None,
    )
    investor = make_eligible(make_investor())
    return credit.credit_application_approve(
        application=prepare(apply(investor), staff["ops"]), actor=staff["risk"], reason="ok"
    )


def test_an_early_renewal_runs_from_the_end_date(contract, staff):
    signed = contract.signed_on
    end = calendar.add_months(signed, 6)
    assert contract.ends_on == end
    # approved the day the contract is signed, 6 months before its end
    renewed = credit.credit_application_approve(
        application=renewal(contract, staff), actor=staff["risk2"], reason="early renewal"
    )
    assert renewed.ends_on == calendar.add_months(end, 6)
    assert renewed.renewal_count == 1


def test_a_renewal_approved_after_the_end_does_not_stretch_the_contract(contract, staff):
    end = contract.ends_on
    today = compliance_selectors.today()
    application = renewal(contract, staff)
    # approved 10 days after the end: E + 6 months, not the approval day + 6 months
    late = date.fromordinal(end.toordinal() + 10)
    assert late > today
    renewed = credit.credit_application_approve(
        application=application, actor=staff["risk2"], reason="late renewal", signed_on=late
    )
    assert renewed.ends_on == calendar.add_months(end, 6)
    assert renewed.ends_on < calendar.add_months(late, 6)


def test_a_renewal_too_late_to_reach_past_the_approval_is_refused(contract, staff):
    end = contract.ends_on
    application = renewal(contract, staff)
    too_late = date.fromordinal(calendar.add_months(end, 6).toordinal() + 1)
    with pytest.raises(RuleViolation) as refused:
        credit.credit_application_approve(
            application=application, actor=staff["risk2"], reason="late", signed_on=too_late
        )
    assert refused.value.code == "renewal_too_late"
    contract.refresh_from_db()
    assert contract.ends_on == end and contract.renewal_count == 0
