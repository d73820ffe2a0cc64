"""Forms of the book pages: shape only; the services decide."""

from django import forms
from django.utils.translation import gettext_lazy as _

from .models import Exchange, InstrumentCategory


class InstrumentFilterForm(forms.Form):
    q = forms.CharField(label=_("Code or name"), required=False)
    category = forms.ChoiceField(
        label=_("Category"), required=False, choices=[("", _("All")), *InstrumentCategory.choices]
    )
    exchange = forms.ChoiceField(
        label=_("Exchange"), required=False, choices=[("", _("All")), *Exchange.choices]
    )
    flagged = forms.ChoiceField(
        label=_("ST / suspended / delisting"),
        required=False,
        choices=[("", _("All")), ("yes", _("Flagged only"))],
    )
    eligible = forms.ChoiceField(
        label=_("Eligible collateral"),
        required=False,
        choices=[("", _("All")), ("yes", _("Yes")), ("no", _("No"))],
    )


class HaircutForm(forms.Form):
    haircut = forms.DecimalField(label=_("Haircut"), max_digits=5, decimal_places=4, min_value=0)
    collateral_eligible = forms.BooleanField(label=_("Eligible collateral"), required=False)
    financing_eligible = forms.BooleanField(label=_("May be bought on margin"), required=False)
    reason = forms.CharField(label=_("Reason"), max_length=300)


class FlagsForm(forms.Form):
    is_st = forms.BooleanField(label=_("ST / *ST"), required=False)
    suspended = forms.BooleanField(label=_("Suspended"), required=False)
    delisting = forms.BooleanField(label=_("Delisting period"), required=False)
    reason = forms.CharField(label=_("Reason"), max_length=300)


class PriceUploadForm(forms.Form):
    file = forms.FileField(label=_("CSV file (instrument,price,at)"))


class SecuritiesWithdrawalForm(forms.Form):
    """Own shares to transfer out: `holdings` are (ledger unit, label) of the positions with own
    shares; the service decides how many may go."""

    action = forms.CharField(widget=forms.HiddenInput, initial="securities")
    instrument = forms.ChoiceField(label=_("Instrument"))
    quantity = forms.DecimalField(label=_("Quantity"), max_digits=20, decimal_places=0, min_value=1)
    reason = forms.CharField(label=_("Note"), max_length=300, required=False)
    idempotency_key = forms.CharField(widget=forms.HiddenInput)

    def __init__(self, *args, holdings: list[tuple[str, str]], **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["instrument"].choices = holdings


class CashWithdrawalForm(forms.Form):
    amount = forms.DecimalField(label=_("Amount (CNY)"), max_digits=20, decimal_places=2)
    reason = forms.CharField(label=_("Note"), max_length=300, required=False)
    idempotency_key = forms.CharField(widget=forms.HiddenInput)
