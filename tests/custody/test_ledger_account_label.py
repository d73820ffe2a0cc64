"""A ledger account is named on pages in the reader's language (LedgerAccount.label); the name
stored at creation stays English, as written."""

import pytest
from django.utils import translation

from custody import services as custody

pytestmark = pytest.mark.django_db


def test_an_accounts_label_follows_the_readers_language(make_investor):
    investor = make_investor()
    account = custody.client_account(investor, "client_money", "CNY", actor=None)
    house = custody.house_account("client_bank", "CNY", actor=None)
    assert account.name.startswith("Client money: ")  # the record, as created
    with translation.override("zh-hans"):
        assert account.label == f"客户资金: {investor.real_name} (#{investor.pk}) [CNY]"
        assert house.label == "客户资金集中银行账户 [CNY]"
    with translation.override("en"):
        assert house.label == "Client money omnibus bank [CNY]"
