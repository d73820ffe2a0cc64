"""Pages of the lending inventory (券源): the staff page (each instrument's quantity, reserved,
lent and available with its lots and sources; add a lot from a confirmation, withdraw
unreserved shares, release a stale reservation) and the investor's page of what can be
shorted and how much (with links to the order form and the investor's short positions,
lending.portal); the extension of a short
position's due date (lending.shorts.maturity): the investor's request (portal) and the staff
page where operations check a request and a second person approves or rejects it. Permissions
are declared here and checked again by the services."""

from django.contrib import messages
from django.contrib.auth.mixins import LoginRequiredMixin
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import NoReverseMatch, reverse
from django.utils.translation import gettext as _
from django.views import View

from accounts.errors import ApplicationError, NotFound
from accounts.permissions import InvestorPageMixin, StaffPageMixin
from compliance import parameters as P
from compliance import selectors as compliance_selectors
from lending.instruments import selectors as instruments_selectors
from lending.shorts import maturity, selectors, services
from lending.shorts.forms import (
    LotAddForm,
    LotWithdrawForm,
    ReservationReleaseForm,
    ShortExtensionDecisionForm,
    ShortExtensionRequestForm,
)
from lending.shorts.models import LendingLot, LotSource, ShortReservation


class InventoryView(StaffPageMixin, View):
    permission = "lending.view_lendinglot"
    write_permission = {
        "add": services.ADD_PERM,
        "withdraw": services.WITHDRAW_PERM,
        "release": services.CHANGE_RESERVATION_PERM,
        None: services.ADD_PERM,
    }

    def _render(self, request, form=None, status=200):
        today = compliance_selectors.today()
        return render(
            request,
            "lending/shorts/inventory.html",
            {
                "rows": selectors.inventory(on=today),
                "reservations": selectors.open_reservations()[:200],
                "refinancing_enabled": selectors.refinancing_enabled(today),
                "form": form or LotAddForm(initial={"source": LotSource.HOUSE}),
                "can_add": request.user.has_perm(services.ADD_PERM),
                "can_withdraw": request.user.has_perm(services.WITHDRAW_PERM),
                "can_release": request.user.has_perm(services.CHANGE_RESERVATION_PERM),
            },
            status=status,
        )

    def get(self, request):
        return self._render(request)

    def post(self, request):
        action = request.POST.get("action")
        if action == "withdraw":
            form = LotWithdrawForm(request.POST)
            if not form.is_valid():
                messages.error(request, _("quantity: a whole number of shares and a reason"))
                return self._render(request, status=400)
            lot = get_object_or_404(LendingLot, pk=form.cleaned_data["lot"])
            try:
                services.inventory_withdraw(
                    lot=lot,
                    quantity=form.cleaned_data["quantity"],
                    actor=request.user,
                    reason=form.cleaned_data["reason"],
                )
            except ApplicationError as exc:
                messages.error(request, exc.message)
                return self._render(request, status=400)
            messages.success(request, _("Shares withdrawn from the lending inventory."))
            return redirect("staff:lending-shorts-inventory")
        if action == "release":
            form = ReservationReleaseForm(request.POST)
            if not form.is_valid():
                messages.error(request, _("reason: say why (a reason is required)"))
                return self._render(request, status=400)
            reservation = get_object_or_404(ShortReservation, pk=form.cleaned_data["reservation"])
            try:
                services.reservation_release(
                    reservation=reservation, actor=request.user, reason=form.cleaned_data["reason"]
                )
            except ApplicationError as exc:
                messages.error(request, exc.message)
                return self._render(request, status=400)
            messages.success(request, _("Reservation released."))
            return redirect("staff:lending-shorts-inventory")
        form = LotAddForm(request.POST)
        if form.is_valid():
            data = form.cleaned_data
            add = (
                services.inventory_refinancing_add
                if data["source"] == LotSource.REFINANCING
                else services.inventory_house_add
            )
            try:
                add(
                    instrument=instruments_selectors.instrument_by_code(data["instrument"]),
                    quantity=data["quantity"],
                    confirmation_reference=data["confirmation_reference"],
                    actor=request.user,
                    reason=data["reason"],
                )
            except ApplicationError as exc:
                form.add_error(None, exc.message)
            else:
                messages.success(request, _("Lot added to the lending inventory."))
                return redirect("staff:lending-shorts-inventory")
        return self._render(request, form, status=400)


class ShortableView(LoginRequiredMixin, View):
    """What can be shorted and how much: the securities on the short-sale target list with
    shares available to lend today."""

    def get(self, request):
        today = compliance_selectors.today()
        return render(
            request,
            "lending/shorts/portal_shortable.html",
            {"rows": selectors.shortable(on=today), "today": today},
        )


