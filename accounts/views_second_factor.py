from django.contrib import messages
from django.contrib.auth.mixins import LoginRequiredMixin, UserPassesTestMixin
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
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


class SecondFactorSetupView(StaffOnly, View):
    template_name = "accounts/second_factor_setup.html"

    def get(self, request):
        device = second_factor.totp_device_start(user=request.user)
        return render(
            request,
            self.template_name,
            {
                "qr_svg": mark_safe(second_factor.qr_svg(device)),  # noqa: S308  (generated SVG)
                "has_confirmed": second_factor.confirmed_device(request.user) is not None,
            },
        )

    def post(self, request):
        try:
            second_factor.totp_device_confirm(request=request, token=request.POST.get("token", ""))
        except ApplicationError as exc:
            messages.error(request, exc.message)
            return redirect("accounts:second-factor-setup")
        messages.success(request, _("Two-factor sign-in is active for your account."))
        return redirect("staff:home")


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
