"""What every staff page shows from compliance: the trading calendar's horizon, as a banner
while it is within the warning period or over (deadlines after it cannot be computed)."""

from compliance import selectors


def calendar_banner(request):
    user = getattr(request, "user", None)
    if not (user and user.is_authenticated and user.is_staff):
        return {}
    horizon = selectors.calendar_horizon()
    return {"calendar_horizon": horizon if horizon.level != "ok" else None}
