"""Forms of the lending inventory's staff page: shape only; the services decide."""

from django import forms
from django.utils.translation import gettext_lazy as _

from accounts.precision import QUANTITY
from lending.shorts.models import LotSource


class LotAddForm(forms.Form):
    source = forms.ChoiceField(label=_("Source"), choices=LotSource.choices)
    instrument = forms.CharField(label=_("Instrument (e.g. SSE:600519)"), max_length=24)
    quantity = forms.DecimalField(
        label=_("Quantity"), max_digits=QUANTITY.whole_digits, decimal_places=0, min_value=1
    )
    confirmation_reference = forms.CharField(
        label=_("Custodian confirmation reference"), max_length=64
    )
    reason = forms.CharField(label=_("Reason"), max_length=300)


class LotWithdrawForm(forms.Form):
    lot = forms.IntegerField(widget=forms.HiddenInput)
    quantity = forms.DecimalField(
        label=_("Quantity"), max_digits=QUANTITY.whole_digits, decimal_places=0, min_value=1
    )
    reason = forms.CharField(label=_("Reason"), max_length=300)


class ReservationReleaseForm(forms.Form):
    reservation = forms.IntegerField(widget=forms.HiddenInput)
    reason = forms.CharField(label=_("Reason"), max_length=300)


class ShortExtensionRequestForm(forms.Form):
    """The investor's request to extend one short position (portal): the months from the due
    date and a reason; the service checks the rules."""

    months = forms.IntegerField(label=_("Months"), min_value=1, max_value=120)
    reason = forms.CharField(label=_("Reason"), max_length=300, required=False)


class ShortExtensionDecisionForm(forms.Form):
    """A staff step on a short position extension: check, approve or reject, with a reason."""

    action = forms.ChoiceField(
        choices=[("prepare", "prepare"), ("approve", "approve"), ("reject", "reject")]
    )
    reason = forms.CharField(max_length=300, required=False)  # the service requires it
