"""Investor self sign-up: a login with the investor role and no profile; the profile is
created by operations after identity verification."""

import pytest
from django.urls import reverse

from accounts.models import User

pytestmark = pytest.mark.django_db

FORM = {
    "full_name": "王小明",
    "email": "Wang@Example.com",
    "password1": "a-long-pass-phrase-7",
    "password2": "a-long-pass-phrase-7",
    "accept": "on",
}


def test_sign_up_creates_an_investor_login_and_lands_on_the_pending_portal(client):
    response = client.post(reverse("accounts:signup"), FORM)
    assert response.status_code == 302 and response.url == reverse("portal:home")
    user = User.objects.get(email="wang@example.com")
    assert user.role_names == ["investor"] and not user.is_staff
    assert not hasattr(user, "investor_profile") or user.investor_profile is None
    page = client.get(reverse("portal:home"), HTTP_ACCEPT_LANGUAGE="en")
    assert 'id="profile-pending"' in page.content.decode()
    assert user.history.first().history_change_reason == "self sign-up in the portal"


def test_sign_up_refuses_a_taken_email_weak_or_mismatched_password(client, make_user):
    make_user("investor", email="taken@example.com")
    response = client.post(
        reverse("accounts:signup"),
        {**FORM, "email": "taken@example.com"},
        HTTP_ACCEPT_LANGUAGE="en",
    )
    assert response.status_code == 400 and "already exists" in response.content.decode()
    response = client.post(reverse("accounts:signup"), {**FORM, "password2": "other-pass-99"})
    assert response.status_code == 400
    response = client.post(
        reverse("accounts:signup"), {**FORM, "password1": "123", "password2": "123"}
    )
    assert response.status_code == 400
    assert User.objects.filter(email="wang@example.com").count() == 0


def test_sign_up_page_in_chinese(client):
    html = client.get(reverse("accounts:signup"), HTTP_ACCEPT_LANGUAGE="zh-CN").content.decode()
    assert "开户" in html
