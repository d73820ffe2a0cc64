"""Access-control matrix over every route the resolver knows (portal, staff console, API v1).

1. Isolation: every detail endpoint or page with an object id, requested by another investor
   for investor A's object, answers 404; A gets the object. Routes with an id that are not
   investor-visible (OWNED below) must answer 403 to an investor: a new route that answers
   anything else fails here until it is classified.
2. Writes: every POST/PUT/PATCH/DELETE route, requested by a role without the permission (the
   read-only auditor; an investor on staff routes), answers 403.

Routes are enumerated from the URL resolver, so new endpoints are covered automatically;
the exemptions are listed with their reasons. Built on the real services and PostgreSQL.
"""

import re
from datetime import timedelta

import pytest
from django.core.files.base import ContentFile
from django.urls import URLPattern, URLResolver, get_resolver
from django.utils import timezone

from tests.compliance.fixtures import *  # noqa: F403
from tests.lending.book_fixtures import *  # noqa: F403
from tests.lending.calls_fixtures import *  # noqa: F403
from tests.lending.calls_fixtures import overdue_call

pytestmark = pytest.mark.django_db

AREAS = ("portal/", "staff/", "api/v1/")

#: Writes anyone may make, or whose only check is the credentials they carry.
EXEMPT_WRITES = {
    "v1:auth-token": "exchanges credentials for a token: public by design",
    "v1:lending-simulator-leverage": "open calculator (no login, writes nothing)",
}

#: Investor-visible objects: URL name -> key of the `world` fixture holding investor A's id.
OWNED = {
    "portal:compliance-assessment-detail": "assessment",
    "portal:lending-application-detail": "application",
    "portal:lending-contract-renew": "contract",
    "portal:lending-notice-acknowledge": "notice",
    "portal:reports-statement-download": "statement",
    "v1:compliance-assessment-detail": "assessment",
    "v1:lending-application-detail": "application",
    "v1:lending-contract-detail": "contract",
    "v1:lending-contract-renew": "contract",
    "v1:lending-credit-account-detail": "account",
    "v1:lending-drawdown": "account",
    "v1:lending-withdrawal": "account",
    "v1:lending-margin-call-detail": "call",
    "v1:lending-margin-notice-acknowledge": "notice",
    "v1:lending-liquidation-plan-detail": "plan",
}

#: Which object id a staff-only route with an id is tried with (any existing one will do).
STAFF_OBJECT = {
    "filing": "filing",
    "mtm-run": "mtm_run",
    "risk-run": "risk_run",
    "application": "application",
    "margin-call": "call",
    "liquidation": "plan",
    "liquidation-plan": "plan",
    "statement": "statement",
    "instrument": "instrument",
}

WRITE_METHODS = ("post", "put", "patch", "delete")

#: Well-formed bodies, so that the refusal tested is the permission's, not the parser's. A new
#: write route without a body here is tried with an empty one.
REASON = {"reason": "access matrix"}
WRITE_BODIES = {
    "v1:lending-application-prepare": {
        "credit_grade": "B",
        "collateral_liquidity": "high",
        "proposed_limit": "100000.00",
        "proposed_term_months": 6,
        "note": "access matrix",
    },
    "v1:lending-application-approve": REASON,
    "v1:lending-application-reject": REASON,
    "v1:lending-prices": {
        "ticks": [{"instrument": "SSE:600519", "price": "99.00", "at": "2026-06-01T10:00:00+08:00"}]
    },
    "v1:lending-drawdown": {"instrument": "SZSE:000001", "quantity": "100", "price": "10.00"},
    "v1:lending-withdrawal": {"kind": "cash", "amount": "1.00"},
    "v1:lending-margin-call-plan-prepare": REASON,
    "v1:lending-liquidation-plan-approve": REASON,
    "v1:lending-liquidation-plan-reject": REASON,
    "v1:lending-liquidation-plan-execute": REASON,
    "v1:lending-risk-run-list": {"kind": "stress", "reason": "access matrix"},
    "v1:lending-mtm-run-list": {},
    "v1:reports-filings": {"kind": "investor_register", "as_of": "2026-06-01T15:00:00+08:00"},
    "v1:reports-filing-approve": REASON,
    "v1:reports-filing-submit": REASON,
    "v1:reports-filing-regenerate": REASON,
    "v1:reports-filing-correct": REASON,
}


def routes():
    """(route, name, view class or function) for every portal, staff and API v1 route."""

    def walk(patterns, prefix="", namespace=""):
        for p in patterns:
            if isinstance(p, URLResolver):
                ns = namespace + (f"{p.namespace}:" if p.namespace else "")
                yield from walk(p.url_patterns, prefix + str(p.pattern), ns)
            elif isinstance(p, URLPattern):
                yield prefix + str(p.pattern), namespace + (p.name or ""), p.callback

    for route, name, callback in walk(get_resolver().url_patterns):
        if route.startswith(AREAS):
            yield (
                route,
                name,
                getattr(callback, "view_class", None) or getattr(callback, "cls", None),
            )


def methods(view_class) -> list[str]:
    return [m for m in ("get", *WRITE_METHODS) if view_class and hasattr(view_class, m)]


def url_for(route: str, pk) -> str:
    url = re.sub(r"<int:\w+>", str(pk), route)
    return "/" + re.sub(r"<str:fmt>", "pdf", url)


def has_id(route: str) -> bool:
    return "<int:" in route


