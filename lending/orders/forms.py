"""Forms of the orders pages: shape only (the services check everything and name the field
they refuse). Each order form carries its own idempotency key (a hidden uuid), so a second
press of the button places nothing new."""

from django import forms
from django.utils.translation import gettext_lazy as _

from accounts.precision import PRICE, QUANTITY
from lending.orders.models import OrderPurpose, OrderStatus

#: The purposes an investor may choose (liquidation sales and forced buy-ins come from an
#: approved plan only).
PORTAL_PURPOSES = [
    (OrderPurpose.FINANCED_BUY.value, _("Financed buy")),
    (OrderPurpose.CASH_BUY.value, _("Own-cash buy")),
    (OrderPurpose.SELL.value, _("Sell")),
    (OrderPurpose.SELL_TO_REPAY.value, _("Sell to repay")),
    (OrderPurpose.SHORT_SALE.value, _("Short sale")),
    (OrderPurpose.BUY_TO_COVER.value, _("Buy to cover")),
]


class OrderForm(forms.Form):
    """`instruments` are (ledger unit, label) of the instruments that may be traded."""

    instrument = forms.ChoiceField(label=_("Instrument"))
    purpose = forms.ChoiceField(label=_("Purpose"), choices=PORTAL_PURPOSES)
    quantity = forms.DecimalField(
        label=_("Quantity (shares)"),
        max_digits=QUANTITY.whole_digits,
        decimal_places=0,
        min_value=1,
        help_text=_("Whole lots (usually 100 shares)."),
    )
    limit_price = forms.DecimalField(
        label=_("Limit price"),
        max_digits=PRICE.fields["max_digits"],
        decimal_places=PRICE.fields["decimal_places"],
        min_value=0,
        help_text=_("A day order: within the day's price band."),
    )
    reason = forms.CharField(label=_("Note"), max_length=300, required=False)
    idempotency_key = forms.CharField(widget=forms.HiddenInput, max_length=200)

    def __init__(self, *args, instruments: list[tuple[str, str]], **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["instrument"].choices = instruments


class CancelForm(forms.Form):
    reason = forms.CharField(label=_("Note"), max_length=300, required=False)


class StaffOrderFilterForm(forms.Form):
    status = forms.ChoiceField(
        label=_("Status"),
        required=False,
        choices=[("", _("All")), ("working", _("Working")), *OrderStatus.choices],
    )
    account = forms.CharField(label=_("Credit account number"), max_length=40, required=False)
