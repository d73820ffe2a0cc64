"""What a locked-out sign-in sees (django-axes calls this once the failure limit is hit)."""

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils.translation import gettext as _


def lockout_response(
    request: HttpRequest, original_response=None, credentials=None
) -> HttpResponse:
    seconds = int(settings.AXES_COOLOFF_TIME.total_seconds())
    message = _(
        "Too many failed sign-ins for this e-mail from this address: try again in %(minutes)d "
        "minutes, or ask the desk to unlock it."
    ) % {"minutes": max(1, seconds // 60)}
    if request.path.startswith("/api/"):
        response = JsonResponse(
            {"code": "locked_out", "message": message, "extra": {"retry_after": seconds}},
            status=429,
        )
    else:
        response = render(request, "accounts/locked_out.html", {"message": message}, status=429)
    response["Retry-After"] = str(seconds)
    return response
