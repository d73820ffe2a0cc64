"""Orders pages. Portal (/portal/lending/orders/): the investor places a day limit order
(financed buy, own-cash buy, sell, sell to repay, short sale, buy to cover; a link may prefill
the form, as the short positions page's "Buy to cover" does), sees their orders with fills and
fees, and cancels a working one. Staff (/staff/lending/orders/): every order, filtered by
status and account number; cancelling needs lending.change_order. Views parse and call
lending.orders.services and selectors: the checks (price band, lots, margin, ...) are there,
and a refusal is shown on the field it names."""

import uuid
from decimal import Decimal

from django.contrib import messages
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views import View

from accounts.errors import ApplicationError, NotFound, get_or_404
from accounts.permissions import InvestorPageMixin, StaffPageMixin
from lending.credit import selectors as credit_selectors
from lending.instruments import exchange_lists
from lending.instruments import selectors as instrument_selectors
from lending.orders import selectors, services
from lending.orders.forms import PORTAL_PURPOSES, CancelForm, OrderForm, StaffOrderFilterForm
from lending.orders.models import WORKING, Order, OrderStatus

#: A refusal naming one of these goes on that form field ("amount" is the order's size).
_FIELD_OF = {
    "instrument": "instrument",
    "purpose": "purpose",
    "quantity": "quantity",
    "amount": "quantity",
    "limit_price": "limit_price",
    "idempotency_key": None,
}


def error_field(exc: ApplicationError) -> str | None:
    """The form field a service's refusal names (its `extra["field"]`, else the text before the
    first colon of its message), or None for the form as a whole."""
    named = exc.extra.get("field") or exc.message.partition(":")[0].strip()
    return _FIELD_OF.get(named)


def price_text(value: Decimal | None) -> str:
    """A price with its own places, at least two: 10.0000 -> "10.00", 3.8570 -> "3.857"."""
    if value is None:
        return "—"
    value = value.normalize()
    if value.as_tuple().exponent > -2:
        value = value.quantize(Decimal("0.01"))
    return f"{value:f}"


def with_price_texts(orders) -> list[Order]:
    """The orders (fills prefetched) with `limit_text` and each fill's `price_text` set."""
    rows = list(orders)
    for order in rows:
        order.limit_text = price_text(order.limit_price)
        for fill in order.fills.all():
            fill.price_text = price_text(fill.price)
    return rows


def tradable_instruments(on=None) -> list[dict]:
    """Instruments an investor may order (not suspended), each with its latest price, the
    day's band (None when there is none: a first price or a new listing's first days) and
    whether its exchange's financing target list in force allows new financing."""
    on = on or timezone.localdate()
    rows = list(instrument_selectors.instruments().filter(suspended=False)[:200])
    closes = instrument_selectors.previous_closes([(i.pk, on) for i in rows])
    params = instrument_selectors.band_parameters(on)
    on_target = exchange_lists.on_target_lists(rows, on)  # the exchanges' target lists
    out = []
    for inst in rows:
        previous = closes.get((inst.pk, on))
        latest = getattr(inst, "latest_price", None)
        out.append(
            {
                "instrument": inst,
                "on_target_list": on_target[inst.pk],
                "price": price_text(latest.price if latest else None),
                "band": instrument_selectors.band_of(
                    inst, on=on, prev_close=previous[1] if previous else None, params=params
                ),
            }
        )
    return out


def prefilled(query, instruments: list[tuple[str, str]]) -> dict:
    """The order form's initial values from a link's query string (the short positions page's
    "Buy to cover": ?purpose=buy_to_cover&instrument=SSE:600519&quantity=1000): only a known
    instrument and portal purpose, and plain positive numbers; anything else is left out."""
    out = {}
    if query.get("instrument") in {code for code, _label in instruments}:
        out["instrument"] = query["instrument"]
    if query.get("purpose") in {value for value, _label in PORTAL_PURPOSES}:
        out["purpose"] = query["purpose"]
    for name in ("quantity", "limit_price"):
        text = (query.get(name) or "").strip()
        if 0 < len(text) <= 20 and text.replace(".", "", 1).isdigit():
            out[name] = text
    return out


# --- portal ---------------------------------------------------------------------------------


