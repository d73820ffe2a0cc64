"""The "API tokens" page (/accounts/tokens/), for investors and desk staff alike: your tokens,
a new one (shown once), revoke; security staff (accounts.view_apitoken) list everyone's with
?all=1 and, holding accounts.revoke_any_token, revoke anyone's. Machines (the feeds) never
sign in to pages: their tokens come from POST /api/v1/auth/tokens/. A staff write here needs
the verified session every staff write needs (accounts.middleware)."""

from django.contrib import messages
from django.contrib.auth.mixins import LoginRequiredMixin
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views import View

from . import selectors, services
from .errors import ApplicationError
from .models import ApiToken


class ApiTokensView(LoginRequiredMixin, View):
    template_name = "accounts/api_tokens.html"

    def _everyone(self, request) -> bool:
        return request.GET.get("all") == "1" and request.user.has_perm("accounts.view_apitoken")

    def _render(self, request, *, issued=None, error="", status=200):
        everyone = self._everyone(request)
        tokens = selectors.api_tokens_visible(viewer=request.user, everyone=everyone)[:500]
        now = timezone.now()
        rows = [(token, token.status_at(now)) for token in tokens]
        context = {
            "rows": rows,
            "issued": issued,
            "error": error,
            "everyone": everyone,
            "may_list_all": request.user.has_perm("accounts.view_apitoken"),
            "may_revoke_any": request.user.has_perm("accounts.revoke_any_token"),
        }
        return render(request, self.template_name, context, status=status)

    def get(self, request):
        return self._render(request)

    def post(self, request):
        action = request.POST.get("action")
        try:
            if action == "create":
                row, token = services.api_token_issue(
                    user=request.user,
                    name=request.POST.get("name", ""),
                    otp_code=request.POST.get("otp_code", ""),
                    actor=request.user,
                )
                # shown in this answer only: never stored, never put in the session
                return self._render(request, issued={"token": token, "row": row})
            if action == "revoke":
                token = ApiToken.objects.filter(pk=request.POST.get("token") or 0).first()
                if token is None:
                    return self._render(request, error=_("token: no such token"), status=404)
                services.api_token_revoke(token=token, actor=request.user, reason="tokens page")
                messages.success(request, _("Token revoked: it is refused from now on."))
                target = reverse("accounts:api-tokens")
                return redirect(f"{target}?all=1" if self._everyone(request) else target)
        except ApplicationError as exc:
            return self._render(request, error=exc.message, status=exc.status_code)
        return self._render(request, error=_("action: create or revoke"), status=400)
