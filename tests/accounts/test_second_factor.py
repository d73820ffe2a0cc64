import pytest
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.errors import PermissionDenied
from accounts.second_factor import require_second_factor
from tests.second_factor import login_verified, second_factor

pytestmark = pytest.mark.django_db


def _code(device: TOTPDevice) -> str:
    return f"{totp(device.bin_key, step=device.step, t0=device.t0, digits=device.digits):06d}"


def test_staff_without_second_factor_is_refused_a_guarded_action(make_user):
    risk = make_user("risk")
    with pytest.raises(PermissionDenied) as excinfo:
        require_second_factor(risk, action="approve liquidation")
    assert excinfo.value.code == "second_factor_required"
    with pytest.raises(PermissionDenied):
        require_second_factor(None, action="approve liquidation")


def test_enrolment_then_sign_in_verifies_the_session(client, make_user):
    # given a compliance officer who enrols an authenticator
    officer = make_user("compliance")
    client.force_login(officer)
    setup = client.get("/accounts/2fa/setup/")
    assert setup.status_code == 200 and b"<svg" in setup.content
    device = TOTPDevice.objects.get(user=officer, confirmed=False)
    wrong = client.post(
        "/accounts/2fa/setup/", {"token": "000000"}, follow=True, HTTP_ACCEPT_LANGUAGE="en"
    )
    assert "does not match" in wrong.content.decode()
    device.refresh_from_db()
    assert not device.confirmed
    client.post("/accounts/2fa/setup/", {"token": _code(device)})
    device.refresh_from_db()
    assert device.confirmed
    client.logout()
    # when the officer signs in again, the password alone leads to the code prompt
    response = client.post(
        "/accounts/login/", {"username": officer.email, "password": "correct-horse-42"}
    )
    assert response["Location"].startswith("/accounts/2fa/verify/")
    console = client.get("/staff/").content.decode()
    assert 'href="/accounts/2fa/verify/"' in console  # unverified banner
    # then a correct code verifies the session
    device.refresh_from_db()
    device.last_t = -1  # allow the same time step again in this fast test
    device.save()
    verified = client.post("/accounts/2fa/verify/", {"token": _code(device), "next": "/staff/"})
    assert verified.status_code == 302 and verified["Location"] == "/staff/"
    console = client.get("/staff/").content.decode()
    assert 'href="/accounts/2fa/verify/"' not in console


def test_investors_cannot_enrol(client, make_user):
    client.force_login(make_user("investor"))
    assert client.get("/accounts/2fa/setup/").status_code == 403


def test_a_password_alone_cannot_replace_the_enrolled_authenticator(client, make_user):
    """Enrolment stays reachable before the code is entered (a new officer needs it), but
    replacing an enrolled authenticator needs the current one: otherwise the password alone
    would pass the second factor."""
    officer = make_user("risk")
    enrolled = second_factor(officer)
    client.force_login(officer)  # the password only
    page = client.get("/accounts/2fa/setup/")
    assert (page.status_code, page["Location"]) == (
        302,
        "/accounts/2fa/verify/?next=%2Faccounts%2F2fa%2Fsetup%2F",
    )
    # an enrolment started earlier, confirmed with its own valid code: refused all the same
    fresh = TOTPDevice.objects.create(user=officer, name="attacker", confirmed=False)
    refused = client.post("/accounts/2fa/setup/", {"token": _code(fresh)})
    assert refused["Location"].startswith("/accounts/2fa/verify/")
    assert set(TOTPDevice.objects.filter(user=officer, confirmed=True)) == {enrolled}
    # with the session verified, the officer replaces the authenticator
    login_verified(client, officer)
    assert client.get("/accounts/2fa/setup/").status_code == 200
    fresh.refresh_from_db()
    done = client.post("/accounts/2fa/setup/", {"token": _code(fresh), "next": "/staff/filings/"})
    assert (done.status_code, done["Location"]) == (302, "/staff/filings/")
    assert set(TOTPDevice.objects.filter(user=officer, confirmed=True)) == {fresh}