class PortalOrdersView(InvestorPageMixin, View):
    """The order form, the instruments with their band, and the account's orders."""

    def _account(self, request):
        account = credit_selectors.credit_accounts_for(request.user).filter(status="open").first()
        if account is None:
            raise Http404("no credit account")
        return account

    def _render(self, request, account, instruments, form=None, status=200):
        show = request.GET.get("status") or ""
        if show not in {"", "working", *OrderStatus.values}:
            show = ""
        orders = with_price_texts(
            selectors.orders_of_account(account.pk, status=show or None)[:100]
        )
        return render(
            request,
            "lending/orders/portal_orders.html",
            {
                "account": account,
                "instruments": instruments,
                "form": form
                or OrderForm(
                    instruments=self._choices(instruments),
                    initial={
                        "idempotency_key": uuid.uuid4().hex,
                        **prefilled(request.GET, self._choices(instruments)),
                    },
                ),
                "orders": orders,
                "held": selectors.held_back(account.pk),
                "show": show,
                "statuses": [
                    ("working", _("Working")),
                    *[(v, label) for v, label in OrderStatus.choices if v != OrderStatus.NEW],
                ],
            },
            status=status,
        )

    @staticmethod
    def _choices(instruments) -> list[tuple[str, str]]:
        return [
            (
                row["instrument"].ledger_unit,
                f"{row['instrument'].ledger_unit} {row['instrument'].name}",
            )
            for row in instruments
        ]

    def get(self, request):
        account = self._account(request)
        return self._render(request, account, tradable_instruments())

    def post(self, request):
        account = self._account(request)
        instruments = tradable_instruments()
        form = OrderForm(request.POST, instruments=self._choices(instruments))
        if form.is_valid():
            data = form.cleaned_data
            try:
                order = services.order_place(
                    credit_account=account,
                    instrument=instrument_selectors.instrument_by_code(data["instrument"]),
                    purpose=data["purpose"],
                    quantity=data["quantity"],
                    limit_price=data["limit_price"],
                    actor=request.user,
                    idempotency_key=f"portal:{request.user.pk}:{data['idempotency_key']}",
                    reason=data["reason"],
                )
            except (ApplicationError, NotFound) as exc:
                form.add_error(error_field(exc), exc.message)
            else:
                messages.success(
                    request,
                    _("Order %(number)s is placed and working at the exchange.")
                    % {"number": order.client_order_id},
                )
                return redirect("portal:lending-orders")
        return self._render(request, account, instruments, form, status=400)


class PortalOrderCancelView(InvestorPageMixin, View):
    def post(self, request, pk: int):
        order = get_or_404(selectors.order_for, request.user, pk)
        form = CancelForm(request.POST)
        reason = form.cleaned_data["reason"] if form.is_valid() else ""
        try:
            order = services.order_cancel(order=order, actor=request.user, reason=reason)
        except ApplicationError as exc:
            messages.error(request, exc.message)
        else:
            messages.success(request, _cancelled_message(order))
        return redirect("portal:lending-orders")


def _cancelled_message(order: Order) -> str:
    if order.status == OrderStatus.CANCELLED:
        return _("Order %(number)s is cancelled.") % {"number": order.client_order_id}
    return _(
        "The cancellation of order %(number)s is sent; what is filled until the exchange "
        "confirms stays booked."
    ) % {"number": order.client_order_id}


# --- staff ----------------------------------------------------------------------------------


class StaffOrdersMixin(StaffPageMixin):
    permission = "lending.view_order"


class StaffOrdersView(StaffOrdersMixin, View):
    def get(self, request):
        form = StaffOrderFilterForm(request.GET or None)
        rows = Order.objects.select_related(
            "instrument", "credit_account__investor"
        ).prefetch_related("fills")
        if form.is_valid():
            status = form.cleaned_data["status"]
            if status == "working":
                rows = rows.filter(status__in=WORKING)
            elif status:
                rows = rows.filter(status=status)
            if form.cleaned_data["account"]:
                rows = rows.filter(
                    credit_account__account_number__icontains=form.cleaned_data["account"].strip()
                )
        return render(
            request,
            "lending/orders/staff_orders.html",
            {
                "form": form if form.is_bound else StaffOrderFilterForm(),
                "orders": with_price_texts(rows[:200]),
                "can_cancel": request.user.has_perm("lending.change_order"),
            },
        )


class StaffOrderCancelView(StaffOrdersMixin, View):
    write_permission = "lending.change_order"

    def post(self, request, pk: int):
        order = get_or_404(selectors.order_for, request.user, pk)
        form = CancelForm(request.POST)
        reason = form.cleaned_data["reason"] if form.is_valid() else ""
        try:
            order = services.order_cancel(order=order, actor=request.user, reason=reason)
        except ApplicationError as exc:
            messages.error(request, exc.message)
        else:
            messages.success(request, _cancelled_message(order))
        next_url = request.POST.get("next") or ""
        if next_url.startswith("/staff/lending/orders/"):
            return redirect(next_url)
        return redirect("staff:lending-orders")
