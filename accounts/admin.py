from axes.admin import AccessAttemptAdmin
from axes.models import AccessAttempt
from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.contrib.auth.forms import AdminPasswordChangeForm
from django.utils.translation import gettext_lazy as _
from django.utils.translation import gettext_noop
from simple_history.admin import SimpleHistoryAdmin

from . import services
from .admin_mixins import GuardedActionsMixin, ReadOnlyAdminMixin, action_needs
from .audit import stamp
from .errors import ApplicationError
from .forms import InvestorProfileAdminForm
from .models import ApiToken, InvestorProfile, User

#: Strings of Django's admin templates (the app list's visually hidden headers) that Django
#: 5.2's Chinese catalogue lacks: listed here so our catalogue, looked up first (LOCALE_PATHS),
#: carries them.
DJANGO_ADMIN_STRINGS = (
    gettext_noop("Model name"),
    gettext_noop("Add link"),
    gettext_noop("Change or view list link"),
)

admin.site.site_header = _("margindesk staff admin")
admin.site.site_title = _("margindesk")
admin.site.index_title = _("Desk administration")


class PasswordChangeWithoutHistoryForm(AdminPasswordChangeForm):
    """The admin's password form without a history row: the password is excluded from the
    user's history, so the row would record nothing (the admin's log entry records who changed
    whose password, as for the other admin changes)."""

    def save(self, commit=True):
        self.user.skip_history_when_saving = True
        try:
            return super().save(commit)
        finally:
            del self.user.skip_history_when_saving


@admin.register(User)
class UserAdmin(DjangoUserAdmin, SimpleHistoryAdmin):
    change_password_form = PasswordChangeWithoutHistoryForm
    ordering = ("email",)
    list_display = ("email", "full_name", "is_staff", "is_active", "roles")
    list_filter = ("is_staff", "is_active", "groups")
    search_fields = ("email", "full_name")
    fieldsets = (
        (None, {"fields": ("email", "password")}),
        (_("Person"), {"fields": ("full_name",)}),
        (_("Access"), {"fields": ("is_active", "is_staff", "is_superuser", "groups")}),
        (_("Dates"), {"fields": ("last_login", "date_joined")}),
    )
    add_fieldsets = (
        (None, {"classes": ("wide",), "fields": ("email", "full_name", "password1", "password2")}),
    )
    readonly_fields = ("last_login", "date_joined")

    @admin.display(description=_("roles"))
    def roles(self, obj: User) -> str:
        return ", ".join(obj.role_labels)

    def has_delete_permission(self, request, obj=None) -> bool:
        # A login is deactivated, never deleted: what it did is evidence (the history tables
        # refuse the UPDATE a delete would make to blank its user out), so not even a
        # superuser is offered delete.
        return False

    def save_model(self, request, obj, form, change):
        stamp(
            obj,
            actor=request.user,
            reason="changed in the staff admin" if change else "added in the staff admin",
        )
        super().save_model(request, obj, form, change)


@admin.register(InvestorProfile)
class InvestorProfileAdmin(SimpleHistoryAdmin):
    form = InvestorProfileAdminForm
    list_display = (
        "real_name",
        "investor_type",
        "id_type",
        "id_number_masked",
        "bank_account_masked",
        "category",
        "created_at",
    )
    list_filter = ("investor_type", "category", "id_type")
    search_fields = ("real_name", "user__email")
    readonly_fields = ("id_number_masked", "bank_account_masked", "created_at", "updated_at")
    history_list_display = ("real_name", "category", "id_number_masked")

    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
        reason = data["change_reason"]
        if change:
            changes = {f: data[f] for f in services.PROFILE_EDITABLE if f in data}
            services.investor_profile_update(
                profile=obj,
                actor=request.user,
                reason=reason,
                id_number=data.get("id_number") or None,
                bank_account=data.get("bank_account") or None,
                **changes,
            )
        else:
            created = services.investor_profile_create(
                user=data["user"],
                real_name=data["real_name"],
                id_type=data["id_type"],
                id_number=data["id_number"],
                bank_name=data["bank_name"],
                bank_account=data["bank_account"],
                investor_type=data["investor_type"],
                category=data["category"],
                phone=data.get("phone", ""),
                address=data.get("address", ""),
                actor=request.user,
                reason=reason,
            )
            obj.pk = created.pk


@admin.register(ApiToken)
class ApiTokenAdmin(GuardedActionsMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    """API tokens of every user, for security staff: never the token (only its digest is
    stored), and a revoke action (accounts.revoke_any_token)."""

    list_display = (
        "token_key", "name", "user", "created", "expiry", "last_used_at", "verified_until",
        "revoked_at", "revoked_by",
    )  # fmt: skip
    list_filter = ("revoked_at", "expiry")
    search_fields = ("user__email", "name", "token_key")
    exclude = ("digest",)
    actions = ["revoke_tokens"]

    @action_needs("accounts.revoke_any_token", description=_("Revoke the selected tokens"))
    def revoke_tokens(self, request, queryset):
        for token in queryset:
            try:
                services.api_token_revoke(token=token, actor=request.user, reason="staff admin")
            except ApplicationError as exc:
                self.message_user(request, exc.message, level=messages.ERROR)
                return
        self.message_user(request, _("Tokens revoked."), level=messages.SUCCESS)


class GuardedAccessAttemptAdmin(GuardedActionsMixin, AccessAttemptAdmin):
    """django-axes' sign-in attempts, whose clean-up action needs a permission of its own (it
    deletes attempts: only a superuser holds axes.delete_accessattempt)."""

    actions = ["cleanup_expired_attempts"]

    @action_needs("axes.delete_accessattempt", description=_("Clean up expired attempts"))
    def cleanup_expired_attempts(self, request, queryset):
        return super().cleanup_expired_attempts(request, queryset)


admin.site.unregister(AccessAttempt)
admin.site.register(AccessAttempt, GuardedAccessAttemptAdmin)
