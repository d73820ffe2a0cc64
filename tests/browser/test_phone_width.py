"""Phone layouts (issue 20, item 4): at a 390 px viewport no portal page and none of the staff
pages a desk uses on a phone (dashboard, margin calls, approvals) scrolls sideways: tables
become cards or scroll inside their own box, long hashes and codes wrap.

The portal pages are enumerated from the URL resolver (every GET-able route of the "portal"
namespace; routes with an id are opened with the seeded investor's object, and a new one fails
here until it is given one), so a new page is covered automatically. The investor has a full
book: deposit, own and financed positions, an overdue margin call with its notices, a prepared
liquidation plan, a working order, an application, a contract and a statement. A failure names
each page, its width and the elements that stick out."""

import os
import re
from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.files.base import ContentFile
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.utils import timezone

from tests.lending.calls_fixtures import overdue_call

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
]

WIDTH = 390
#: PHONE_SCREENSHOTS=<folder>: also keep a full-page screenshot of every page measured
SCREENSHOTS = os.environ.get("PHONE_SCREENSHOTS")

#: Portal routes with an id: URL name -> key of the `book` fixture holding the object's id.
PORTAL_OBJECT = {
    "portal:compliance-assessment-detail": "assessment",
    "portal:lending-application-detail": "application",
    "portal:reports-statement-download": "statement",
    "portal:lending-short-extension-request": "short_position",
}

#: The staff pages a desk uses on a phone: URL name -> key of `book` for the id, or None.
STAFF_PAGES = {
    "staff:home": None,
    "staff:lending-margin-calls": None,
    "staff:lending-margin-call-detail": "call",
    "staff:lending-review-queue": None,
    "staff:lending-review-detail": "pending_application",
    "staff:lending-liquidation-queue": None,
    "staff:lending-liquidation-detail": "plan",
    "staff:lending-maturities": None,
}

#: The elements that stick out of the viewport, deepest first (a failure's diagnosis).
OVERFLOWING = """(width) => {
  const out = [];
  for (const el of document.body.querySelectorAll('*')) {
    const box = el.getBoundingClientRect();
    if (box.right <= width + 0.5 || box.width === 0) continue;
    let hidden = false;
    for (let p = el.parentElement; p && p !== document.body; p = p.parentElement) {
      const o = getComputedStyle(p).overflowX;
      if (o === 'auto' || o === 'scroll' || o === 'hidden') { hidden = true; break; }
    }
    if (hidden) continue;
    if ([...el.children].some((c) => c.getBoundingClientRect().right > width + 0.5)) continue;
    const cls = el.className && typeof el.className === 'string'
      ? '.' + el.className.trim().split(/\\s+/).join('.') : '';
    out.push(`${el.tagName.toLowerCase()}${el.id ? '#' + el.id : ''}${cls}`
      + ` (right edge ${Math.round(box.right)} px: "${el.textContent.trim().slice(0, 40)}")`);
  }
  return out.slice(0, 5);
}"""


def portal_routes():
    """(URL name, route) of every GET-able route of the portal namespace."""

    def walk(patterns, prefix="", namespace=""):
        for p in patterns:
            if isinstance(p, URLResolver):
                ns = namespace + (f"{p.namespace}:" if p.namespace else "")
                yield from walk(p.url_patterns, prefix + str(p.pattern), ns)
            elif isinstance(p, URLPattern):
                yield namespace + (p.name or ""), prefix + str(p.pattern), p.callback

    for name, route, callback in walk(get_resolver().url_patterns):
        view = getattr(callback, "view_class", None)
        if name.startswith("portal:") and view is not None and hasattr(view, "get"):
            yield name, route


def portal_urls(book) -> list[tuple[str, str]]:
    urls, unknown = [], []
    for name, route in portal_routes():
        if "<" not in route:
            urls.append((name, reverse(name)))
        elif name in PORTAL_OBJECT:
            urls.append((name, reverse(name, args=[book[PORTAL_OBJECT[name]]])))
        else:
            unknown.append(f"{name} ({route})")
    assert not unknown, f"give these portal pages an object in PORTAL_OBJECT: {unknown}"
    return urls