@pytest.fixture
def world(account, staff, make_credit_account, book_instruments, reserve):
    """Investor A (`account`) with an overdue call, its notices, a prepared liquidation plan,
    an application, a contract, an assessment and a statement; investor B with an account."""
    from compliance.models import SuitabilityAssessment
    from lending.models import CreditApplication, CreditContract, Notice
    from lending.models.mtm import MtmRun
    from lending.models.risk import RiskRun
    from lending.services import liquidation
    from reports import kinds
    from reports import services as reports_services
    from reports.models import ClientStatement, Filing  # noqa: F401

    call = overdue_call(account, staff)
    plan = liquidation.liquidation_plan_prepare(
        call=call, actor=staff["risk"], reason="overdue", now=call.deadline + timedelta(days=1)
    )
    investor = account.investor
    # a ready statement row: the monthly run covers finished months only, and A was onboarded
    # today, so the row is written directly (its generation is tested in tests/reports)
    last_month = timezone.localdate().replace(day=1) - timedelta(days=1)
    statement = ClientStatement(
        investor=investor,
        period_start=last_month.replace(day=1),
        period_end=last_month,
        as_of=timezone.now(),
        status="ready",
    )
    statement.pdf_file.save("statement.pdf", ContentFile(b"%PDF-1.4 test"), save=False)
    statement.save()
    filing = reports_services.filing_request(
        kind=kinds.kinds_all()[0].code, as_of=timezone.now(), actor=staff["compliance"]
    )
    mtm_run = MtmRun.objects.create(status="succeeded")
    other = make_credit_account()
    return {
        "filing": filing.pk,
        "mtm_run": mtm_run.pk,
        "risk_run": RiskRun.objects.values_list("pk", flat=True).first() or 1,
        "a": investor.user,
        "b": other.investor.user,
        "account": account.pk,
        "call": call.pk,
        "plan": plan.pk,
        "notice": Notice.objects.filter(credit_account=account, channel="portal").first().pk,
        "application": CreditApplication.objects.filter(investor=investor).first().pk,
        "contract": CreditContract.objects.filter(investor=investor).first().pk,
        "assessment": SuitabilityAssessment.objects.filter(investor=investor).first().pk,
        "statement": statement.pk,
        "instrument": book_instruments["SSE:600519"].pk,
    }


def staff_pk(name: str, world) -> int:
    for fragment, key in STAFF_OBJECT.items():
        if fragment in name:
            return world[key]
    return world["call"]


def test_owned_routes_exist():
    """OWNED names every investor-visible route that exists (a renamed route fails here)."""
    names = {name for _route, name, _view in routes()}
    assert set(OWNED) <= names, set(OWNED) - names


def test_another_investors_object_answers_404_and_staff_only_routes_403(world, client):
    failures = []
    for route, name, view in routes():
        if not has_id(route):
            continue
        if name in OWNED:
            url = url_for(route, world[OWNED[name]])
            for method in methods(view):
                client.force_login(world["b"])
                status = getattr(client, method)(url).status_code
                if status != 404:
                    failures.append(
                        f"{method.upper()} {url} ({name}) as another investor: {status}"
                    )
            if "get" in methods(view):
                client.force_login(world["a"])
                status = client.get(url).status_code
                if status != 200:
                    failures.append(f"GET {url} ({name}) as its investor: {status}")
        else:
            url = url_for(route, staff_pk(name, world))
            for method in methods(view):
                client.force_login(world["b"])
                status = getattr(client, method)(url).status_code
                if status not in (403, 404):
                    failures.append(
                        f"{method.upper()} {url} ({name}) as an investor: {status}; "
                        "if investors may see these objects, add the route to OWNED"
                    )
    assert not failures, "\n".join(failures)


def row_counts() -> dict[str, int]:
    from django.apps import apps

    return {
        m._meta.label: m._default_manager.count()
        for m in apps.get_models()
        if m._meta.app_label in ("accounts", "custody", "compliance", "lending", "reports")
    }


def test_writes_without_the_permission_answer_403(world, staff, client):
    """API writes: 403. Staff pages: 403 when the role may not even open the page; a page
    the role may read (the auditor reads everything) refuses the write in the page itself (the
    form shown again with the refusal, a redirect with it, or 404 for a form naming no object),
    so there the test requires that no row anywhere changed. Portal pages: the auditor has no
    investor profile, so 404."""
    failures = []
    checked = 0
    for route, name, view in routes():
        writes = [m for m in methods(view) if m in WRITE_METHODS]
        if not writes or name in EXEMPT_WRITES:
            continue
        pk = world[OWNED[name]] if name in OWNED else staff_pk(name, world)
        url = url_for(route, pk)
        users = [("auditor", staff["auditor"])]
        if route.startswith("staff/"):
            users.append(("investor", world["b"]))
        for label, user in users:
            client.force_login(user)
            for method in writes:
                checked += 1
                before = row_counts()
                if route.startswith("api/"):
                    response = getattr(client, method)(
                        url,
                        WRITE_BODIES.get(name, {}),
                        content_type="application/json",
                        HTTP_IDEMPOTENCY_KEY=f"matrix-{name}",
                    )
                    allowed = {403}
                elif route.startswith("portal/"):
                    response = getattr(client, method)(url)
                    allowed = {403, 404}
                else:
                    response = getattr(client, method)(url)
                    allowed = {403} if label == "investor" else {403, 200, 302, 400, 404}
                status = response.status_code
                changed = {k for k, v in row_counts().items() if before[k] != v}
                if status not in allowed or changed:
                    failures.append(
                        f"{method.upper()} {url} ({name}) as {label}: {status}"
                        + (f", changed {sorted(changed)}" if changed else "")
                        + (f" {response.content[:160]!r}" if status not in allowed else "")
                    )
    assert checked > 30
    assert not failures, "\n".join(failures)
