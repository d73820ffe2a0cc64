"""Issue 19 item 1: API tokens (django-rest-knox) hashed at rest, expiring, several per user,
named per device, listed and revoked by their owner and by security staff; a desk staff token
carries the second factor only when issued with a current authenticator code, and only for
API_TOKEN_SECOND_FACTOR_MINUTES.

Time passes by moving django.utils.timezone.now (every check reads it), never by editing rows.
"""

import hashlib
import time
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.models import ApiToken
from accounts.roles import Role
from tests.second_factor import login_verified, second_factor, totp_code

pytestmark = pytest.mark.django_db

URL = "/api/v1/auth/tokens/"
PASSWORD = "correct-horse-42"  # make_user's


def issue(user, name="laptop", **extra):
    return APIClient().post(
        URL,
        {"email": user.email, "password": PASSWORD, "name": name, **extra},
        format="json",
        HTTP_ACCEPT_LANGUAGE="en",
    )


def refused_token(response, why: str) -> bool:
    """The token is refused (403: DRF answers so when the first authenticator, the session's,
    has no WWW-Authenticate challenge) with the code saying why: token_expired, _revoked."""
    body = response.json()
    return response.status_code == 403 and body["code"] == f"token_{why}" and why in body["message"]


def bearer(token: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}", HTTP_ACCEPT_LANGUAGE="en")
    return client


@pytest.fixture
def later(monkeypatch):
    """later(delta): from now on, the clock reads the real time plus `delta`."""
    real_now = timezone.now

    def move(delta: timedelta):
        monkeypatch.setattr(timezone, "now", lambda: real_now() + delta)

    return move


def test_the_database_holds_only_a_digest_of_the_token(make_user):
    investor = make_user(Role.INVESTOR)
    answer = issue(investor, name="phone")
    assert answer.status_code == 201, answer.content
    body = answer.json()
    token = body["token"]
    assert token.startswith("mdk_") and len(token) == 4 + 64  # prefix + 32 random bytes in hex
    row = ApiToken.objects.get(pk=body["id"])
    # knox: SHA-512 of the token, and its first 15 characters to tell tokens apart
    assert row.digest == hashlib.sha512(token.encode()).hexdigest()
    assert row.token_key == token[:15] and body["prefix"] == token[:15]
    with connection.cursor() as cursor:
        cursor.execute("SELECT row_to_json(t)::text FROM accounts_apitoken t")
        stored = " ".join(text for (text,) in cursor.fetchall())
        cursor.execute("SELECT to_regclass('authtoken_token')")
        assert cursor.fetchone() == (None,)  # DRF's clear-text table is gone
    assert token[:15] in stored and token[15:] not in stored and token[-20:] not in stored
    assert bearer(token).get("/api/v1/me/").json()["email"] == investor.email
    # listed by its owner without the token
    listed = bearer(token).get(URL).json()
    assert [t["name"] for t in listed] == ["phone"]
    assert "token" not in listed[0] and "digest" not in listed[0]
    assert token[15:] not in str(listed)


@pytest.mark.parametrize(
    ("role", "lifetime"),
    [
        # settings: API_TOKEN_TTL_STAFF_HOURS=8, _INVESTOR_DAYS=30, _MACHINE_DAYS=90
        (Role.RISK, timedelta(hours=8)),
        (Role.INVESTOR, timedelta(days=30)),
        (Role.BANK_FEED, timedelta(days=90)),
    ],
)
def test_a_token_expires_after_its_kind_of_users_lifetime(make_user, later, role, lifetime):
    user = make_user(role)
    body = issue(user).json()
    row = ApiToken.objects.get(pk=body["id"])
    assert row.expiry - row.created == pytest.approx(lifetime, abs=timedelta(seconds=2))
    client = bearer(body["token"])
    later(lifetime - timedelta(minutes=1))
    assert client.get("/api/v1/me/").status_code == 200
    later(lifetime + timedelta(seconds=5))
    assert refused_token(client.get("/api/v1/me/"), "expired")
    assert ApiToken.objects.get(pk=row.pk).status_at(timezone.now()) == "expired"


def test_several_tokens_per_user_each_revoked_on_its_own(make_user):
    investor = make_user(Role.INVESTOR)
    phone, laptop = issue(investor, "phone").json(), issue(investor, "laptop").json()
    assert phone["token"] != laptop["token"]
    listed = bearer(phone["token"]).get(URL).json()
    assert sorted(t["name"] for t in listed) == ["laptop", "phone"]
    assert {t["status"] for t in listed} == {"active"}
    # the owner revokes the laptop's token with the phone's
    gone = bearer(phone["token"]).delete(f"{URL}{laptop['id']}/")
    assert gone.status_code == 204
    assert refused_token(bearer(laptop["token"]).get("/api/v1/me/"), "revoked")
    assert bearer(phone["token"]).get("/api/v1/me/").status_code == 200
    row = ApiToken.objects.get(pk=laptop["id"])  # the row stays: evidence of who held access
    assert row.revoked_at is not None and row.revoked_by == investor
    statuses = {t["name"]: t["status"] for t in bearer(phone["token"]).get(URL).json()}
    assert statuses == {"phone": "active", "laptop": "revoked"}


