"""Read-only staff admin pages, shared by every app.

Records change only through the services (staff pages, API, admin actions that call a
service), so history keeps the actor and the reason; the admin shows the records and their
history and never adds, edits or deletes them itself."""

from django.contrib import admin
from django.core.exceptions import ImproperlyConfigured
from simple_history.admin import SimpleHistoryAdmin


class ReadOnlyAdminMixin:
    """No add, change or delete in the admin (model admins and inlines alike)."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class ReadOnlyHistoryAdmin(ReadOnlyAdminMixin, SimpleHistoryAdmin):
    """A read-only record with its django-simple-history pages."""


class AppendOnlyAdminMixin:
    """Rows are added, never edited or deleted: a dated value or a published version is
    superseded by a new row. The admin's save_model calls the service that adds it."""

    def has_change_permission(self, request, obj=None):
        return obj is None and super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        return False


class AppendOnlyHistoryAdmin(AppendOnlyAdminMixin, SimpleHistoryAdmin):
    """An append-only record with its django-simple-history pages."""


def action_needs(permission: str, *, description):
    """Declare an admin action that needs a permission of its own ("app_label.codename"),
    never the page's view permission (the read-only auditor views every page). Django offers
    and runs the action only for a user holding it (`has_<action>_permission`, which
    GuardedActionsMixin adds); the service the action calls checks it again.
    tests/test_admin_actions.py reads `required_permission` to try every action as every role."""

    def decorate(func):
        func = admin.action(description=description, permissions=[func.__name__])(func)
        func.required_permission = permission
        return func

    return decorate


def _holds(permission: str):
    def has_permission(self, request) -> bool:
        return request.user.has_perm(permission)

    return has_permission


class GuardedActionsMixin:
    """Every action of the admin is declared with action_needs (checked when the class is
    defined, so an action without its own permission cannot be added)."""

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        for entry in getattr(cls, "actions", None) or ():
            func = getattr(cls, entry, None) if isinstance(entry, str) else entry
            permission = getattr(func, "required_permission", None)
            if permission is None:
                raise ImproperlyConfigured(
                    f"{cls.__name__}: the admin action {entry!r} must name its permission "
                    "(accounts.admin_mixins.action_needs)"
                )
            setattr(cls, f"has_{func.__name__}_permission", _holds(permission))


def shown_as_data(field: str, label, *, code: bool = False):
    """A list column showing a stored record as it is, marked as data for translators and
    readers (translate="no"): a journal memo, a source document's reference, a code."""
    from django.utils.html import format_html

    def column(obj):
        value = getattr(obj, field)
        if code:
            return format_html('<code translate="no">{}</code>', value)
        return format_html('<span translate="no">{}</span>', value)

    column.short_description = label
    column.admin_order_field = field
    return column


def shown_by_label(attribute: str, label, *, order_field: str | None = None):
    """A list column showing a coded value by its label in the reader's language (a model
    property such as MarginEvent.kind_label)."""

    def column(obj):
        return getattr(obj, attribute)

    column.short_description = label
    if order_field:
        column.admin_order_field = order_field
    return column
