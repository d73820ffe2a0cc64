"""The staff console's navigation shows a link only to a role the linked page lets in: for
every staff role, every link in the navigation answers 200, and a page a role may not open
(403) is not linked for it. The links are decided by the views' own permission checks
(config/staff_nav.py), so the navigation and the pages cannot disagree."""

import re

import pytest
from django.urls import reverse

from accounts.roles import STAFF_ROLES
from config import staff_nav
from tests.second_factor import login_verified

pytestmark = pytest.mark.django_db

NAV = re.compile(r'<nav class="subnav"[^>]*>(.*?)</nav>', re.S)


def nav_links(html: str) -> list[str]:
    return re.findall(r'href="([^"]+)"', NAV.search(html).group(1))


@pytest.mark.parametrize("role", sorted(STAFF_ROLES))
def test_every_link_a_role_is_shown_opens(role, make_user, client):
    user = make_user(role)
    login_verified(client, user)
    home = client.get(reverse("staff:home"), HTTP_ACCEPT_LANGUAGE="en")
    assert home.status_code == 200
    shown = nav_links(home.content.decode())
    staff_links = [reverse(name) for name, _label in staff_nav.NAV]
    assert reverse("staff:home") in shown
    for url in staff_links:
        status = client.get(url, HTTP_ACCEPT_LANGUAGE="en").status_code
        if url in shown:
            assert status == 200, (role, url, status)
        else:  # hidden only when the page would refuse the role
            assert status == 403, (role, url, status)


def test_a_link_is_hidden_from_a_role_the_page_refuses(make_user, client, settings):
    """A role without the calendar's view permission sees no calendar link (and gets 403)."""
    from django.contrib.auth.models import Permission

    user = make_user("auditor")
    group = user.groups.get()
    group.permissions.remove(
        Permission.objects.get(codename="view_calendaryear", content_type__app_label="compliance")
    )
    user = type(user).objects.get(pk=user.pk)  # fresh permission cache
    login_verified(client, user)
    calendar = reverse("staff:compliance-calendar")
    assert client.get(calendar).status_code == 403
    shown = nav_links(client.get(reverse("staff:home")).content.decode())
    assert calendar not in shown and reverse("staff:lending-risk-runs") in shown


def test_an_investor_sees_no_staff_link(make_investor, client):
    investor = make_investor()
    client.force_login(investor.user)
    html = client.get(reverse("portal:home")).content.decode()
    assert not set(nav_links(html)) & {reverse(name) for name, _label in staff_nav.NAV}
