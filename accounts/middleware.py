"""Staff console pages and the Django admin: a write needs a verified second factor.

`SecondFactorForStaffWrites` applies the rule of accounts.second_factor
(`write_needs_second_factor`) to every POST/PUT/PATCH/DELETE outside the API, before the view
runs: a staff user whose session was not verified is sent (303) to the verify page with `next`
set to the page they were on (`page_url`), or to enrolment when they have no confirmed
authenticator, with a message saying why. Nothing of the view runs, so nothing is read from the
form or written.

Reading (GET, HEAD, OPTIONS) stays open; investors and the market-data feed are not staff and
pass. Exempt views, which must stay reachable before the code is entered: sign-in, sign-out,
the two-factor pages themselves and the language switch (EXEMPT_VIEWS). The API (/api/) is
left to the DRF permission `accounts.api_permissions.SecondFactorForStaffWrites`, which answers
in the API's error shape instead of redirecting.

Placed after django_otp's OTPMiddleware (which marks request.user verified or not) and
Django's MessageMiddleware.
"""

from urllib.parse import urlsplit

from django.contrib import messages
from django.http import HttpResponseRedirect
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme, urlencode
from django.utils.translation import gettext as _

from .second_factor import confirmed_device, write_needs_second_factor

WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})

API_PREFIX = "/api/"

#: Writes that must stay reachable by a staff user not yet verified (view names).
EXEMPT_VIEWS = frozenset(
    {
        "accounts:login",
        "accounts:logout",
        "accounts:second-factor-setup",
        "accounts:second-factor-verify",
        "admin:login",
        "admin:logout",
        "set_language",
    }
)


class HttpResponseSeeOther(HttpResponseRedirect):
    """303: the browser follows with a GET, never re-sending the refused form."""

    status_code = 303


def page_url(request) -> str:
    """The page the refused form was sent from (its Referer, when it is this site), else the
    URL it was sent to: where the user returns once verified."""
    referer = request.headers.get("Referer", "")
    if referer and url_has_allowed_host_and_scheme(
        referer, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        parts = urlsplit(referer)
        return parts.path + (f"?{parts.query}" if parts.query else "")
    return request.get_full_path()


class SecondFactorForStaffWrites:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_view(self, request, view_func, view_args, view_kwargs):
        if request.method not in WRITE_METHODS or request.path_info.startswith(API_PREFIX):
            return None
        match = request.resolver_match
        if match is not None and match.view_name in EXEMPT_VIEWS:
            return None
        user = getattr(request, "user", None)
        if not write_needs_second_factor(user):
            return None
        back = urlencode({"next": page_url(request)})
        if confirmed_device(user) is None:
            messages.warning(
                request,
                _(
                    "This action needs two-factor sign-in: set up your authenticator app, "
                    "then send the form again."
                ),
            )
            return HttpResponseSeeOther(f"{reverse('accounts:second-factor-setup')}?{back}")
        messages.warning(
            request,
            _(
                "This action needs the code from your authenticator app: enter it, "
                "then send the form again."
            ),
        )
        return HttpResponseSeeOther(f"{reverse('accounts:second-factor-verify')}?{back}")
