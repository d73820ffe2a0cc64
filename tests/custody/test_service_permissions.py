"""Every top-level custody write checks the actor's permission (issue 19: "Custody services
check no permission"). The read-only auditor, and an investor acting on their own money, are
refused by the service itself, naming the permission, with nothing written; the role that holds
the permission gets through; the system (actor None: tasks, commands, seeds) is allowed."""

from datetime import date
from decimal import Decimal

import pytest

from accounts.errors import PermissionDenied
from accounts.roles import Role
from custody import services
from custody.models import ClientMoneyRequirement, JournalEntry, ReserveTarget

pytestmark = pytest.mark.django_db


@pytest.fixture
def investor(make_investor):
    return make_investor(bank_account="6222000000000000777")


def _deposit(investor, actor, key="dep-1"):
    return services.client_deposit_post(
        investor=investor,
        amount=Decimal("1000.00"),
        currency="CNY",
        bank_account="6222000000000000777",
        reference="test",
        actor=actor,
        idempotency_key=key,
    )


def _refused(call, permission: str) -> None:
    entries, requirements, targets = (
        JournalEntry.objects.count(),
        ClientMoneyRequirement.objects.count(),
        ReserveTarget.objects.count(),
    )
    with pytest.raises(PermissionDenied) as refused:
        call()
    assert refused.value.code == "permission_denied"
    assert refused.value.extra == {"permission": permission}
    assert permission in refused.value.message
    # nothing written
    assert JournalEntry.objects.count() == entries
    assert ClientMoneyRequirement.objects.count() == requirements
    assert ReserveTarget.objects.count() == targets


def test_the_auditor_and_the_investor_cannot_move_client_money(make_user, investor):
    for actor in (make_user(Role.AUDITOR), investor.user):
        _refused(lambda a=actor: _deposit(investor, a), "custody.add_journalentry")
        _refused(
            lambda a=actor: services.client_withdrawal_post(
                investor=investor,
                amount=Decimal("1.00"),
                currency="CNY",
                reference="test",
                actor=a,
                idempotency_key="wd-1",
            ),
            "custody.add_journalentry",
        )
    # operations may (the client's money is credited 1,000.00)
    entry = _deposit(investor, make_user(Role.OPERATIONS))
    assert entry.postings.count() == 2


def test_the_auditor_cannot_post_reverse_or_remap_the_ledger(make_user, investor):
    auditor, treasurer = make_user(Role.AUDITOR), make_user(Role.TREASURY)
    deposit = _deposit(investor, None)  # the system (a seed) posts it
    client_money = services.client_account(investor, "client_money", "CNY")
    bank = services.house_account("client_bank", "CNY")
    legs = [services.debit(bank, Decimal("5.00")), services.credit(client_money, Decimal("5.00"))]
    _refused(
        lambda: services.entry_post(legs=legs, memo="by hand", actor=auditor),
        "custody.add_journalentry",
    )
    _refused(
        lambda: services.entries_post(
            entries=[services.EntrySpec(legs=legs, memo="by hand")], actor=auditor
        ),
        "custody.add_journalentry",
    )
    _refused(
        lambda: services.entry_reverse(entry=deposit, actor=auditor, reason="mistake"),
        "custody.reverse_journalentry",
    )
    with pytest.raises(PermissionDenied) as refused:
        services.ledger_account_set_external_ref(
            account=bank, external_ref="ACC-1", actor=auditor, reason="map"
        )
    assert refused.value.extra == {"permission": "custody.change_ledgeraccount"}
    bank.refresh_from_db()
    assert bank.external_ref in ("", None)
    # the treasurer may reverse it: the mirror image, linked to it
    reversal = services.entry_reverse(entry=deposit, actor=treasurer, reason="mistake")
    assert reversal.reversal_of_id == deposit.pk


def test_the_auditor_cannot_compute_the_requirement_use_the_reserve_or_set_its_target(
    make_user, investor
):
    auditor, treasurer = make_user(Role.AUDITOR), make_user(Role.TREASURY)
    _refused(
        lambda: services.client_money_requirement_compute(
            business_date=date(2026, 1, 5), currency="CNY", actor=auditor
        ),
        "custody.add_clientmoneyrequirement",
    )
    _refused(
        lambda: services.reserve_fund_use(
            investor=investor,
            amount=Decimal("1.00"),
            currency="CNY",
            actor=auditor,
            reason="default",
            idempotency_key="rf-1",
        ),
        "custody.move_housemoney",
    )
    set_target = {
        "currency": "CNY",
        "target": Decimal("1000000.00"),
        "as_of": date(2026, 1, 5),
        "source": "by hand",
        "reason": "board decision",
    }
    _refused(
        lambda: services.reserve_target_set(actor=auditor, **set_target),
        "custody.change_reservetarget",
    )
    # a risk officer adopts targets through a risk run (lending.adopt_riskrun, four eyes),
    # never by hand
    _refused(
        lambda: services.reserve_target_set(actor=make_user(Role.RISK), **set_target),
        "custody.change_reservetarget",
    )
    row = services.reserve_target_set(actor=treasurer, **set_target)
    assert row.target == Decimal("1000000.00")
    requirement = services.client_money_requirement_compute(
        business_date=date(2026, 1, 5), currency="CNY", actor=treasurer
    )
    assert requirement.computed_by == treasurer
