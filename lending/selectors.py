"""Reads for lending pages, API and reports. Investors see only their own records; staff see
what their role's view permission allows."""

from django.db.models import QuerySet

from accounts.errors import NotFound
from compliance.models import HeldDeposit

from .models import ContractStatus, CreditApplication, CreditContract
from .models.credit import OPEN_APPLICATION_STATUSES


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