def test_only_security_staff_list_and_revoke_other_users_tokens(make_user, staff):
    a, b = make_user(Role.INVESTOR), make_user(Role.INVESTOR)
    a_token = issue(a, "a's phone").json()
    b_client = bearer(issue(b, "b's phone").json()["token"])
    # another investor: neither sees nor revokes it (403 whether or not the id exists)
    assert [t["name"] for t in b_client.get(URL).json()] == ["b's phone"]
    assert b_client.get(f"{URL}?all=true").status_code == 403
    refused = b_client.delete(f"{URL}{a_token['id']}/")
    assert refused.status_code == 403
    assert refused.json()["extra"] == {"permission": "accounts.revoke_any_token"}
    assert b_client.delete(f"{URL}999999999/").status_code == 403
    # the read-only auditor lists everyone's tokens but may not revoke one
    auditor = APIClient()
    auditor.force_authenticate(staff["auditor"])
    names = {t["name"] for t in auditor.get(f"{URL}?all=true").json()}
    assert {"a's phone", "b's phone"} <= names
    assert auditor.delete(f"{URL}{a_token['id']}/").status_code == 403
    assert ApiToken.objects.get(pk=a_token["id"]).revoked_at is None
    assert bearer(a_token["token"]).get("/api/v1/me/").status_code == 200
    # operations (accounts.revoke_any_token) revokes it
    ops = APIClient()
    ops.force_authenticate(staff["ops"])  # verified second factor (tests.second_factor)
    assert ops.delete(f"{URL}{a_token['id']}/").status_code == 204
    assert refused_token(bearer(a_token["token"]).get("/api/v1/me/"), "revoked")
    assert ApiToken.objects.get(pk=a_token["id"]).revoked_by == staff["ops"]


def test_a_staff_token_writes_only_when_issued_with_a_code_and_only_for_an_hour(make_user, later):
    from lending.models import MtmRun

    risk = make_user(Role.RISK)
    device = second_factor(risk)
    runs = "/api/v1/mtm-runs/"
    # without a code: reads, never writes
    plain = bearer(issue(risk, "script host").json()["token"])
    assert plain.get(runs).status_code == 200
    refused = plain.post(runs, {}, format="json")
    assert refused.status_code == 403
    assert refused.json()["code"] == "second_factor_required"
    assert "issued without an authenticator code" in refused.json()["message"]
    assert not MtmRun.objects.exists()
    # with a current code: writes what the role may write
    body = issue(risk, "risk laptop", otp_code=totp_code(device)).json()
    row = ApiToken.objects.get(pk=body["id"])
    # API_TOKEN_SECOND_FACTOR_MINUTES=60, within the 8-hour life
    assert row.verified_until - row.created == pytest.approx(
        timedelta(minutes=60), abs=timedelta(seconds=2)
    )
    verified = bearer(body["token"])
    started = verified.post(runs, {}, format="json")
    assert started.status_code == 202, started.content
    assert MtmRun.objects.filter(pk=started.json()["id"]).exists()
    # ... and only what the role may write: risk may not request a filing
    filing = {"kind": "investor_register", "as_of": "2026-06-01T15:00:00+08:00"}
    assert verified.post("/api/v1/filings/", filing, format="json").status_code == 403
    # 61 minutes later the token still reads, and no longer writes
    later(timedelta(minutes=61))
    assert verified.get(runs).status_code == 200
    ended = verified.post(runs, {}, format="json")
    assert ended.status_code == 403 and "second factor ended at" in ended.json()["message"]
    assert MtmRun.objects.count() == 1
    # past its 8 hours it is refused altogether
    later(timedelta(hours=8, seconds=5))
    assert refused_token(verified.get(runs), "expired")


