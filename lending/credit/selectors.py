"""Reads of credit for pages, the API and reports: applications, contracts and the credit
accounts a user may see. Investors see only their own records; staff see what their role's
view permission allows. Also the margin lines and the financing margin ratio in force on a day
(`lines_in_force`, `financing_margin_ratio_in_force`: the dated parameter table)."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from django.db.models import QuerySet
from django.utils.translation import gettext as _

from accounts.errors import NotFound
from compliance import parameters as P
from compliance import selectors as compliance_selectors
from compliance.models import HeldDeposit
from lending.credit.models import (
    OPEN_APPLICATION_STATUSES,
    ContractStatus,
    CreditAccount,
    CreditApplication,
    CreditContract,
)
from lending.domain import margin

# --- the dated lines and financing margin ratio ---------------------------------------------
#
# The ONE place the margin lines and the financing margin ratio come from when no contract
# gives them (a contract keeps those in force when it was signed, and is signed with these):
# the regulator parameter table (compliance), dated. A missing parameter raises
# compliance.selectors.ParameterMissing: there is no fallback value anywhere. Bulk paths call
# these once per run, shard or chunk, never per account.


def _check_day(on) -> None:
    if isinstance(on, datetime) or not isinstance(on, date):
        raise TypeError(f"on: a date (the local day), got {type(on).__name__}")


def lines_in_force(on: date) -> margin.MarginLines:
    """The warning, call, target and withdrawal lines of the parameter table in force on `on`
    (four reads). Raises ParameterMissing when one has no value in force then."""
    _check_day(on)

    def value(key: str) -> Decimal:
        return compliance_selectors.parameter(key, on=on)

    return margin.MarginLines(
        warning=value(P.WARNING_LINE),
        call=value(P.CALL_LINE),
        target=value(P.TARGET_LINE),
        withdrawal=value(P.WITHDRAWAL_LINE),
    )


def financing_margin_ratio_in_force(on: date) -> Decimal:
    """The financing margin ratio of the parameter table in force on `on` (one read). Raises
    ParameterMissing when it has no value in force then."""
    _check_day(on)
    return compliance_selectors.parameter(P.FINANCING_MARGIN_RATIO, on=on)


def applications_for(user) -> QuerySet[CreditApplication]:
    qs = CreditApplication.objects.select_related(
        "investor", "contract", "prepared_by", "decided_by", "eligibility_check"
    )
    profile = getattr(user, "investor_profile", None)
    if profile is not None:
        return qs.filter(investor=profile)
    if user.is_staff and user.has_perm("lending.view_creditapplication"):
        return qs
    return qs.none()


def application_for(user, pk: int) -> CreditApplication:
    application = applications_for(user).filter(pk=pk).first()
    if application is None:
        raise NotFound(_("application: not found"))
    return application


def review_queue(user) -> QuerySet[CreditApplication]:
    return (
        applications_for(user).filter(status__in=OPEN_APPLICATION_STATUSES).order_by("submitted_at")
    )


def contracts_for(user) -> QuerySet[CreditContract]:
    qs = CreditContract.objects.select_related("investor", "credit_account", "disclosure")
    profile = getattr(user, "investor_profile", None)
    if profile is not None:
        return qs.filter(investor=profile)
    if user.is_staff and user.has_perm("lending.view_creditcontract"):
        return qs
    return qs.none()


def contract_for(user, pk: int) -> CreditContract:
    contract = contracts_for(user).filter(pk=pk).first()
    if contract is None:
        raise NotFound(_("contract: not found"))
    return contract


def active_contract_of(investor) -> CreditContract | None:
    return investor.credit_contracts.filter(status=ContractStatus.ACTIVE).first()


def held_deposits_for(user) -> QuerySet[HeldDeposit]:
    if user.is_staff and user.has_perm("compliance.view_helddeposit"):
        return HeldDeposit.objects.select_related("investor", "red_flag", "resolved_by")
    return HeldDeposit.objects.none()


def credit_accounts_for(user, *, with_investor: bool = True) -> QuerySet[CreditAccount]:
    """Investors see their own accounts; staff with view permission see all.

    The margin state rides along (one join instead of a query per account). A user who is not
    staff is filtered through the join on the investor's user, without loading the profile
    first: one query less on every account page and API call (staff never hold a profile).
    `with_investor=False` leaves the investor's profile out of the row (the filter is the
    same): for reads that show the account only, such as the account API."""
    related = ("investor", "margin_state") if with_investor else ("margin_state",)
    qs = CreditAccount.objects.select_related(*related).order_by("account_number")
    if not getattr(user, "is_authenticated", False):
        return qs.none()
    if not user.is_staff:
        return qs.filter(investor__user_id=user.pk)
    profile = getattr(user, "investor_profile", None)
    if profile is not None:
        return qs.filter(investor=profile)
    if user.is_staff and user.has_perm("lending.view_creditaccount"):
        return qs
    return qs.none()


def credit_account_for(user, pk, *, with_investor: bool = True) -> CreditAccount:
    account = credit_accounts_for(user, with_investor=with_investor).filter(pk=pk).first()
    if account is None:
        raise NotFound(_("credit account: not found"))
    return account


def credit_account_by_number(account_number: str) -> CreditAccount:
    """A credit account by its number (staff forms that name the account); NotFound naming
    the field otherwise."""
    account = (
        CreditAccount.objects.select_related("investor")
        .filter(account_number=(account_number or "").strip().upper())
        .first()
    )
    if account is None:
        raise NotFound(
            _("account_number: no credit account %(number)s") % {"number": account_number},
            extra={"field": "account_number"},
        )
    return account
