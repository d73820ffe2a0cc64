"""The steps of the end of day, in order, and what each one calls.

Each step is a `Step`: a name (stored on the step row), a label, how many shards its work is
cut into, whether it runs only on trading days, the earliest time it may start, `begin` (run
once when the step starts, in the engine's transaction: what every shard of this attempt needs
to agree on, stored as the step's `params`) and `shard` (the work of one shard; it calls one
service of lending, custody or reports as the system, which checks its state under its own
locks: every step is idempotent, so a shard run twice, or a step started again on a resume,
writes nothing twice). A shard returns a dict of counts; the step's result is their sum.

Interest accrues every calendar day (ACT/360, docs/maturity.md), so a run is made for every
date; on a day that is not a trading day only the interest steps and the securities lending fee
(which accrues every calendar day too) run and the others are skipped (nothing happened in the
market: no deadlines, no maturities, no filings).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from django.conf import settings
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.templatetags.desk_numbers import amount, count


@dataclass(frozen=True)
class Step:
    name: str
    label: str
    shard: Callable[[date, dict, int, int], dict]
    shards: Callable[[], int] = lambda: 1
    trading_days_only: bool = True
    begin: Callable[[date], dict] = lambda day: {}
    not_before: Callable[[date], datetime | None] = lambda day: None


def _shards() -> int:
    """The sharded steps' shards (settings.EOD_SHARDS): each a Celery task of its own."""
    return max(1, int(getattr(settings, "EOD_SHARDS", 4)))


def _accrual_days(day: date) -> dict:
    """The calendar days this run accrues: every day missed since the last accrual, up to the
    run's date (lending.financing.accrual.days_to_accrue), fixed when the step starts so that
    every shard (and the penalty step) works on the same days."""
    from lending.financing import accrual

    return {"days": [d.isoformat() for d in accrual.days_to_accrue(day)]}


def _interest(day: date, params: dict, shard: int, shards: int) -> dict:
    from lending.financing import accrual

    contracts = entries = 0
    for d in params.get("days") or [day.isoformat()]:
        result = accrual.shard_accrue(business_date=d, shard=shard, shards=shards, since_last=True)
        contracts += result.contracts
        entries += result.entries
    return {"contracts": contracts, "entries": entries}


def _short_fees(day: date, params: dict, shard: int, shards: int) -> dict:
    """The lending fee of the short positions (each catches up its own missed days)."""
    from lending.shorts import fees

    return {"short_fee_days": fees.short_fees_accrue(business_date=day, shard=shard, shards=shards)}


def _penalty_days(day: date) -> dict:
    """The same days as the run's interest step."""
    from .models import EndOfDayStep

    accrual = EndOfDayStep.objects.filter(run__business_date=day, name="interest").first()
    return {"days": (accrual.params.get("days") if accrual else None) or [day.isoformat()]}


def _penalty(day: date, params: dict, shard: int, shards: int) -> dict:
    from lending.financing import maturity

    charged = 0
    for d in params.get("days") or [day.isoformat()]:
        charged += maturity.penalty_accrue(
            business_date=date.fromisoformat(d), shard=shard, shards=shards
        )
    return {"financings": charged}


def _escalation(day: date, params: dict, shard: int, shards: int) -> dict:
    from lending.margin_calls import services as calls

    escalated = calls.calls_escalate_overdue(now=timezone.now(), shards=shards, shard=shard)
    reminders = calls.margin_reminders_send(now=timezone.now(), shards=shards, shard=shard)
    return {"calls_overdue": _count(escalated), "reminders": _count(reminders)}


def _maturity(day: date, params: dict, shard: int, shards: int) -> dict:
    from lending.margin_calls import maturity

    # short positions are marked overdue by the maturity run too (their calls the same day)
    run = maturity.maturity_process(on=day, now=timezone.now(), shards=shards, shard=shard)
    return {
        "financings_overdue": _count(run.overdue),
        "short_positions_overdue": _count(run.short_overdue),
        "maturity_calls": _count(run.calls),
        "calls_closed": _count(run.closed),
        "reminders": _count(run.reminders),
    }


