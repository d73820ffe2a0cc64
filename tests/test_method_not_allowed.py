"""A page opened with a method it does not accept (a form's address opened in the browser)
answers 405 with the Allow header and a page in the site's layout, in the reader's language,
instead of a blank page (config/method_not_allowed.py). The API keeps its JSON 405."""

import pytest
from django.urls import reverse

from tests.second_factor import login_verified

pytestmark = pytest.mark.django_db


@pytest.fixture
def investor_client(make_investor, client):
    client.force_login(make_investor().user)
    return client


def test_get_of_a_post_only_portal_url_is_a_405_page_in_the_layout(investor_client):
    url = reverse("portal:lending-notice-acknowledge", args=[1])
    response = investor_client.get(url, HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 405
    assert response["Allow"] == "POST, OPTIONS"
    assert response["Content-Type"].startswith("text/html")
    html = response.content.decode()
    assert '<nav class="subnav"' in html and '<footer class="footer">' in html  # the layout
    assert "<h1>This address does not open as a page</h1>" in html
    assert "Method GET is not accepted here (accepted: POST, OPTIONS)." in html
    assert reverse("portal:home") in html


def test_the_405_page_follows_the_readers_language(investor_client):
    url = reverse("portal:lending-order-cancel", args=[1])
    response = investor_client.get(url, HTTP_ACCEPT_LANGUAGE="zh-hans")
    assert response.status_code == 405 and response["Allow"] == "POST, OPTIONS"
    html = response.content.decode()
    assert '<html lang="zh-hans">' in html
    assert "This address does not open as a page" not in html
    assert "<h1>此地址不能作为页面打开</h1>" in html


def test_a_staff_page_and_sign_out_too(make_user, client):
    login_verified(client, make_user("auditor"))
    response = client.get(reverse("accounts:logout"), HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 405 and "POST" in response["Allow"]
    assert "<h1>This address does not open as a page</h1>" in response.content.decode()
    assert reverse("staff:home") in response.content.decode()


def test_the_api_keeps_its_json_405(make_user, client):
    login_verified(client, make_user("risk"))
    response = client.delete(reverse("v1:lending-risk-run-list"))
    assert response.status_code == 405
    assert response["Content-Type"] == "application/json"
    assert response.json()["code"] == "method_not_allowed"
