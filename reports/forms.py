from django import forms
from django.utils.translation import gettext_lazy as _

from .kinds import kinds_all


def _kind_choices():
    return [(k.code, k.title) for k in kinds_all() if k.available]


class FilingRequestForm(forms.Form):
    kind = forms.ChoiceField(label=_("Kind"), choices=_kind_choices)
    as_of = forms.DateTimeField(
        label=_("As of"),
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}),
        help_text=_("Desk time (Asia/Shanghai); must be in the past."),
    )
    reason = forms.CharField(label=_("Reason"), max_length=500)


class FilingActionForm(forms.Form):
    action = forms.ChoiceField(
        choices=[(a, a) for a in ("approve", "submit", "regenerate", "correct")],
        widget=forms.HiddenInput,
    )
    reason = forms.CharField(label=_("Reason"), max_length=500)
    submission_reference = forms.CharField(
        label=_("Submission reference"), max_length=120, required=False
    )


class StatementMonthForm(forms.Form):
    year = forms.IntegerField(label=_("Year"), min_value=2000, max_value=2100)
    month = forms.IntegerField(label=_("Month"), min_value=1, max_value=12)
