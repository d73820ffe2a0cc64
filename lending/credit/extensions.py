"""The rules an extension (展期) of a due date shares, whatever is extended (a financing,
lending.financing.maturity; a short position, lending.shorts.maturity): DOMAIN.md "Maturity and
extension".

- `extension_months`: whole months, 1 to the dated `financing.extension_max_months` (the one
  limit DOMAIN.md gives for both sides), refused naming `months`.
- `account_blockers`: why the investor does not qualify today, as far as the account tells:
  the suitability match for margin trading, an unfinished margin call, the contract not active.
  Each caller adds its own (the ratio above the warning line, the contract's end).
- `blocked`: the refusal naming every reason.
- `checker_check`: who decides a checked extension: the approve permission, a second factor,
  and not the person who checked it (four eyes; PostgreSQL checks it again).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from django.utils.translation import gettext as _

from accounts.errors import RuleViolation, ValidationFailed
from accounts.permissions import require_permission
from accounts.second_factor import require_second_factor
from compliance import parameters as P
from compliance import selectors as compliance_selectors
from lending.credit.models import ContractStatus

#: A margin call not yet finished (lending.margin_calls.models keeps the statuses): while one
#: is, nothing of the account is extended.
UNFINISHED_CALL_STATUSES = ("open", "overdue", "liquidating")


@dataclass(frozen=True)
class Blocker:
    code: str
    message: str


def extension_months(months, *, on: date) -> int:
    maximum = int(compliance_selectors.parameter(P.EXTENSION_MAX_MONTHS, on=on))
    try:
        value = int(str(months).strip())
    except (TypeError, ValueError):
        raise ValidationFailed(_("months: whole months"), extra={"field": "months"}) from None
    if not 1 <= value <= maximum:
        raise ValidationFailed(
            _("months: an extension runs 1 to %(maximum)s months from the due date")
            % {"maximum": maximum},
            extra={"field": "months", "maximum": maximum},
        )
    return value


def account_blockers(account, contract, *, on: date) -> list[Blocker]:
    """The reasons of the account and its contract (module docstring); empty: none."""
    reasons = [
        Blocker(r.code, r.message)
        for r in compliance_selectors.suitability_blockers(account.investor, on=on)
    ]
    calls = account.margin_calls.filter(status__in=UNFINISHED_CALL_STATUSES)
    if calls.exists():
        reasons.append(
            Blocker(
                "open_margin_call",
                _("margin call #%(pk)s is not finished") % {"pk": calls.first().pk},
            )
        )
    if contract.status != ContractStatus.ACTIVE:
        reasons.append(
            Blocker(
                "contract_not_active",
                _("contract %(contract)s is %(status)s")
                % {"contract": contract.contract_number, "status": contract.get_status_display()},
            )
        )
    return reasons


def blocked(reasons: list[Blocker]) -> RuleViolation:
    return RuleViolation(
        _("extension: the investor does not qualify: %(reasons)s")
        % {"reasons": "; ".join(str(r.message) for r in reasons)},
        code="extension_not_qualified",
        extra={"reasons": [{"code": r.code, "message": str(r.message)} for r in reasons]},
    )


def checker_check(extension, actor, *, permission: str, action: str) -> None:
    require_permission(actor, permission, action=action)
    require_second_factor(actor, action=action)
    if actor is not None and actor.pk == extension.prepared_by_id:
        raise RuleViolation(
            _("extension: the person who checked it may not decide it (four eyes)"),
            code="four_eyes",
            extra={"field": "extension"},
        )
