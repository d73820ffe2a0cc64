"""Reads for lending pages, API and reports. Investors see only their own records; staff see
what their role's view permission allows."""

from __future__ import annotations

from django.db.models import QuerySet

from accounts.errors import NotFound
from compliance.models import HeldDeposit
from lending.credit.models import (
    OPEN_APPLICATION_STATUSES,
    ContractStatus,
    CreditAccount,
    CreditApplication,
    CreditContract,
)


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
        raise NotFound("application: not found")
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
        raise NotFound("contract: not found")
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
        raise NotFound("credit account: not found")
    return account