def test_a_wrong_or_reused_code_gives_no_token(make_user):
    risk = make_user(Role.RISK)
    device = second_factor(risk)
    wrong = f"{(int(totp_code(device)) + 1) % 1_000_000:06d}"
    answer = issue(risk, otp_code=wrong)
    assert answer.status_code == 400 and answer.json()["message"].startswith("otp_code:")
    # django-otp throttles: after one wrong code even the right one waits 1 s (then 2, 4, ...)
    throttled = issue(risk, otp_code=totp_code(device))
    assert "too many wrong codes" in throttled.json()["message"]
    time.sleep(1.1)
    code = totp_code(device)
    assert issue(risk, otp_code=code).status_code == 201
    replayed = issue(risk, otp_code=code)  # django-otp refuses a code already used
    assert replayed.status_code == 400 and replayed.json()["extra"]["field"] == "otp_code"
    assert ApiToken.objects.filter(user=risk).count() == 1
    # staff without an authenticator, and investors, cannot give a code
    unenrolled = make_user(Role.TREASURY)
    assert "no authenticator" in issue(unenrolled, otp_code="123456").json()["message"]
    investor = make_user(Role.INVESTOR)
    assert "only desk staff" in issue(investor, otp_code="123456").json()["message"]
    assert not ApiToken.objects.filter(user__in=[unenrolled, investor]).exists()


def test_bad_input_names_the_field(make_user, settings):
    investor = make_user(Role.INVESTOR)
    no_name = APIClient().post(
        URL,
        {"email": investor.email, "password": PASSWORD},
        format="json",
        HTTP_ACCEPT_LANGUAGE="en",
    )
    assert no_name.status_code == 400 and no_name.json()["message"].startswith("name:")
    blank = issue(investor, name="   ")
    assert blank.status_code == 400 and blank.json()["message"].startswith("name:")
    wrong_password = APIClient().post(
        URL,
        {"email": investor.email, "password": "nope", "name": "x"},
        format="json",
        HTTP_ACCEPT_LANGUAGE="en",
    )
    assert wrong_password.status_code == 400
    assert wrong_password.json()["message"].startswith("password:")
    settings.API_TOKENS_PER_USER = 2
    assert issue(investor, "one").status_code == 201
    assert issue(investor, "two").status_code == 201
    third = issue(investor, "three")
    assert third.status_code == 422 and third.json()["code"] == "token_limit"
    assert ApiToken.objects.filter(user=investor).count() == 2


def test_the_bank_feed_posts_credits_with_its_token(account, make_user):
    from django.utils.timezone import localdate

    from lending.models import BankCredit

    feed = make_user(Role.BANK_FEED)
    token = issue(feed, "bank gateway").json()["token"]
    line = {
        "line_id": "T-1", "value_date": localdate().isoformat(), "amount": "5.00",
        "currency": "CNY", "payer_name": "x", "payer_account": "1", "reference": "x",
    }  # fmt: skip
    answer = bearer(token).post("/api/v1/bank-credits/", {"lines": [line]}, format="json")
    assert answer.status_code == 201, answer.content
    assert BankCredit.objects.filter(bank_line_id="T-1").exists()


def test_the_tokens_page_shows_a_new_token_once_and_revokes(make_user, client):
    investor = make_user(Role.INVESTOR)
    client.force_login(investor)
    made = client.post("/accounts/tokens/", {"action": "create", "name": "home pc"})
    assert made.status_code == 200
    row = ApiToken.objects.get(user=investor)
    token = made.context["issued"]["token"]
    assert token in made.content.decode()
    assert hashlib.sha512(token.encode()).hexdigest() == row.digest
    page = client.get("/accounts/tokens/").content.decode()
    assert "home pc" in page and token not in page
    assert bearer(token).get("/api/v1/me/").status_code == 200
    revoked = client.post("/accounts/tokens/", {"action": "revoke", "token": row.pk})
    assert revoked.status_code == 302
    assert refused_token(bearer(token).get("/api/v1/me/"), "revoked")
    # another user's token cannot be revoked from the page without the permission
    other = make_user(Role.INVESTOR)
    other_row, _token = issue(other).json(), None
    refused = client.post("/accounts/tokens/", {"action": "revoke", "token": other_row["id"]})
    assert refused.status_code == 403
    assert ApiToken.objects.get(pk=other_row["id"]).revoked_at is None


def test_a_staff_member_makes_a_writing_token_on_the_page(make_user, client):
    treasury = make_user(Role.TREASURY)
    device = second_factor(treasury)
    login_verified(client, treasury)
    made = client.post(
        "/accounts/tokens/",
        {"action": "create", "name": "statement uploader", "otp_code": totp_code(device)},
    )
    assert made.status_code == 200
    row = ApiToken.objects.get(user=treasury)
    assert row.verified_until is not None and row.expiry - row.created < timedelta(hours=9)
    # security staff list everyone's on the page
    auditor = make_user(Role.AUDITOR)
    login_verified(client, auditor)
    page = client.get("/accounts/tokens/?all=1").content.decode()
    assert "statement uploader" in page and treasury.email in page
