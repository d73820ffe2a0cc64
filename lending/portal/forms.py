"""Forms of the portal's own pages: the direct return (直接还券) of shares the investor holds
against their short positions. Shape only; the service decides (lending.financing.short_sales
.short_return_direct). The form carries its own idempotency key (a hidden uuid), so a second
press of the button returns nothing more."""

from django import forms
from django.utils.translation import gettext_lazy as _

from accounts.precision import QUANTITY


class ShortReturnForm(forms.Form):
    """`owed` are (ledger unit, label) of the instruments the account owes shares of."""

    instrument = forms.ChoiceField(label=_("Instrument"))
    quantity = forms.DecimalField(
        label=_("Quantity (shares)"),
        max_digits=QUANTITY.whole_digits,
        decimal_places=0,
        min_value=1,
        help_text=_("Own shares you hold (not financed, not offered by a working sale)."),
    )
    reason = forms.CharField(label=_("Note"), max_length=300, required=False)
    idempotency_key = forms.CharField(widget=forms.HiddenInput, max_length=200)

    def __init__(self, *args, owed: list[tuple[str, str]], **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["instrument"].choices = owed
