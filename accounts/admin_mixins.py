"""Read-only staff admin pages, shared by every app.

Records change only through the services (staff pages, API, admin actions that call a
service), so history keeps the actor and the reason; the admin shows the records and their
history and never adds, edits or deletes them itself."""

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
