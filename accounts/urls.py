from django.contrib.auth import views as auth_views
from django.urls import path

from . import views, views_second_factor, views_tokens

app_name = "accounts"

urlpatterns = [
    path("login/", views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("signup/", views.SignUpView.as_view(), name="signup"),
    path(
        "2fa/setup/",
        views_second_factor.SecondFactorSetupView.as_view(),
        name="second-factor-setup",
    ),
    path("tokens/", views_tokens.ApiTokensView.as_view(), name="api-tokens"),
    path(
        "2fa/verify/",
        views_second_factor.SecondFactorVerifyView.as_view(),
        name="second-factor-verify",
    ),
]
