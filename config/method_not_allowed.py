"""405 Method Not Allowed in the site's layout.

Django has no handler405: a class-based view asked for a method it does not define answers
`HttpResponseNotAllowed` (View.http_method_not_allowed, `require_POST` and friends) with an
empty body, which a browser shows as a blank page. `MethodNotAllowedPage` (MIDDLEWARE) gives
such an empty 405 the page templates/405.html in the reader's language, keeping the status and
the Allow header. A 405 that already has a body (the API's JSON error) is left alone."""

from django.template.loader import render_to_string


class MethodNotAllowedPage:
    template_name = "405.html"

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if (
            response.status_code != 405
            or getattr(response, "streaming", False)
            or response.content
            or request.method == "HEAD"
        ):
            return response
        allowed = [m.strip() for m in response.get("Allow", "").split(",") if m.strip()]
        response.content = render_to_string(
            self.template_name,
            {"allowed": allowed, "method": request.method},
            request=request,
        ).encode(response.charset)
        response["Content-Type"] = f"text/html; charset={response.charset}"
        return response
