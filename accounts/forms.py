from django import forms
from django.contrib.auth.forms import AuthenticationForm
from django.utils.translation import gettext_lazy as _

from .models import InvestorProfile
from .roles import TOKEN_ONLY_ROLES


class EmailAuthenticationForm(AuthenticationForm):
    """Sign-in by e-mail and password, for people: a machine account (a token-only role such as
    the market-data feed) is refused even with its correct password."""

    username = forms.EmailField(
        label=_("E-mail"), widget=forms.EmailInput(attrs={"autofocus": True})
    )

    def confirm_login_allowed(self, user) -> None:
        super().confirm_login_allowed(user)
        if set(user.role_names) & TOKEN_ONLY_ROLES:
            raise forms.ValidationError(
                _(
                    "This is a machine account: it uses its API token and cannot sign in to "
                    "the web pages."
                ),
                code="token_only",
            )


class InvestorProfileAdminForm(forms.ModelForm):
    """The clear numbers are write-only: typed in, encrypted by the service, never shown."""

    id_number = forms.CharField(
        label=_("identity number"),
        required=False,
        widget=forms.PasswordInput(render_value=False),
        help_text=_(
            "Leave empty to keep the number on file; it is stored encrypted and shown only masked."
        ),
    )
    bank_account = forms.CharField(
        label=_("bank account number"),
        required=False,
        widget=forms.PasswordInput(render_value=False),
        help_text=_("Leave empty to keep the account on file."),
    )
    change_reason = forms.CharField(label=_("reason for this change"), max_length=200)

    class Meta:
        model = InvestorProfile
        fields = [
            "user",
            "investor_type",
            "real_name",
            "id_type",
            "phone",
            "address",
            "bank_name",
            "category",
        ]

    def clean(self):
        cleaned = super().clean()
        if not self.instance.pk:
            for field in ("id_number", "bank_account"):
                if not cleaned.get(field):
                    self.add_error(field, _("Required for a new investor."))
        return cleaned


class SignUpForm(forms.Form):
    """Self sign-up of an investor: a login only. Identity and the bank account of record are
    added by operations after real-name verification (accounts.services.investor_profile_create)."""

    full_name = forms.CharField(label=_("Full name"), max_length=150)
    email = forms.EmailField(label=_("E-mail"))
    password1 = forms.CharField(
        label=_("Password"), widget=forms.PasswordInput(attrs={"autocomplete": "new-password"})
    )
    password2 = forms.CharField(
        label=_("Password again"),
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )
    accept = forms.BooleanField(
        label=_("I agree that the desk verifies my identity before opening any account."),
    )

    def clean(self):
        from django.contrib.auth import password_validation

        from .models import User

        cleaned = super().clean()
        first, second = cleaned.get("password1"), cleaned.get("password2")
        if first and second and first != second:
            self.add_error("password2", _("The two passwords differ."))
        elif first:
            candidate = User(email=cleaned.get("email", ""), full_name=cleaned.get("full_name", ""))
            try:
                password_validation.validate_password(first, candidate)
            except forms.ValidationError as exc:
                self.add_error("password1", exc)
        return cleaned
