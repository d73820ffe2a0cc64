import logging

import pytest

from accounts.models import InvestorProfile
from accounts.roles import Role
from accounts.sensitive import mask_account, mask_identity, redact

pytestmark = pytest.mark.django_db

ID_NUMBER = "110101198001011237"
BANK_ACCOUNT = "6222020200998877665"


def test_masks_keep_only_the_ends():
    assert mask_identity(ID_NUMBER) == "1101**********1237"
    assert mask_account(BANK_ACCOUNT) == "**** 7665"
    assert redact(f"id {ID_NUMBER} acct {BANK_ACCOUNT}") == (
        "id 1101**********1237 acct 6222***********7665"
    )


def test_clear_number_is_not_stored_anywhere_in_the_row(make_investor):
    profile = make_investor(id_number=ID_NUMBER, bank_account=BANK_ACCOUNT)
    row = InvestorProfile.objects.filter(pk=profile.pk).values().get()
    assert ID_NUMBER not in repr(row)
    assert BANK_ACCOUNT not in repr(row)
    history = profile.history.values().first()
    assert ID_NUMBER not in repr(history)
    # the encrypted copy reads back for the regulator's filings
    assert profile.reveal_id_number() == ID_NUMBER
    assert profile.is_bank_account_of_record("6222 0202 0099 8877 665")


def test_admin_list_detail_and_history_show_identity_only_masked(client, make_user, make_investor):
    profile = make_investor(id_number=ID_NUMBER, bank_account=BANK_ACCOUNT)
    client.force_login(make_user(Role.OPERATIONS))
    for url in (
        "/admin/accounts/investorprofile/",
        f"/admin/accounts/investorprofile/{profile.pk}/change/",
        f"/admin/accounts/investorprofile/{profile.pk}/history/",
    ):
        page = client.get(url).content.decode()
        assert ID_NUMBER not in page, url
        assert BANK_ACCOUNT not in page, url
    assert "1101**********1237" in client.get("/admin/accounts/investorprofile/").content.decode()


def test_api_answers_identity_only_masked(client, make_investor):
    profile = make_investor(id_number=ID_NUMBER, bank_account=BANK_ACCOUNT)
    client.force_login(profile.user)
    response = client.get("/api/v1/me/")
    assert response.status_code == 200
    body = response.content.decode()
    assert ID_NUMBER not in body and BANK_ACCOUNT not in body
    assert response.json()["investor_profile"]["id_number"] == "1101**********1237"
    assert response.json()["investor_profile"]["bank_account"] == "**** 7665"


def test_logs_never_carry_the_clear_number(make_investor, caplog):
    logger = logging.getLogger("margindesk.test")
    from accounts.logging import RedactSensitiveFilter

    caplog.handler.addFilter(RedactSensitiveFilter())
    with caplog.at_level(logging.INFO):
        profile = make_investor(id_number=ID_NUMBER, bank_account=BANK_ACCOUNT)
        logger.info("onboarded investor %s with id %s", profile.pk, ID_NUMBER)
    assert ID_NUMBER not in caplog.text
    assert "1101**********1237" in caplog.text


def test_same_identity_cannot_open_a_second_investor(make_investor):
    from accounts.errors import Conflict

    make_investor(id_number=ID_NUMBER)
    with pytest.raises(Conflict) as excinfo:
        make_investor(id_number=ID_NUMBER.lower())
    assert excinfo.value.extra == {"field": "id_number"}