@pytest.fixture
def book(funded_account, make_investor, make_eligible, staff, book_instruments, reserve):
    """A full book on an investor, and the staff's queues with one item each."""
    from compliance.models import SuitabilityAssessment
    from custody import services as custody_services
    from lending.credit import services as credit
    from lending.financing import maturity
    from lending.instruments import exchange_lists
    from lending.liquidation import services as liquidation
    from lending.models import CreditApplication, LatestPrice
    from lending.orders import services as orders
    from lending.shorts import services as inventory
    from lending.shorts.models import ShortPosition
    from reports.models import ClientStatement
    from tests.support import market

    account = funded_account(
        deposit="200000",
        own=(("SSE:600519", 2000, "100.00"),),
        financed=(("SZSE:000001", 14000, "10.00"),),
    )
    investor = account.investor
    # a second account asks for an extension of its financing (the maturities page's queue)
    other = funded_account()
    maturity.financing_extension_request(
        financing=other.financings.first(),
        months=1,
        actor=other.investor.user,
        reason="cash expected next month",
    )
    # a short sale of the ETF (融券) from the desk's inventory: the short positions' pages
    etf = book_instruments["SSE:510300"]
    exchange_lists.exchange_list_import(
        exchange="SSE",
        kind="short_target",
        effective_on=timezone.localdate(),
        file_name="sse-short-targets.csv",
        content="code\n510300\n",
        actor=staff["risk"],
        reason="daily exchange list",
    )
    inventory.inventory_house_add(
        instrument=etf,
        quantity="5000",
        confirmation_reference="CSDC-PHONE-1",
        actor=staff["ops"],
        reason="house ETF units confirmed by the custodian",
    )
    custody_services.client_deposit_post(
        investor=investor,
        amount=Decimal("4000"),  # the short sale's margin: the call below still comes
        currency="CNY",
        bank_account=investor._test_bank_account,
        reference="margin for the short sale",
        actor=None,
        idempotency_key="phone-width-short-margin",
    )
    market.traded(account, etf, "short_sale", 1000, "4.000", actor=investor.user)
    short_position = ShortPosition.objects.get(credit_account=account)
    # the call (overdue) and its plan on the first: notices, a call detail, a plan to approve
    call = overdue_call(account, staff)
    plan = liquidation.liquidation_plan_prepare(
        call=call, actor=staff["risk"], reason="overdue", now=call.deadline + timedelta(days=1)
    )
    moutai = book_instruments["SSE:600519"]
    orders.order_place(
        credit_account=account,
        instrument=moutai,
        purpose="sell",
        quantity=100,
        limit_price=LatestPrice.objects.get(instrument=moutai).price,
        actor=investor.user,
        idempotency_key="phone-width-order",
    )
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
    # an application prepared by operations, waiting for risk's approval
    applicant = make_eligible(make_investor())
    pending = credit.credit_application_submit(
        investor=applicant,
        requested_limit=Decimal("800000"),
        requested_term_months=6,
        actor=applicant.user,
    )
    pending = credit.credit_application_prepare(
        application=pending,
        actor=staff["ops"],
        credit_grade="B",
        collateral_liquidity="high",
        proposed_limit=Decimal("800000"),
        proposed_term_months=6,
        note="assets verified",
    )
    return {
        "investor": investor.user,
        "call": call.pk,
        "plan": plan.pk,
        "statement": statement.pk,
        "application": CreditApplication.objects.filter(investor=investor).first().pk,
        "assessment": SuitabilityAssessment.objects.filter(investor=investor).first().pk,
        "pending_application": pending.pk,
        "short_position": short_position.pk,
    }


def too_wide(page, live_server, urls) -> list[str]:
    failures = []
    for name, url in urls:
        response = page.request.get(f"{live_server.url}{url}")
        if not response.headers.get("content-type", "").startswith("text/html"):
            continue  # a download (the statement's PDF)
        page.goto(f"{live_server.url}{url}")
        page.wait_for_load_state("load")
        assert page.url.endswith(url), f"{name}: {url} went to {page.url}"
        width = page.evaluate("document.documentElement.scrollWidth")
        if SCREENSHOTS:
            shot = re.sub(
                r"[^\w.-]+", "_", f"{page.evaluate('document.documentElement.lang')}{url}"
            )
            page.screenshot(path=os.path.join(SCREENSHOTS, f"{shot}.png"), full_page=True)
        if width > WIDTH:
            culprits = page.evaluate(OVERFLOWING, WIDTH)
            failures.append(f"{name} {url}: {width} px wide at {WIDTH} px; {culprits}")
    return failures


@pytest.mark.parametrize("language", ["en", "zh-hans"])
def test_no_page_scrolls_sideways_on_a_phone(
    page, live_server, sign_in, sign_in_verified, book, staff, language
):
    page.set_extra_http_headers({"Accept-Language": language})
    page.set_viewport_size({"width": WIDTH, "height": 844})

    sign_in(page, book["investor"].email)
    urls = portal_urls(book)
    assert len(urls) >= 12, urls
    failures = too_wide(page, live_server, urls)

    staff_urls = [
        (name, reverse(name, args=[book[key]]) if key else reverse(name))
        for name, key in STAFF_PAGES.items()
    ]
    for role in ("risk", "ops"):
        page.context.clear_cookies()
        sign_in_verified(page, staff[role])
        readable = [
            (f"{name} as {role}", url)
            for name, url in staff_urls
            if page.request.get(f"{live_server.url}{url}").status == 200
        ]
        if role == "risk":
            assert len(readable) == len(staff_urls), readable
        failures += too_wide(page, live_server, readable)

    assert not failures, "\n".join(failures)


def test_tables_read_as_cards_on_a_phone(page, live_server, sign_in, book):
    """A data table's cells carry their column's header (tables.js) and show it as a label
    when the table is drawn as cards."""
    page.set_extra_http_headers({"Accept-Language": "en"})
    page.set_viewport_size({"width": WIDTH, "height": 844})
    sign_in(page, book["investor"].email)
    page.goto(f"{live_server.url}/portal/lending/account/")
    cell = page.locator("#positions table.data.cards tbody td[data-label]").first
    assert cell.get_attribute("data-label") == "Instrument"
    assert cell.evaluate("td => getComputedStyle(td, '::before').content") == '"Instrument"'
    assert cell.evaluate("td => getComputedStyle(td.parentElement).display") == "block"
    assert not page.locator("#positions thead").is_visible() or page.locator(
        "#positions thead"
    ).evaluate("h => h.getBoundingClientRect().width <= 1")
