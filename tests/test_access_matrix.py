"""Access-control matrix over every route the resolver knows (portal, staff console, API v1).

1. Isolation: every detail endpoint or page with an object id, requested by another investor
   for investor A's object, answers 404; A gets the object. Routes with an id that are not
   investor-visible (OWNED below) must answer 403 to an investor: a new route that answers
   anything else fails here until it is classified.
2. Writes: every POST/PUT/PATCH/DELETE route, requested by a role without the permission,
   answers 403 and touches no row. API and portal writes are tried as the read-only auditor;
   staff page writes as every role (investor, operations, risk, compliance, treasury, auditor)
   lacking the permission the view declares (accounts.permissions.WritePermissionMixin), for
   each action the view tells apart, so a page the role may read refuses the write with 403
   too, before anything is touched.

Routes are enumerated from the URL resolver, so new endpoints are covered automatically;
the exemptions are listed with their reasons. Built on the real services and PostgreSQL.
"""

import re
from datetime import timedelta

import pytest
from django.core.files.base import ContentFile
from django.urls import URLPattern, URLResolver, get_resolver
from django.utils import timezone

from tests.lending.calls_fixtures import overdue_call

pytestmark = pytest.mark.django_db

AREAS = ("portal/", "staff/", "api/v1/")

#: Writes anyone may make, or whose only check is the credentials they carry.
EXEMPT_WRITES = {
    "v1:auth-tokens": "exchanges credentials (and a staff code) for a token: public by design",
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
    "v1:lending-account-orders": "account",
    "v1:lending-order": "order",
    "v1:lending-order-cancel": "order",
    "portal:lending-order-cancel": "order",
    "v1:lending-withdrawal": "account",
    "v1:lending-repayment": "account",
    "v1:lending-margin-call-detail": "call",
    "v1:lending-margin-notice-acknowledge": "notice",
    "v1:lending-liquidation-plan-detail": "plan",
    "v1:lending-financing-extensions": "financing",
    "v1:lending-credit-account-history": "account",
    "v1:lending-short-positions": "account",
    "v1:lending-short-return": "account",
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
    "order": "order",
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
    "v1:lending-account-orders": {
        "instrument": "SZSE:000001",
        "purpose": "cash_buy",
        "quantity": "100",
        "limit_price": "10.00",
    },
    "v1:lending-order-cancel": REASON,
    "v1:lending-withdrawal": {"kind": "cash", "amount": "1.00"},
    "v1:lending-repayment": {"amount": "1.00", "reason": "access matrix"},
    "v1:lending-short-return": {"instrument": "SSE:600519", "quantity": "100", **REASON},
    "v1:lending-financing-extensions": {"months": 1, "reason": "access matrix"},
    "v1:lending-financing-extension-prepare": {"note": "access matrix"},
    "v1:lending-financing-extension-decision": {"approve": True, "reason": "access matrix"},
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
    a working sell order, an application, a contract, an assessment and a statement;
    investor B with an account."""
    from compliance.models import SuitabilityAssessment
    from lending.liquidation import services as liquidation
    from lending.models import CreditApplication, CreditContract, LatestPrice, Notice
    from lending.mtm.models import MtmRun
    from lending.orders import services as orders
    from lending.risk.models import RiskRun
    from reports import kinds
    from reports import services as reports_services
    from reports.models import ClientStatement, Filing  # noqa: F401

    call = overdue_call(account, staff)
    plan = liquidation.liquidation_plan_prepare(
        call=call, actor=staff["risk"], reason="overdue", now=call.deadline + timedelta(days=1)
    )
    investor = account.investor
    moutai = book_instruments["SSE:600519"]
    order = orders.order_place(
        credit_account=account,
        instrument=moutai,
        purpose="sell",
        quantity=100,
        limit_price=LatestPrice.objects.get(instrument=moutai).price,
        actor=investor.user,
        idempotency_key="matrix-order",
    )
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
        "instrument": moutai.pk,
        "order": order.pk,
        "financing": account.financings.values_list("pk", flat=True).first(),
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


DOMAIN_APPS = ("accounts", "custody", "compliance", "lending", "reports")


def row_writes() -> dict[str, int]:
    """Rows inserted, updated or deleted so far in this test's transaction, per table of the
    domain apps: PostgreSQL's per-transaction statistics count an UPDATE as well as a new row,
    so "no row touched" is checked, not only "no row added"."""
    from django.apps import apps
    from django.db import connection

    tables = [m._meta.db_table for m in apps.get_models() if m._meta.app_label in DOMAIN_APPS]
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT relname, n_tup_ins + n_tup_upd + n_tup_del FROM pg_stat_xact_user_tables"
            " WHERE relname = ANY(%s)",
            [tables],
        )
        return dict(cursor.fetchall())


def touched(before: dict[str, int]) -> list[str]:
    return sorted(t for t, n in row_writes().items() if n != before.get(t, 0))


@pytest.fixture
def role_users(world, staff, make_user):
    """One user per role (a new role is tried automatically), staff with a verified second
    factor, so that a refusal is the permission's and not the missing second factor's."""
    from accounts.roles import Role

    known = {
        Role.INVESTOR: world["b"],
        Role.OPERATIONS: staff["ops"],
        Role.RISK: staff["risk"],
        Role.COMPLIANCE: staff["compliance"],
        Role.AUDITOR: staff["auditor"],
    }
    return {role.value: known.get(role) or make_user(role) for role in Role}


def login(client, user):
    from tests.compliance.fixtures import login_verified

    if user.is_staff:
        login_verified(client, user)
    else:
        client.force_login(user)


def staff_write_routes():
    """(route, name, view, method) for every write on a staff page."""
    for route, name, view in routes():
        if route.startswith("staff/"):
            for method in methods(view):
                if method in WRITE_METHODS:
                    yield route, name, view, method


def test_staff_page_writes_declare_a_permission_some_role_holds(db):
    """Every staff page write names its permission (accounts.permissions); each permission
    exists and some staff role holds it (a misspelt one would refuse everybody)."""
    from django.contrib.auth.models import Group, Permission

    from accounts.permissions import WritePermissionMixin

    existing = {
        f"{app}.{code}"
        for app, code in Permission.objects.values_list("content_type__app_label", "codename")
    }
    granted = {
        f"{app}.{code}"
        for app, code in Group.objects.exclude(name="investor").values_list(
            "permissions__content_type__app_label", "permissions__codename"
        )
    }
    failures = []
    seen = 0
    for _route, name, view, _method in staff_write_routes():
        seen += 1
        if not issubclass(view, WritePermissionMixin):
            failures.append(f"{name}: {view.__name__} does not use WritePermissionMixin")
            continue
        for action in view.write_actions():
            for permission in view.write_permissions_for(action):
                if permission not in existing:
                    failures.append(f"{name} ({action}): no permission {permission}")
                elif permission not in granted:
                    failures.append(f"{name} ({action}): no staff role holds {permission}")
    assert seen >= 10
    assert not failures, "\n".join(failures)


def api_and_portal_write_failures(world, staff, client) -> tuple[int, list[str]]:
    """API and portal writes by the read-only auditor: 403 (portal pages: 404, the auditor has
    no investor profile), nothing touched."""
    failures = []
    checked = 0
    for route, name, view in routes():
        writes = [m for m in methods(view) if m in WRITE_METHODS]
        if not writes or name in EXEMPT_WRITES or route.startswith("staff/"):
            continue
        pk = world[OWNED[name]] if name in OWNED else staff_pk(name, world)
        url = url_for(route, pk)
        login(client, staff["auditor"])  # verified: the refusal is the permission's
        for method in writes:
            checked += 1
            before = row_writes()
            if route.startswith("api/"):
                response = getattr(client, method)(
                    url,
                    WRITE_BODIES.get(name, {}),
                    content_type="application/json",
                    HTTP_IDEMPOTENCY_KEY=f"matrix-{name}",
                )
                allowed = {403}
            else:
                response = getattr(client, method)(url)
                allowed = {403, 404}
            status = response.status_code
            changed = touched(before)
            if status not in allowed or changed:
                failures.append(
                    f"{method.upper()} {url} ({name}) as auditor: {status}"
                    + (f", touched {changed}" if changed else "")
                    + (f" {response.content[:160]!r}" if status not in allowed else "")
                )
    return checked, failures


def staff_page_write_failures(world, role_users, client) -> tuple[int, set[str], list[str]]:
    """Every write on a staff page, for every action its view tells apart, by every role
    without the permission the view declares (the investor, the read-only auditor, and the
    staff roles whose grants lack it): exactly 403, nothing touched. The body is a well-formed
    decision, so the refusal tested is the permission's, not the form's."""
    failures = []
    tried: set[str] = set()
    checked = 0
    for route, name, view, method in staff_write_routes():
        url = url_for(route, staff_pk(name, world))
        for action in view.write_actions():
            needed = view.write_permissions_for(action)
            body = {"reason": "access matrix", "decision": "approve"}
            if action is not None:
                body[view.write_action_field] = action
            for role, user in role_users.items():
                if user.has_perms(needed):
                    continue
                login(client, user)
                checked += 1
                tried.add(role)
                before = row_writes()
                response = getattr(client, method)(url, body)
                changed = touched(before)
                if response.status_code != 403 or changed:
                    failures.append(
                        f"{method.upper()} {url} ({name}, {action or 'default'}) as {role} "
                        f"without {', '.join(needed)}: {response.status_code}"
                        + (f", touched {changed}" if changed else "")
                    )
    return checked, tried, failures


def test_writes_without_the_permission_answer_403(world, staff, role_users, client):
    """API and portal writes as the auditor; staff page writes as every role lacking the
    permission (one test: building `world` is the slow part)."""
    api_checked, api_failures = api_and_portal_write_failures(world, staff, client)
    staff_checked, tried, staff_failures = staff_page_write_failures(world, role_users, client)
    assert api_checked > 20
    assert staff_checked > 50
    # the matrix reaches beyond the auditor: every role lacks some staff page write
    assert tried == set(role_users), set(role_users) - tried
    failures = api_failures + staff_failures
    assert not failures, "\n".join(failures)


def test_the_403_page_is_friendly_and_translated(staff, client):
    """A refused write shows the desk's page in the user's language, not a bare 403."""
    login(client, staff["auditor"])
    for language, text in (("en", "Nothing was changed."), ("zh-CN", "未做任何更改")):
        response = client.post("/staff/lending/mtm-runs/", HTTP_ACCEPT_LANGUAGE=language)
        assert response.status_code == 403
        assert text in response.content.decode(), language


def test_row_writes_sees_an_update_not_only_new_rows(book_instruments):
    """The probe above counts an UPDATE that adds no row (so a refusal that changes a status
    would be caught)."""
    from django.db.models import F

    from lending.models import Instrument

    before = row_writes()
    Instrument.objects.filter(pk=book_instruments["SSE:600519"].pk).update(name=F("name"))
    assert touched(before) == [Instrument._meta.db_table]
