"""Forms of the treasury console (custody/views.py). They parse what the page sends; the
rules (amounts, dates, permissions, what may move) are the services'."""

import uuid

from django import forms
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from .models import CreditFacility, StatementSource


def _key_field():
    # one per rendered form: a double submit moves the money once (the services' keys)
    return forms.CharField(widget=forms.HiddenInput, initial=lambda: uuid.uuid4().hex)


class StatementForm(forms.Form):
    source = forms.ChoiceField(label=_("Source"), choices=StatementSource.choices)
    institution = forms.CharField(label=_("Bank or custodian"), max_length=100)
    file = forms.FileField(
        label=_("CSV file"),
        help_text=_(
            "Bank: statement_date, account_number, currency, closing_balance. Custodian: "
            "statement_date, custody_account, instrument, quantity."
        ),
    )


class InternalReconciliationForm(forms.Form):
    business_date = forms.DateField(label=_("Business date"), initial=timezone.localdate)
    currency = forms.CharField(label=_("Currency"), max_length=3, initial="CNY")


class BreakResolveForm(forms.Form):
    break_id = forms.IntegerField(widget=forms.HiddenInput)
    reason = forms.CharField(label=_("Reason"), max_length=500)


class HouseMoneyForm(forms.Form):
    amount = forms.DecimalField(label=_("Amount"), max_digits=20, decimal_places=2)
    currency = forms.CharField(label=_("Currency"), max_length=3, initial="CNY")
    reason = forms.CharField(label=_("Reason"), max_length=300)
    key = _key_field()


class FacilityCreateForm(forms.Form):
    bank = forms.CharField(label=_("Lending bank"), max_length=100)
    limit = forms.DecimalField(label=_("Limit"), max_digits=20, decimal_places=2)
    currency = forms.CharField(label=_("Currency"), max_length=3, initial="CNY")
    start_date = forms.DateField(label=_("Starts on"))
    expiry_date = forms.DateField(label=_("Expires on"))
    fee_rate = forms.DecimalField(
        label=_("Commitment fee rate"), max_digits=8, decimal_places=6, initial=0
    )
    covenants = forms.CharField(label=_("Covenants"), required=False, widget=forms.Textarea)
    reason = forms.CharField(label=_("Reason"), max_length=300)


def _facility_field():
    return forms.ModelChoiceField(
        label=_("Facility"), queryset=CreditFacility.objects.filter(status="active")
    )


class FacilityMoveForm(forms.Form):
    facility = _facility_field()
    amount = forms.DecimalField(label=_("Amount"), max_digits=20, decimal_places=2)
    reason = forms.CharField(label=_("Reason"), max_length=300)
    key = _key_field()


class FacilityCloseForm(forms.Form):
    facility = _facility_field()
    reason = forms.CharField(label=_("Reason"), max_length=300)


class LossAddressForm(forms.Form):
    loss_id = forms.IntegerField(widget=forms.HiddenInput)
    action_taken = forms.CharField(label=_("What treasury did"), max_length=500)
