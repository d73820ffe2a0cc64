"""Staff second factor in tests: one implementation, used by every test package.

Every write by desk staff needs a session verified with a confirmed TOTP device
(accounts.second_factor.write_needs_second_factor). These helpers give a test user the
device and the verified session the real sign-in would give, or the current code to type."""

from django_otp.oath import TOTP


def second_factor(user):
    """Give `user` a confirmed TOTP device and mark this user object verified, as
    django-otp's middleware does for a session signed in with the code (so
    APIClient.force_authenticate(user) and services called with `user` see it verified)."""
    from django_otp.plugins.otp_totp.models import TOTPDevice

    device = TOTPDevice.objects.filter(user=user, confirmed=True).first()
    if device is None:
        device = TOTPDevice.objects.create(user=user, name="test", confirmed=True)
    user.otp_device = device
    return device


def login_verified(client, user):
    """Sign `user` in to the test client with a session verified by a second factor."""
    from django_otp import DEVICE_ID_SESSION_KEY

    device = getattr(user, "otp_device", None) or second_factor(user)
    client.force_login(user)
    session = client.session
    session[DEVICE_ID_SESSION_KEY] = device.persistent_id
    session.save()
    return client


def totp_code(device) -> str:
    """The code `device` accepts now (what the authenticator app shows)."""
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    return f"{totp.token():0{device.digits}d}"
