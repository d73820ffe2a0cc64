"""Content security policy (django-csp, config/settings.py CONTENT_SECURITY_POLICY).

1. The header is on a portal page, a staff page and the API docs, with every directive.
2. No page served in the main flows needs 'unsafe-inline': every portal and staff route the
   resolver knows (and the sign-in pages, the admin, the API docs) is rendered with the test
   client, as an investor with a margin call and as staff, and the HTML is scanned for inline
   <script> without src, on*= event handlers, javascript: URLs, <style> elements and style=
   attributes. A new template with any of them fails here.
"""

from html.parser import HTMLParser

import pytest

from tests.compliance.fixtures import login_verified
from tests.test_access_matrix import (  # noqa: F401  (world: the access matrix's fixture)
    OWNED,
    has_id,
    routes,
    staff_pk,
    url_for,
    world,
)

pytestmark = pytest.mark.django_db

EXPECTED = {
    "default-src": ["'self'"],
    "script-src": ["'self'"],
    "style-src": ["'self'"],
    "img-src": ["'self'", "data:"],
    "object-src": ["'none'"],
    "base-uri": ["'self'"],
    "form-action": ["'self'"],
    "frame-ancestors": ["'none'"],
}


#: Inline markup in third-party templates that the policy blocks harmlessly: what it did is
#: done from a static stylesheet instead.
TOLERATED = {
    "<p style='border-top: 0'> (inline style)": (
        "django-simple-history's object_history_list.html paginator; static/css/admin.css"
    ),
}


def directives(response) -> dict[str, list[str]]:
    header = response.headers.get("Content-Security-Policy")
    assert header, f"no Content-Security-Policy header on {response.request['PATH_INFO']}"
    parsed = {}
    for part in header.split(";"):
        name, *values = part.split()
        parsed[name] = values
    return parsed


class InlineFinder(HTMLParser):
    """Collects what a strict policy (no 'unsafe-inline') would block or break."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.problems: list[str] = []

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        for name, value in attributes.items():
            if name.startswith("on"):
                self.problems.append(f"<{tag} {name}={value!r}> (inline event handler)")
            if name in ("href", "src", "action") and (value or "").strip().lower().startswith(
                "javascript:"
            ):
                self.problems.append(f"<{tag} {name}={value!r}> (javascript: URL)")
        if "style" in attributes:
            self.problems.append(f"<{tag} style={attributes['style']!r}> (inline style)")
        data_block = attributes.get("type") in ("application/json", "application/ld+json")
        if tag == "script" and not attributes.get("src") and not data_block:
            self.problems.append("<script> without src (inline script)")
        if tag == "style":
            self.problems.append("<style> element (inline stylesheet)")


def inline_problems(html: str) -> list[str]:
    finder = InlineFinder()
    finder.feed(html)
    finder.close()
    return finder.problems


def test_the_scanner_finds_what_the_policy_blocks():
    html = (
        '<select onchange="this.form.submit()"></select><p style="color:red"></p>'
        '<script>alert(1)</script><style>p{}</style><a href="javascript:go()">x</a>'
        '<script src="/static/js/language.js"></script><svg><rect fill="#fff"/></svg>'
    )
    problems = inline_problems(html)
    assert len(problems) == 5, problems
    assert inline_problems('<script type="application/json" id="d">{}</script>') == []


def test_header_on_a_portal_page_a_staff_page_and_the_api_docs(client, make_investor, staff):
    investor = make_investor()
    client.force_login(investor.user)
    portal = client.get("/portal/")
    assert portal.status_code == 200
    assert directives(portal) == EXPECTED

    login_verified(client, staff["risk"])
    console = client.get("/staff/")
    assert console.status_code == 200
    assert directives(console) == EXPECTED

    client.logout()
    docs = client.get("/api/docs/")
    assert docs.status_code == 200
    assert directives(docs) == EXPECTED
    assert "'unsafe-inline'" not in docs.headers["Content-Security-Policy"]
    assert inline_problems(docs.content.decode()) == []
    # the split view serves Swagger UI's init script from its own URL, as JavaScript
    script = client.get("/api/docs/?script=")
    assert script.status_code == 200
    assert script["Content-Type"].startswith("application/javascript")
    assert b"SwaggerUIBundle" in script.content


def _html(response) -> str | None:
    if response.status_code != 200:
        return None
    if not response.get("Content-Type", "").startswith("text/html"):
        return None
    return response.content.decode()


def test_served_pages_have_no_inline_scripts_handlers_or_styles(
    client,
    world,  # noqa: F811  (the access matrix's fixture, imported above)
    staff,
    make_user,
):
    """Every GET page of the portal (as investor A, who has an overdue call, a liquidation
    plan, notices and a statement) and of the staff console (as the first of risk, compliance,
    operations, auditor that may open it), plus sign-in, sign-up, second-factor enrolment,
    the admin and the API docs."""
    problems: dict[str, list[str]] = {}
    scanned: list[str] = []

    def scan(url: str, response) -> None:
        html = _html(response)
        if html is None:
            return
        scanned.append(url)
        found = [p for p in inline_problems(html) if p not in TOLERATED]
        if found:
            problems[url] = found

    simulated = (
        "/portal/simulator/?own_capital=100000&leverage=2&asset_return=0.1&fee_rate=0.001"
        "&borrow_rate=0.03&price_drop=0.2"
    )  # with its SVG charts
    for path in ("/accounts/login/", "/accounts/signup/", "/api/docs/", simulated):
        scan(path, client.get(path))

    client.force_login(world["a"])
    for route, name, view in routes():
        if not route.startswith("portal/") or not hasattr(view, "get"):
            continue
        if has_id(route) and name not in OWNED:
            continue
        url = url_for(route, world[OWNED[name]] if name in OWNED else 0)
        scan(url, client.get(url))

    roles = ("risk", "compliance", "ops", "auditor")
    for route, name, view in routes():
        if not route.startswith("staff/") or not hasattr(view, "get"):
            continue
        url = url_for(route, staff_pk(name, world)) if has_id(route) else url_for(route, 0)
        for role in roles:
            login_verified(client, staff[role])
            response = client.get(url)
            if response.status_code != 403:
                scan(url, response)
                break

    client.force_login(make_user("treasury"))  # no second factor yet: enrolment pages
    for url in ("/accounts/2fa/setup/", "/accounts/2fa/verify/"):
        scan(url, client.get(url))

    login_verified(client, staff["risk"])
    for url in (
        "/admin/",
        "/admin/lending/margincall/",
        f"/admin/lending/margincall/{world['call']}/change/",
        f"/admin/lending/margincall/{world['call']}/history/",
        "/admin/reports/filing/",
        "/admin/compliance/regulatoryparameter/add/",
        "/accounts/tokens/?all=1",
    ):
        scan(url, client.get(url))

    print(f"CSP scan: {len(scanned)} HTML pages")
    assert not problems, "\n".join(
        f"{url}: {'; '.join(found)}" for url, found in sorted(problems.items())
    )
    # the scan reached the pages it is meant for (portal home, console, queues, admin)
    assert {"/portal/", "/staff/", "/admin/", "/accounts/login/", "/api/docs/", simulated} <= set(
        scanned
    )
    assert len(scanned) >= 40, scanned
