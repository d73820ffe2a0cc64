import pytest

from accounts.roles import Role
from tests.second_factor import login_verified

pytestmark = pytest.mark.django_db


def test_admin_change_leaves_history_with_actor_and_reason(client, make_user, make_investor):
    # given an investor and an operations clerk signed in to the admin
    profile = make_investor(phone="+86 100")
    clerk = make_user(Role.OPERATIONS)
    login_verified(client, clerk)  # every staff write needs the second factor
    # when the clerk changes the phone number through the admin form
    response = client.post(
        f"/admin/accounts/investorprofile/{profile.pk}/change/",
        {
            "user": profile.user_id,
            "investor_type": "individual",
            "real_name": profile.real_name,
            "id_type": profile.id_type,
            "phone": "+86 200",
            "address": "",
            "bank_name": "中国银行",
            "category": "ordinary",
            "id_number": "",
            "bank_account": "",
            "change_reason": "investor called to update phone",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    # then the newest history row names the clerk, the reason, and before/after values
    latest, previous = profile.history.order_by("-history_id")[:2]
    assert latest.history_user == clerk
    assert latest.history_change_reason == "investor called to update phone"
    assert (previous.phone, latest.phone) == ("+86 100", "+86 200")
    assert latest.history_type == "~"
    page = client.get(f"/admin/accounts/investorprofile/{profile.pk}/history/")
    assert clerk.email in page.content.decode()


def test_service_change_without_reason_is_refused(make_user, make_investor):
    from accounts import services
    from accounts.errors import ValidationFailed

    profile = make_investor()
    with pytest.raises(ValidationFailed, match="reason"):
        services.investor_profile_update(
            profile=profile, actor=make_user(Role.OPERATIONS), reason=" ", phone="1"
        )
    profile.refresh_from_db()
    assert profile.history.count() == 1


def test_a_long_reason_is_kept_whole_in_history(make_user, make_investor):
    from accounts import services

    profile = make_investor()
    reason = "Investor moved abroad; " * 20  # well over the library's default 100 characters
    services.investor_profile_update(
        profile=profile, actor=make_user("operations"), reason=reason, phone="+852 1"
    )
    assert profile.history.latest().history_change_reason == reason
