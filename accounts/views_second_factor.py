from django.contrib import messages
from django.contrib.auth.mixins import LoginRequiredMixin, UserPassesTestMixin
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme, urlencode
from django.utils.safestring import mark_safe
from django.utils.translation import gettext as _
from django.views import View

from . import second_factor
from .errors import ApplicationError


class StaffOnly(LoginRequiredMixin, UserPassesTestMixin):
    def test_func(self) -> bool:
        return self.request.user.is_staff


def _next_url(request) -> str:
    candidate = request.POST.get("next") or request.GET.get("next") or ""
    if url_has_allowed_host_and_scheme(candidate, allowed_hosts={request.get_host()}):
        return candidate
    return "/staff/"


def _verify_first(request):
    """Replacing an enrolled authenticator needs the current one: a password alone must not
    be enough to enrol a new device and so pass the second factor."""
    target = reverse("accounts:second-factor-verify")
    here = reverse("accounts:second-factor-setup")
    return redirect(f"{target}?{urlencode({'next': here})}")


class SecondFactorSetupView(StaffOnly, View):
    template_name = "accounts/second_factor_setup.html"

    def get(self, request):
        has_confirmed = second_factor.confirmed_device(request.user) is not None
        if has_confirmed and not second_factor.is_verified(request.user):
            return _verify_first(request)
        device = second_factor.totp_device_start(user=request.user)
        return render(
            request,
            self.template_name,
            {
                "qr_svg": mark_safe(second_factor.qr_svg(device)),  # noqa: S308  (generated SVG)
                "has_confirmed": has_confirmed,
                "next": _next_url(request),
            },
        )

    def post(self, request):
        try:
            second_factor.totp_device_confirm(request=request, token=request.POST.get("token", ""))
        except ApplicationError as exc:
            if exc.code == "second_factor_required":
                return _verify_first(request)
            messages.error(request, exc.message)
            return redirect(
                f"{reverse('accounts:second-factor-setup')}?"
                f"{urlencode({'next': _next_url(request)})}"
            )
        messages.success(request, _("Two-factor sign-in is active for your account."))
        return redirect(_next_url(request))


class SecondFactorVerifyView(StaffOnly, View):
    template_name = "accounts/second_factor_verify.html"

    def get(self, request):
        if second_factor.confirmed_device(request.user) is None:
            return redirect("accounts:second-factor-setup")
        return render(request, self.template_name, {"next": _next_url(request)})

    def post(self, request):
        try:
            second_factor.session_verify(request=request, token=request.POST.get("token", ""))
        except ApplicationError as exc:
            return render(
                request,
                self.template_name,
                {"next": _next_url(request), "error": exc.message},
                status=400,
            )
        return redirect(_next_url(request))
