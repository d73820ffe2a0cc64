"""Forms of the liquidation pages (prepare a plan, decide it, re-plan its remainder): shape
only; the services decide."""

from django import forms
from django.utils.translation import gettext_lazy as _

from lending.domain.margin import ORDER_RULES
from lending.liquidation.models import ORDER_RULE_LABELS


class PlanPrepareForm(forms.Form):
    order_rule = forms.ChoiceField(
        label=_("Ordering rule"),
        choices=[(rule, ORDER_RULE_LABELS.get(rule, rule)) for rule in ORDER_RULES],
        initial="zero_haircut_first",
    )
    reason = forms.CharField(label=_("Note"), required=False, max_length=500)


class PlanDecisionForm(forms.Form):
    decision = forms.ChoiceField(
        label=_("Decision"), choices=[("approve", _("Approve")), ("reject", _("Reject"))]
    )
    reason = forms.CharField(label=_("Reason"), widget=forms.Textarea(attrs={"rows": 3}))


class PlanReplanForm(forms.Form):
    reason = forms.CharField(label=_("Note"), required=False, max_length=500)
