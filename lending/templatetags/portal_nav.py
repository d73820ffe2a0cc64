"""`{% portal_nav as links %}`: the investor's navigation links (lending.portal.nav)."""

from django import template

from lending.portal import nav

register = template.Library()


@register.simple_tag(takes_context=True)
def portal_nav(context) -> list[tuple[str, str]]:
    request = context.get("request")
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return []
    return nav.links_for(user)
