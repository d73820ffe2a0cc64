"""The staff console's navigation: each link shown only to a user the linked page lets in.

There is no second list of who may open what: a link is shown when the view its URL resolves
to admits the user by its own check (`test_func` of accounts.permissions.StaffPageMixin, the
`permission` the view declares; the admin site's `has_permission` for the admin). A view with
a check this module does not know is shown to staff, and tests/test_staff_nav.py (every link
shown to each staff role answers 200) tells when such a view refuses someone.

`staff_nav` (a context processor) gives templates/base.html `staff_nav`, evaluated only when a
page reads it: a list of (url, label) in the order of NAV."""

from django.contrib import admin
from django.urls import resolve, reverse
from django.utils.functional import SimpleLazyObject
from django.utils.translation import gettext_lazy as _

#: (URL name, label), in the order the navigation shows them.
NAV = (
    ("staff:home", _("Staff console")),
    ("staff:lending-margin-calls", _("Margin calls")),
    ("staff:lending-liquidation-queue", _("Liquidations")),
    ("staff:lending-orders", _("Orders")),
    ("staff:lending-review-queue", _("Credit reviews")),
    ("staff:lending-bank-credits", _("Money in")),
    ("staff:lending-collateral-transfers", _("Collateral transfers")),
    ("staff:lending-corporate-actions", _("Corporate actions")),
    ("staff:lending-repayment-instruction", _("Repayments")),
    ("staff:lending-maturities", _("Maturities")),
    ("staff:lending-held-deposits", _("Held deposits")),
    ("staff:lending-instrument-list", _("Instruments")),
    ("staff:lending-shorts-inventory", _("Lending inventory")),
    ("staff:lending-shorts-extensions", _("Short extensions")),
    ("staff:lending-mtm-runs", _("Mark-to-market")),
    ("staff:lending-risk-runs", _("Risk and reserve")),
    ("staff:custody-treasury", _("Treasury")),
    ("staff:compliance-investors", _("Investors")),
    ("staff:compliance-calendar", _("Calendar")),
    ("staff:reports-eod", _("End of day")),
    ("staff:reports-filings", _("Filings")),
    ("staff:reports-statements", _("Statements")),
    ("admin:index", _("Admin")),
)


def may_open(request, url: str) -> bool:
    """Whether the page at `url` lets `request.user` in, by the check its view makes."""
    match = resolve(url)
    if match.url_name == "index" and match.namespace == "admin":
        return admin.site.has_permission(request)
    view_class = getattr(match.func, "view_class", None)
    if view_class is None or not hasattr(view_class, "test_func"):
        return request.user.is_staff
    view = view_class(**getattr(match.func, "view_initkwargs", {}))
    view.setup(request, *match.args, **match.kwargs)
    return bool(request.user.is_staff and view.test_func())


def links_for(request) -> list[tuple[str, str]]:
    links = []
    for name, label in NAV:
        url = reverse(name)
        if may_open(request, url):
            links.append((url, label))
    return links


def staff_nav(request):
    user = getattr(request, "user", None)
    if not (user and user.is_authenticated and user.is_staff):
        return {}
    return {"staff_nav": SimpleLazyObject(lambda: links_for(request))}
