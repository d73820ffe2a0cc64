"""Forms of the credit pages (apply, prepare, decide, renew, held deposits): shape only; the
services decide."""

from django import forms
from django.utils.translation import gettext_lazy as _

from accounts.precision import MONEY
from lending.credit.models import CollateralLiquidity, CreditGrade


class ApplicationForm(forms.Form):
    requested_limit = forms.DecimalField(
        label=_("Requested credit limit (RMB)"), **MONEY.fields, min_value=1
    )
    requested_term_months = forms.IntegerField(
        label=_("Term (months)"), min_value=1, max_value=12, initial=6
    )
    purpose = forms.CharField(label=_("Purpose"), max_length=300, required=False)


class RenewalForm(forms.Form):
    requested_term_months = forms.IntegerField(
        label=_("Renewal term (months)"), min_value=1, max_value=12, initial=6
    )


class PrepareForm(forms.Form):
    credit_grade = forms.ChoiceField(label=_("Credit grade"), choices=CreditGrade.choices)
    collateral_liquidity = forms.ChoiceField(
        label=_("Collateral liquidity"), choices=CollateralLiquidity.choices
    )
    proposed_limit = forms.DecimalField(
        label=_("Proposed limit (RMB)"), **MONEY.fields, min_value=1
    )
    proposed_term_months = forms.IntegerField(
        label=_("Proposed term (months)"), min_value=1, max_value=12
    )
    note = forms.CharField(label=_("Preparation note"), widget=forms.Textarea(attrs={"rows": 3}))


class DecisionForm(forms.Form):
    decision = forms.ChoiceField(
        label=_("Decision"), choices=[("approve", _("Approve")), ("reject", _("Reject"))]
    )
    reason = forms.CharField(label=_("Reason"), widget=forms.Textarea(attrs={"rows": 3}))


class HeldDepositForm(forms.Form):
    action = forms.ChoiceField(
        label=_("Action"), choices=[("release", _("Release")), ("return", _("Return"))]
    )
    reason = forms.CharField(label=_("Reason"), max_length=500)
