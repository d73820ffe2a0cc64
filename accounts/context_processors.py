from django.conf import settings


def desk(request):
    user = getattr(request, "user", None)
    return {
        "DESK_NAME": settings.DESK_NAME,
        "is_staff_user": bool(user and user.is_authenticated and user.is_staff),
    }
