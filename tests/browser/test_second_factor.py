"""The staff second factor in Chromium: a signed-in officer who skipped the code may read, but a
change sends them to the code prompt with nothing written; with the code typed they come back
to the page and the same change goes through."""

import re

import pytest
from playwright.sync_api import expect

from tests.second_factor import second_factor, totp_code

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _add_2027(page, live_server):
    page.goto(f"{live_server.url}/staff/compliance/calendar/")
    page.fill("#id_year", "2027")
    page.fill("#id_source", "SSE notice on 2027 holidays")
    page.fill("#id_holidays", "2027-01-01 New Year\n2027-02-08 Spring Festival\n")
    notice = {"name": "sse-2027.txt", "mimeType": "text/plain", "buffer": b"SSE notice 2027"}
    page.set_input_files("#id_document", files=[notice])
    page.click("main form[enctype] button[type=submit]")
    page.wait_for_load_state("networkidle")


def test_a_change_without_the_code_goes_to_the_prompt_and_succeeds_after_it(
    page, live_server, sign_in, make_user, csp_violations
):
    from compliance.models import CalendarYearProposal

    officer = make_user("compliance")
    device = second_factor(officer)
    page.set_extra_http_headers({"Accept-Language": "en"})
    # signed in with the password only: the prompt is skipped, the calendar page still opens
    sign_in(page, officer.email)
    expect(page).to_have_url(re.compile(r"/accounts/2fa/verify/"))
    _add_2027(page, live_server)
    # the change is refused before the view runs: back at the prompt, told why, nothing saved
    expect(page).to_have_url(re.compile(r"/accounts/2fa/verify/\?next=%2Fstaff%2Fcompliance"))
    expect(page.locator(".message.warning")).to_contain_text("authenticator app")
    assert not CalendarYearProposal.objects.filter(year=2027).exists()
    # the code from the authenticator returns the officer to the calendar page
    device.refresh_from_db()
    page.fill("#id_token", totp_code(device))
    page.click("main button[type=submit]")
    expect(page).to_have_url(re.compile(r"/staff/compliance/calendar/$"))
    _add_2027(page, live_server)
    expect(page.locator(".message.success")).to_be_visible()
    proposal = CalendarYearProposal.objects.get(year=2027)
    assert proposal.history.first().history_user == officer
    assert csp_violations == []
