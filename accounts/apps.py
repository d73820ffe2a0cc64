from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AccountsConfig(AppConfig):
    default = True  # this module also holds AuthenticatorDevicesConfig (another app's)
    name = "accounts"
    verbose_name = _("Users and investors")

    def ready(self) -> None:
        from django.contrib.auth.models import update_last_login
        from django.contrib.auth.signals import user_logged_in
        from django.db.models.signals import post_migrate
        from simple_history.signals import post_create_historical_record

        from . import audit
        from . import checks as _checks  # noqa: F401  (registers the demo-secret check)
        from .roles import sync_roles_after_migrate

        # Later apps add models after the roles migration ran; re-grant on every migrate.
        post_migrate.connect(sync_roles_after_migrate, dispatch_uid="accounts.sync_roles")
        # History: a stamp (actor, reason) covers one save; a sign-in writes no history row.
        post_create_historical_record.connect(audit.forget_stamp, dispatch_uid="accounts.audit")
        user_logged_in.disconnect(update_last_login, dispatch_uid="update_last_login")
        user_logged_in.connect(audit.last_login_update, dispatch_uid="accounts.last_login")


class AuthenticatorDevicesConfig(AppConfig):
    """django-otp's TOTP plugin, named for the staff admin (its own config has no name)."""

    name = "django_otp.plugins.otp_totp"
    label = "otp_totp"
    verbose_name = _("Authenticator devices")
    default_auto_field = "django.db.models.AutoField"
