"""Forms of the instrument pages (filter, haircut, flags, price upload): shape only; the
services decide."""

from django import forms
from django.utils.translation import gettext_lazy as _

from accounts.precision import FRACTION
from lending.instruments.models import Exchange, ExchangeListKind, InstrumentCategory


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
    haircut = forms.DecimalField(label=_("Haircut"), **FRACTION.fields, min_value=0)
    collateral_eligible = forms.BooleanField(label=_("Eligible collateral"), required=False)
    financing_eligible = forms.BooleanField(label=_("May be bought on margin"), required=False)
    reason = forms.CharField(label=_("Reason"), max_length=300)


class FlagsForm(forms.Form):
    is_st = forms.BooleanField(label=_("ST / *ST"), required=False)
    suspended = forms.BooleanField(label=_("Suspended"), required=False)
    delisting = forms.BooleanField(label=_("Delisting period"), required=False)
    reason = forms.CharField(label=_("Reason"), max_length=300)


class PriceUploadForm(forms.Form):
    file = forms.FileField(label=_("CSV file"))


class CategoryForm(forms.Form):
    category = forms.ChoiceField(label=_("Category"), choices=InstrumentCategory.choices)
    reason = forms.CharField(label=_("Reason"), max_length=300)


class InstrumentCreateForm(forms.Form):
    exchange = forms.ChoiceField(label=_("Exchange"), choices=Exchange.choices)
    code = forms.CharField(label=_("Code"), max_length=12)
    name = forms.CharField(label=_("Name"), max_length=100)
    category = forms.ChoiceField(label=_("Category"), choices=InstrumentCategory.choices)
    listed_on = forms.DateField(label=_("Listed on (a new listing)"), required=False)
    tradable_float = forms.IntegerField(label=_("Tradable float (shares)"), min_value=1)
    lot_size = forms.IntegerField(label=_("Lot size"), min_value=1, initial=100)
    reason = forms.CharField(label=_("Reason"), max_length=300)


class ExchangeListUploadForm(forms.Form):
    exchange = forms.ChoiceField(label=_("Exchange"), choices=Exchange.choices)
    kind = forms.ChoiceField(label=_("List"), choices=ExchangeListKind.choices)
    effective_on = forms.DateField(label=_("Effective on"))
    file = forms.FileField(label=_("CSV file (code,conversion_rate; a target list: code)"))
    reason = forms.CharField(label=_("Reason"), max_length=300)
