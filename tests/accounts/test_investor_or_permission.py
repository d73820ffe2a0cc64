"""What an investor does for themselves (accounts.permissions.require_investor_or_permission):
the investor on their own profile, staff holding the permission, or the system; never another
investor, and with no permission named, nobody but the investor (a disclosure acknowledged, a
written warning confirmed: only the investor can say so)."""

import pytest

from accounts.errors import PermissionDenied
from accounts.permissions import require_investor_or_permission
from accounts.roles import Role
from compliance import services as compliance_services

pytestmark = pytest.mark.django_db

PERM = "compliance.add_suitabilityassessment"


def test_who_may_act_for_an_investor(make_user, make_investor):
    owner, other = make_investor(), make_investor()
    require_investor_or_permission(None, owner, PERM)  # the system
    require_investor_or_permission(owner.user, owner, PERM)  # themselves
    require_investor_or_permission(make_user(Role.COMPLIANCE), owner, PERM)  # staff with PERM
    for refused_actor in (other.user, make_user(Role.AUDITOR)):
        with pytest.raises(PermissionDenied) as refused:
            require_investor_or_permission(refused_actor, owner, PERM, action="submit")
        assert refused.value.code == "permission_denied"
    owner.user.is_active = False
    with pytest.raises(PermissionDenied, match="inactive"):
        require_investor_or_permission(owner.user, owner, PERM)


def test_only_the_investor_says_what_only_they_can(make_user, make_investor):
    owner, other = make_investor(), make_investor()
    require_investor_or_permission(owner.user, owner, None)
    require_investor_or_permission(None, owner, None)
    for refused_actor in (other.user, make_user(Role.COMPLIANCE)):
        with pytest.raises(PermissionDenied, match="only the investor"):
            require_investor_or_permission(refused_actor, owner, None, action="acknowledge")


def test_a_compliance_officer_cannot_acknowledge_a_disclosure_for_an_investor(
    make_user, make_investor
):
    from compliance.models import DisclosureAcknowledgement

    officer = make_user(Role.COMPLIANCE)
    document = compliance_services.disclosure_publish(
        title="Risk disclosure", content="Borrowing magnifies losses.", actor=officer
    )
    investor = make_investor()
    with pytest.raises(PermissionDenied):
        compliance_services.disclosure_acknowledge(
            investor=investor,
            document=document,
            ip_address="10.0.0.1",
            user_agent="test",
            actor=officer,
        )
    assert not DisclosureAcknowledgement.objects.filter(investor=investor).exists()
    # the auditor may not publish one
    with pytest.raises(PermissionDenied) as refused:
        compliance_services.disclosure_publish(
            title="x", content="another text", actor=make_user(Role.AUDITOR)
        )
    assert refused.value.extra == {"permission": "compliance.add_disclosuredocument"}
    ack = compliance_services.disclosure_acknowledge(
        investor=investor,
        document=document,
        ip_address="10.0.0.1",
        user_agent="test",
        actor=investor.user,
    )
    assert ack.investor == investor
