"""Browser tests: Playwright drives Debian's Chromium (/usr/bin/chromium, installed by
.ci/run); Playwright's own browser download is not used. Without it the tests are skipped,
and fail in CI (tests/binaries.py). Failing tests keep a screenshot under
test-artifacts/playwright/."""

import os
import re
import shutil

import pytest

from tests.binaries import need_binary

# Playwright's sync API keeps an event loop in the test thread; the ORM calls made by the
# test itself (fixtures, assertions) are still synchronous and safe.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


@pytest.fixture(scope="session", autouse=True)
def chromium() -> str:
    """The Chromium every browser test drives: skipped without it, failed in CI."""
    return need_binary(CHROMIUM, "the browser tests (Playwright drives Debian's Chromium)")


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args, chromium):
    return {
        **browser_type_launch_args,
        "executable_path": chromium,
        "args": [
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
        ],
    }


@pytest.fixture
def sign_in(live_server):
    def _sign_in(page, email: str, password: str = "correct-horse-42"):
        page.goto(f"{live_server.url}/accounts/login/")
        page.fill("#id_username", email)
        page.fill("#id_password", password)
        page.click("button[type=submit]")
        page.wait_for_load_state("networkidle")

    return _sign_in


@pytest.fixture
def sign_in_verified(sign_in):
    """Sign a staff user in for real, second factor included: the user gets a confirmed
    authenticator (if none yet), signs in with the password, lands on the verify page and
    types the code the authenticator shows now. Returns the device."""
    from playwright.sync_api import expect

    from tests.second_factor import second_factor, totp_code

    def _sign_in_verified(page, user, password: str = "correct-horse-42"):
        device = second_factor(user)
        sign_in(page, user.email, password)
        expect(page).to_have_url(re.compile(r"/accounts/2fa/verify/"))
        device.refresh_from_db()
        page.fill("#id_token", totp_code(device))
        page.click("main button[type=submit]")
        page.wait_for_load_state("networkidle")
        expect(page).not_to_have_url(re.compile(r"/accounts/"))
        return device

    return _sign_in_verified


@pytest.fixture
def csp_violations(page):
    """Content-security-policy violations on `page`: Chromium reports every blocked script,
    stylesheet, inline style or handler as a console error ("Refused to ... because it violates
    the following Content Security Policy directive ..."). Assert the list stays empty."""
    found: list[str] = []

    def listen(message):
        if message.type == "error" and "Content Security Policy" in message.text:
            found.append(message.text)

    page.on("console", listen)
    return found
