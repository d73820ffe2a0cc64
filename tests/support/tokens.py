"""API tokens in tests: issued by the real service (accounts.services.api_token_issue), so the
database holds only the digest, as in production. `second_factor=True` issues a desk staff
member's token with a current authenticator code (it may write for
API_TOKEN_SECOND_FACTOR_MINUTES)."""


def api_token(user, *, name: str = "tests", second_factor: bool = False) -> str:
    from accounts import services
    from tests.second_factor import second_factor as enrol
    from tests.second_factor import totp_code

    code = totp_code(enrol(user)) if second_factor else ""
    return services.api_token_issue(user=user, name=name, otp_code=code, actor=user)[1]


def token_client(user, **kwargs):
    """An APIClient sending `Authorization: Token <a new token of user>`."""
    from rest_framework.test import APIClient

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {api_token(user, **kwargs)}")
    return client
