"""The demo desk's authenticators: every staff demo login can act, with the code that
`manage.py demo_totp` prints; real users' secrets are never read by it."""

import io

import pytest
from django.core.management import CommandError, call_command
from django_otp.plugins.otp_totp.models import TOTPDevice

pytestmark = pytest.mark.django_db


def test_each_staff_demo_login_has_an_authenticator_and_the_command_prints_its_code(client):
    from accounts import demo
    from accounts.models import User

    for _ in range(2):  # idempotent
        demo.seed(io.StringIO())
    emails = demo.demo_staff_emails()
    assert len(emails) == 8  # the superuser and one login per staff demo user
    for email in emails:
        (device,) = TOTPDevice.objects.filter(user__email=email)
        assert device.confirmed and device.key == demo.demo_totp_key(email)
    assert not TOTPDevice.objects.filter(user__investor_profile__isnull=False).exists()
    out = io.StringIO()
    call_command("demo_totp", "risk@demo.margindesk.local", stdout=out)
    code = out.getvalue().split()[0]
    assert len(code) == 6 and code.isdigit()
    # the printed code verifies a signed-in session, which may then act
    risk = User.objects.get(email="risk@demo.margindesk.local")
    client.force_login(risk)
    response = client.post("/accounts/2fa/verify/", {"token": code, "next": "/staff/"})
    assert (response.status_code, response["Location"]) == (302, "/staff/")
    all_codes = io.StringIO()
    call_command("demo_totp", stdout=all_codes)
    assert len(all_codes.getvalue().splitlines()) == len(emails)


def test_the_command_refuses_anyone_but_a_demo_login_with_the_demo_secret(make_user):
    from accounts import demo
    from tests.second_factor import second_factor

    demo.seed(io.StringIO())
    second_factor(make_user("risk", email="real.officer@example.com"))
    with pytest.raises(CommandError, match="not a demo staff login"):
        call_command("demo_totp", "real.officer@example.com", stdout=io.StringIO())
    # a demo login that enrolled its own phone keeps it: no demo code for it any more
    ops = TOTPDevice.objects.get(user__email="ops@demo.margindesk.local")
    ops.key = "00" * 20
    ops.save()
    demo.seed(io.StringIO())
    assert TOTPDevice.objects.filter(user__email="ops@demo.margindesk.local").count() == 1
    with pytest.raises(CommandError):
        call_command("demo_totp", "ops@demo.margindesk.local", stdout=io.StringIO())
