from django.contrib.auth import login
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import urlencode
from django.views import View

from . import second_factor, services
from .errors import ApplicationError
from .forms import EmailAuthenticationForm, SignUpForm


class LoginView(auth_views.LoginView):
    template_name = "accounts/login.html"
    authentication_form = EmailAuthenticationForm
    redirect_authenticated_user = True

    def get_success_url(self) -> str:
        url = super().get_success_url()
        user = self.request.user
        if user.is_staff and second_factor.confirmed_device(user) is not None:
            # enrolled staff confirm the sign-in with their authenticator before anything else
            return f"{reverse('accounts:second-factor-verify')}?{urlencode({'next': url})}"
        return url


@login_required
def home(request):
    """Staff land on the console, investors on the portal."""
    return redirect("staff:home" if request.user.is_staff else "portal:home")


class SignUpView(View):
    """Investors register themselves: an e-mail login with the investor role and nothing
    else. Operations create the investor profile (identity document, bank account of record,
    stored encrypted) only after verifying the person's identity, as a licensed desk must; the
    portal shows the investor what is still pending."""

    template_name = "accounts/signup.html"

    def get(self, request):
        if request.user.is_authenticated:
            return redirect("home")
        return render(request, self.template_name, {"form": SignUpForm()})

    def post(self, request):
        form = SignUpForm(request.POST)
        if form.is_valid():
            try:
                user = services.investor_sign_up(
                    email=form.cleaned_data["email"],
                    password=form.cleaned_data["password1"],
                    full_name=form.cleaned_data["full_name"],
                )
            except ApplicationError as exc:
                form.add_error("email", exc.message)
            else:
                login(request, user, backend="django.contrib.auth.backends.ModelBackend")
                return redirect("portal:home")
        return render(request, self.template_name, {"form": form}, status=400)
