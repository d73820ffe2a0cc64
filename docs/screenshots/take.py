"""Screenshots of the main pages, in Simplified Chinese and English, at desktop and phone widths.

    .venv/bin/python docs/screenshots/take.py            # own database, seeded, own server
    .venv/bin/python docs/screenshots/take.py --reuse    # keep the seeded database of a last run

A database of its own (margindesk_screenshots on the same PostgreSQL server) is created,
migrated and seeded with `manage.py seed_demo`; `manage.py runserver` serves it on loopback;
Playwright drives Debian's Chromium (/usr/bin/chromium) through the pages as the demo investor
(one whose account is under the call line, so notices and calls show), the risk officer (signed
in with the demo authenticator's code) and a visitor. PNGs are written next to this file as
<page>-<language>-<width>.png.
"""

import argparse
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
PYTHON = sys.executable
DB_NAME = "margindesk_screenshots"
PASSWORD = "demo-desk-2026"  # noqa: S105 - the demo's published password
WIDTHS = {"desktop": (1280, 900), "phone": (390, 844)}
LANGUAGES = {"zh": "zh-hans", "en": "en"}

# (file stem, who, path)
PAGES = [
    ("signup", None, "/accounts/signup/"),
    ("portal-home", "investor", "/portal/"),
    ("portal-calls", "investor", "/portal/lending/margin-calls/"),
    ("portal-account", "investor", "/portal/lending/account/"),
    ("portal-history", "investor", "/portal/lending/history/"),
    ("staff-dashboard", "risk@demo.margindesk.local", "/staff/"),
    ("staff-review-queue", "risk@demo.margindesk.local", "/staff/lending/applications/"),
    ("staff-risk-run", "risk@demo.margindesk.local", "risk-run"),  # the latest run: _path
    ("staff-calendar", "compliance@demo.margindesk.local", "/staff/compliance/calendar/"),
]


def _path(path: str) -> str:
    """A page's path; "risk-run" is the latest risk run's page (a stress run is started for the
    screenshots when the demo has none)."""
    if path != "risk-run":
        return path
    from accounts.models import User
    from lending.risk import services as risk
    from lending.risk.models import RiskRun

    run = RiskRun.objects.filter(status="succeeded", kind="monte_carlo").order_by("-pk").first()
    if run is None:
        officer = User.objects.get(email="risk@demo.margindesk.local")
        run = risk.risk_run_start(
            kind="monte_carlo",
            actor=officer,
            reason="screenshots",
            seed=2026,
            parameters={"n_paths": 2000},
            enqueue=False,
        )
        run = risk.risk_run_execute(run_id=run.pk)
    return f"/staff/lending/risk/{run.pk}/"


def _env() -> dict:
    env = dict(os.environ)
    env.setdefault("DJANGO_DEBUG", "true")
    env["DATABASE_URL"] = f"postgres://postgres@127.0.0.1:5432/{DB_NAME}"
    return env


def _manage(*args: str) -> None:
    subprocess.run([PYTHON, "manage.py", *args], cwd=ROOT, env=_env(), check=True)  # noqa: S603


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _investor_under_the_call_line() -> str:
    """The e-mail of a demo investor whose account is in call (else any with an account)."""
    os.environ.update(_env())
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from lending.models import AccountMarginState, CreditAccount

    state = (
        AccountMarginState.objects.filter(state__in=("call", "warning"))
        .select_related("credit_account__investor__user")
        .order_by("-state")
        .first()
    )
    account = state.credit_account if state else CreditAccount.objects.first()
    return account.investor.user.email


def _demo_code(email: str) -> str:
    """The current code of a demo staff login's authenticator (accounts.demo): staff sign in
    with it, as every staff login does. The device may take the same code again for the next
    language and width (this database is the screenshots' own)."""
    from accounts.demo import demo_device
    from accounts.management.commands.demo_totp import current_code
    from accounts.models import User

    device = demo_device(User.objects.get(email=email))
    device.last_t = -1
    device.save(update_fields=["last_t"])
    return current_code(device)[0]


def _wait(url: str, seconds: int = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(url, timeout=2)  # noqa: S310 - loopback only
            return
        except OSError:
            time.sleep(0.5)
    raise SystemExit(f"the server at {url} did not answer")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reuse", action="store_true", help="keep the seeded database")
    options = parser.parse_args()
    if not options.reuse:
        subprocess.run(  # noqa: S603
            ["dropdb", "-h", "127.0.0.1", "-U", "postgres", "--if-exists", DB_NAME],  # noqa: S607
            check=True,
        )
        _manage("ensure_database")
        _manage("migrate", "--noinput", "-v", "0")
        _manage("seed_demo")
    _manage("compilemessages", "--ignore=.venv", "--ignore=var", "-v", "0")
    investor = _investor_under_the_call_line()
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    server = subprocess.Popen(  # noqa: S603
        [PYTHON, "manage.py", "runserver", f"127.0.0.1:{port}", "--noreload", "--insecure"],
        cwd=ROOT,
        env=_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait(f"{base}/accounts/login/")
        _shoot(base, investor)
    finally:
        server.terminate()
        server.wait(timeout=20)
    return 0


def _shoot(base: str, investor: str) -> None:
    from playwright.sync_api import sync_playwright

    # _demo_code reads the database between Playwright's calls (its sync API keeps a loop)
    os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

    chromium = shutil.which("chromium") or "/usr/bin/chromium"
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=chromium, args=["--no-sandbox", "--disable-gpu", "--no-first-run"]
        )
        for who in sorted({w for _s, w, _p in PAGES}, key=str):
            email = investor if who == "investor" else who
            for lang, code in LANGUAGES.items():
                for width_name, (width, height) in WIDTHS.items():
                    context = browser.new_context(
                        viewport={"width": width, "height": height},
                        locale=code,
                        extra_http_headers={"Accept-Language": code},
                    )
                    page = context.new_page()
                    if email:
                        page.goto(f"{base}/accounts/login/")
                        page.fill("#id_username", email)
                        page.fill("#id_password", PASSWORD)
                        page.click("main button[type=submit]")
                        page.wait_for_load_state("networkidle")
                        if "/accounts/2fa/verify/" in page.url:  # staff: the second factor
                            page.fill("#id_token", _demo_code(email))
                            page.click("main button[type=submit]")
                            page.wait_for_load_state("networkidle")
                    for stem, page_who, path in PAGES:
                        if page_who != who:
                            continue
                        page.goto(f"{base}{_path(path)}")
                        page.wait_for_load_state("networkidle")
                        out = HERE / f"{stem}-{lang}-{width_name}.png"
                        page.screenshot(path=str(out), full_page=True)
                        print(out.relative_to(ROOT))
                    context.close()
        browser.close()


if __name__ == "__main__":
    sys.exit(main())
