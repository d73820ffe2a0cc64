"""Common: locks."""

from __future__ import annotations

from django.utils.translation import gettext as _

from accounts.errors import RuleViolation
from custody import services as custody
from lending.credit.models import CreditAccount, CreditAccountStatus


def credit_account_lock(credit_account: CreditAccount) -> CreditAccount:
    """investor -> credit account, in the desk's lock order."""
    custody.investor_lock(credit_account.investor)
    return CreditAccount.objects.select_for_update(of=("self",)).get(pk=credit_account.pk)


def open_credit_account_lock(credit_account: CreditAccount) -> CreditAccount:
    account = credit_account_lock(credit_account)
    if account.status != CreditAccountStatus.OPEN:
        raise RuleViolation(
            _("credit_account: %(number)s is %(status)s")
            % {"number": account.account_number, "status": account.get_status_display()},
            code="account_closed",
            extra={"field": "credit_account"},
        )
    return account
