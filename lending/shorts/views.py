"""Pages of the lending inventory (券源): the staff page (each instrument's quantity, reserved,
lent and available with its lots and sources; add a lot from a confirmation, withdraw
unreserved shares, release a stale reservation) and the investor's page of what can be
shorted and how much (read-only: the short-sale order comes later). Permissions are declared
here and checked again by the services."""

from django.contrib import messages
from django.contrib.auth.mixins import LoginRequiredMixin
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views import View

from accounts.errors import ApplicationError
from accounts.permissions import StaffPageMixin
from compliance import selectors as compliance_selectors
from lending.instruments import selectors as instruments_selectors
from lending.shorts import selectors, services
from lending.shorts.forms import LotAddForm, LotWithdrawForm, ReservationReleaseForm
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
