from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = _("Users and investors")

    def ready(self) -> None:
        from django.db.models.signals import post_migrate

        from .roles import sync_roles_after_migrate

        # Later apps add models after the roles migration ran; re-grant on every migrate.
        post_migrate.connect(sync_roles_after_migrate, dispatch_uid="accounts.sync_roles")