# --- maturity and extensions (lending.shorts.maturity) ----------------------------------------


def _positions_page() -> str | None:
    """The investor's short positions page (lending.portal), when it is mounted."""
    try:
        return reverse("portal:lending-short-positions")
    except NoReverseMatch:
        return None


class ShortExtensionRequestView(InvestorPageMixin, View):
    """The investor asks to extend one of their short positions: the position with its due
    date, the request pending if any, and the form (the service checks the rules)."""

    def _position(self, request, pk: int):
        try:
            return maturity.position_for(request.user, pk)
        except NotFound:
            raise Http404("no such short position") from None

    def _render(self, request, position, form=None, status=200):
        on = maturity.today()
        return render(
            request,
            "lending/shorts/portal_extend.html",
            {
                "position": position,
                "pending": maturity.pending_extension(position),
                "history": position.extensions.order_by("-created_at", "-pk")[:20],
                "form": form or ShortExtensionRequestForm(initial={"months": 1}),
                "max_months": int(compliance_selectors.parameter(P.EXTENSION_MAX_MONTHS, on=on)),
                "today": on,
                "positions_url": _positions_page(),
            },
            status=status,
        )

    def get(self, request, pk: int):
        return self._render(request, self._position(request, pk))

    def post(self, request, pk: int):
        position = self._position(request, pk)
        form = ShortExtensionRequestForm(request.POST)
        if not form.is_valid():
            return self._render(request, position, form, status=400)
        try:
            maturity.short_extension_request(
                position=position,
                months=form.cleaned_data["months"],
                actor=request.user,
                reason=form.cleaned_data["reason"],
            )
        except ApplicationError as exc:
            form.add_error(None, exc.message)
            return self._render(request, position, form, status=400)
        messages.success(request, _("Extension requested: the desk checks and decides it."))
        return redirect("portal:lending-short-extension-request", pk=position.pk)


class ShortExtensionsView(StaffPageMixin, View):
    """Short position extension requests to decide, the latest decisions, and the positions
    overdue or due soon (read-only list; the steps are on each request's page)."""

    permission = maturity.VIEW_PERM

    def get(self, request):
        return render(
            request,
            "lending/shorts/extensions.html",
            maturity.extensions_overview(on=maturity.today()),
        )


class ShortExtensionDetailView(StaffPageMixin, View):
    """One short position extension: operations check it, a second person approves or
    rejects it (four eyes)."""

    permission = maturity.VIEW_PERM
    write_permission = {
        "prepare": maturity.PREPARE_PERM,
        "approve": maturity.APPROVE_PERM,
        "reject": maturity.APPROVE_PERM,
        None: maturity.PREPARE_PERM,
    }

    def _render(self, request, extension, status=200):
        return render(
            request,
            "lending/shorts/extension_detail.html",
            {
                "e": extension,
                "position": extension.position,
                "history": extension.history.select_related("history_user").order_by(
                    "history_date", "history_id"
                ),
                "can_prepare": request.user.has_perm(maturity.PREPARE_PERM),
                "can_decide": request.user.has_perm(maturity.APPROVE_PERM),
                "pending": extension.status in maturity.PENDING,
            },
            status=status,
        )

    def _extension(self, pk: int):
        return get_object_or_404(
            maturity.extensions_for(self.request.user).select_related(
                "position__contract", "position__credit_account__investor"
            ),
            pk=pk,
        )

    def get(self, request, pk: int):
        return self._render(request, self._extension(pk))

    def post(self, request, pk: int):
        extension = self._extension(pk)
        form = ShortExtensionDecisionForm(request.POST)
        if not form.is_valid():
            messages.error(request, _("action: unknown"))
            return self._render(request, extension, status=400)
        action, reason = form.cleaned_data["action"], form.cleaned_data["reason"]
        step = {
            "prepare": lambda: maturity.short_extension_prepare(
                extension=extension, actor=request.user, note=reason
            ),
            "approve": lambda: maturity.short_extension_approve(
                extension=extension, actor=request.user, reason=reason
            ),
            "reject": lambda: maturity.short_extension_reject(
                extension=extension, actor=request.user, reason=reason
            ),
        }[action]
        try:
            step()
        except ApplicationError as exc:
            messages.error(request, exc.message)
            extension.refresh_from_db()
            return self._render(request, extension, status=400)
        done = {"prepare": _("checked"), "approve": _("approved"), "reject": _("rejected")}
        messages.success(
            request,
            _("Extension #%(pk)s: %(action)s.") % {"pk": extension.pk, "action": done[action]},
        )
        return redirect("staff:lending-shorts-extension", pk=extension.pk)
