"""Sign-in throttling (django-axes): repeated failures lock the e-mail from that address."""

import pytest

pytestmark = pytest.mark.django_db


def _sign_in(client, email, password, ip="203.0.113.7", language="en"):
    return client.post(
        "/accounts/login/",
        {"username": email, "password": password},
        REMOTE_ADDR=ip,
        HTTP_ACCEPT_LANGUAGE=language,
    )


def test_five_failures_lock_the_sign_in_even_with_the_right_password(client, make_user):
    user = make_user("risk")
    for _ in range(4):
        assert _sign_in(client, user.email, "wrong-password").status_code == 200
    assert _sign_in(client, user.email, "wrong-password").status_code == 429  # the fifth
    locked = _sign_in(client, user.email, "correct-horse-42")
    assert locked.status_code == 429
    assert "try again in 60 minutes" in locked.content.decode().replace("\n", " ")
    in_chinese = _sign_in(client, user.email, "correct-horse-42", language="zh-hans")
    assert "请在 60 分钟后重试" in in_chinese.content.decode()
    assert "_auth_user_id" not in client.session
    # the lock is per e-mail and address: the same person from another address still gets in
    other = _sign_in(client, user.email, "correct-horse-42", ip="198.51.100.9")
    assert other.status_code == 302


def test_the_api_token_endpoint_is_throttled_too(client, make_user):
    user = make_user("operations")
    for attempt in range(5):
        response = client.post(
            "/api/v1/auth/tokens/",
            {"email": user.email, "password": "nope", "name": "laptop"},
            content_type="application/json",
            REMOTE_ADDR="203.0.113.8",
        )
        assert response.status_code == (400 if attempt < 4 else 429)
    locked = client.post(
        "/api/v1/auth/tokens/",
        {"email": user.email, "password": "correct-horse-42", "name": "laptop"},
        content_type="application/json",
        REMOTE_ADDR="203.0.113.8",
    )
    assert locked.status_code == 429
    assert locked.json()["code"] == "locked_out"
    assert int(locked["Retry-After"]) == 3600
    assert "token" not in locked.json()
