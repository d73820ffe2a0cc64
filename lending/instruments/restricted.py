"""Restricted holders and restricted shares (issue 18 item 5).

Directors, supervisors, senior managers and holders of 5% or more of a listed company (董监高,
大股东), declared at onboarding and kept current in compliance (compliance.models.
RestrictedHolding), may not buy that company's shares in the credit account, financed or with
their own cash (shares there are collateral), nor move them in as collateral; they may sell.
Restricted (限售) shares are never collateral. lending asks compliance by the instrument's
"EXCHANGE:CODE" (Instrument.ledger_unit): compliance never imports lending."""

from __future__ import annotations

from datetime import date

from accounts.errors import RuleViolation
from compliance import selectors as compliance_selectors
from lending.instruments.models import Instrument

RESTRICTED_HOLDER = "restricted_holder"
RESTRICTED_SHARES = "restricted_shares"


def restricted_holder_check(*, investor_id: int, instrument: Instrument, on: date, doing: str):
    """Refuse (400 RuleViolation naming the instrument and the rule) when the investor holds a
    restricted role in the instrument's company on `on`. `doing`: "buy" or "pledge"."""
    unit = instrument.ledger_unit
    holding = compliance_selectors.restricted_holding_in_force(investor_id, unit, on=on)
    if holding is None:
        return
    raise RuleViolation(
        f"instrument: {unit} — the investor is {holding.get_role_display().lower()} of "
        f"{holding.company_name} (since {holding.since.isoformat()}); directors, supervisors, "
        f"senior managers and holders of 5% or more may not {doing} their company's shares "
        "in the credit account",
        code=RESTRICTED_HOLDER,
        extra={"field": "instrument", "security": unit, "role": holding.role},
    )


def restricted_shares_check(*, instrument: Instrument, restricted: bool) -> None:
    """Restricted (限售, lock-up) shares, as the custodian's confirmation declares them, are
    never collateral."""
    if restricted:
        raise RuleViolation(
            f"restricted_shares: {instrument.ledger_unit} — the custodian confirms restricted "
            "(lock-up) shares, which are never collateral",
            code=RESTRICTED_SHARES,
            extra={"field": "restricted_shares", "security": instrument.ledger_unit},
        )