def _client_money(day: date, params: dict, shard: int, shards: int) -> dict:
    from custody import services as custody

    result: dict = {"clients": 0}
    for currency in settings.CUSTODY_CLIENT_CURRENCIES:
        requirement = custody.client_money_requirement_compute(
            business_date=day, currency=currency, actor=None
        )
        result["clients"] += requirement.clients
        result[f"requirement:{currency}"] = str(requirement.requirement)
    return result


def _reconciliation(day: date, params: dict, shard: int, shards: int) -> dict:
    """Against the requirement the client-money step computed for the day (computed here only
    if there is none: a day run before this step existed)."""
    from custody import selectors as custody_selectors
    from custody import services as custody

    result = {}
    for currency in settings.CUSTODY_CLIENT_CURRENCIES:
        recon = custody.reconciliation_internal_run(
            business_date=day,
            currency=currency,
            actor=None,
            requirement=custody_selectors.client_money_requirement_of(day, currency),
        )
        result[f"open_breaks:{currency}"] = recon.breaks.filter(status="open").count()
    return result


def _filings_not_before(day: date) -> datetime:
    """Daily filings are taken as of the cut-off (reports.services.DAILY_CUTOFF): not before."""
    from reports import services

    return services.daily_as_of(day) + timedelta(seconds=5)


def _filings(day: date, params: dict, shard: int, shards: int) -> dict:
    from reports import services

    return {"filings": len(services.filings_prepare_daily(day=day))}


def _count(value) -> int:  # a service's list of ids/rows or its count
    return value if isinstance(value, int) else len(value or ())


STEPS: tuple[Step, ...] = (
    Step(
        "interest",
        _("Interest accrual"),
        _interest,
        shards=_shards,
        trading_days_only=False,
        begin=_accrual_days,
    ),
    Step(
        "short_fees",
        _("Securities lending fees"),
        _short_fees,
        shards=_shards,
        trading_days_only=False,
    ),
    Step("escalation", _("Overdue calls and reminders"), _escalation, shards=_shards),
    Step("maturity", _("Maturity processing"), _maturity, shards=_shards),
    # after maturity: a financing the maturity step marks overdue pays its penalty today
    Step(
        "penalty",
        _("Penalty interest"),
        _penalty,
        shards=_shards,
        trading_days_only=False,
        begin=_penalty_days,
    ),
    Step("client_money", _("Client-money requirement"), _client_money),
    Step("reconciliation", _("Internal reconciliation"), _reconciliation),
    Step("filings", _("Daily filings"), _filings, not_before=_filings_not_before),
)

BY_NAME = {step.name: step for step in STEPS}


#: what a step's counts are, for the pages (a key may end with ":<currency>")
RESULT_LABELS = {
    "contracts": _("Contracts accrued"),
    "entries": _("Ledger entries"),
    "financings": _("Financings charged"),
    "short_fee_days": _("Lending fee accruals (account-days)"),
    "calls_overdue": _("Calls become overdue"),
    "reminders": _("Reminders sent"),
    "financings_overdue": _("Financings become overdue"),
    "short_positions_overdue": _("Short positions become overdue"),
    "maturity_calls": _("Maturity calls issued"),
    "calls_closed": _("Maturity calls closed"),
    "requirement": _("Client-money requirement"),
    "clients": _("Clients"),
    "open_breaks": _("Open breaks"),
    "filings": _("Filings queued"),
}


def result_lines(result: dict) -> list[tuple[str, object]]:
    """A step's counts as (label, value), in the reader's language."""
    lines = []
    for key, value in (result or {}).items():
        base, _sep, currency = key.partition(":")
        label = str(RESULT_LABELS.get(base, base))
        shown = count(value) if isinstance(value, int) else amount(value)
        lines.append((f"{label} ({currency})" if currency else label, shown))
    return lines


def step_label(name: str) -> str:
    step = BY_NAME.get(name)
    return str(step.label) if step else name
