"""The investor file (staff): operations record the facts the eligibility check reads and the
classification, run the check, and record refused requests; compliance resolves red flags;
the auditor reads. Without these doors an investor who signs up could never be approved."""

from datetime import date

import pytest

from compliance.models import ClassificationRecord, EligibilityCheck, EligibilityFacts, RedFlag
from tests.second_factor import login_verified

pytestmark = pytest.mark.django_db


def _url(investor) -> str:
    return f"/staff/compliance/investors/{investor.pk}/"


def test_operations_fill_the_file_and_the_check_reads_it(make_investor, staff, client):
    investor = make_investor()
    login_verified(client, staff["ops"])
    listed = client.get("/staff/compliance/investors/", {"q": investor.real_name})
    assert _url(investor) in listed.content.decode()
    facts = {
        "action": "facts", "facts-first_trade_date": "2019-03-01",
        "facts-firm_shareholding_pct": "0", "facts-evidence": "brokerage file 2019-0301",
        "facts-reason": "onboarding",
    }  # fmt: skip
    assert client.post(_url(investor), facts).status_code == 302
    assert EligibilityFacts.objects.get(investor=investor).first_trade_date == date(2019, 3, 1)
    bad = client.post(
        _url(investor),
        {**facts, "facts-firm_shareholding_pct": "120"},
        HTTP_ACCEPT_LANGUAGE="en",
    )
    assert bad.status_code == 400 and "firm_shareholding_pct: at most 100" in bad.content.decode()
    classify = {
        "action": "classify", "classify-financial_assets": "6000000",
        "classify-average_income_3y": "0", "classify-net_assets": "0",
        "classify-experience_years": "3",
    }  # fmt: skip
    assert client.post(_url(investor), classify).status_code == 302
    assert ClassificationRecord.objects.get(investor=investor).result == "professional"
    assert client.post(_url(investor), {"action": "check"}).status_code == 302
    check = EligibilityCheck.objects.get(investor=investor)
    assert check.items.filter(rule__icontains="trad").exists()
    refusal = {"action": "refusal", "refusal-kind": "sub_account",
               "refusal-details": "asked for 3 sub-accounts for friends"}  # fmt: skip
    assert client.post(_url(investor), refusal).status_code == 302
    flag = RedFlag.objects.get(investor=investor, kind="sub_account")
    # operations may not resolve red flags; compliance may
    resolve = {"action": "resolve", "resolve-flag": flag.pk, "resolve-status": "confirmed",
               "resolve-resolution": "refused in writing"}  # fmt: skip
    assert client.post(_url(investor), resolve).status_code == 403
    login_verified(client, staff["compliance"])
    assert client.post(_url(investor), resolve).status_code == 302
    flag.refresh_from_db()
    assert flag.status == "confirmed" and flag.resolved_by == staff["compliance"]


def test_the_auditor_reads_the_file_and_changes_nothing(make_investor, staff, client):
    investor = make_investor()
    login_verified(client, staff["auditor"])
    assert client.get(_url(investor)).status_code == 200
    answer = client.post(_url(investor), {"action": "check"})
    assert answer.status_code == 403 and not EligibilityCheck.objects.exists()


def test_operations_import_many_investors_facts_all_or_nothing(make_investor, staff, client):
    from django.core.files.uploadedfile import SimpleUploadedFile
    from rest_framework.test import APIClient

    first, second = make_investor(), make_investor()
    header = (
        "email,first_trade_date,has_serious_default,is_related_party,firm_shareholding_pct,"
        "evidence\n"
    )
    good = (
        f"{first.user.email},2019-01-02,no,no,0,brokerage file\n"
        f"{second.user.email},,yes,no,0.5,credit bureau\n"
    )
    login_verified(client, staff["ops"])
    bad = client.post(
        "/staff/compliance/investors/",
        {"file": SimpleUploadedFile("f.csv", (header + good + "x@y.z,,no,no,0,\n").encode()),
         "reason": "onboarding batch"},
        HTTP_ACCEPT_LANGUAGE="en",
    )  # fmt: skip
    assert bad.status_code == 400 and "email: line 3" in bad.content.decode()
    assert not EligibilityFacts.objects.exists()
    done = client.post(
        "/staff/compliance/investors/",
        {"file": SimpleUploadedFile("f.csv", (header + good).encode()), "reason": "batch"},
    )
    assert done.status_code == 302
    assert EligibilityFacts.objects.get(investor=second).has_serious_default is True
    api = APIClient()
    api.force_authenticate(staff["auditor"])
    url = "/api/v1/compliance/eligibility-facts/"
    assert api.post(url, {"rows": [], "reason": "x"}, format="json").status_code == 403
    api.force_authenticate(staff["ops"])
    row = {
        "email": first.user.email, "first_trade_date": "2020-05-06", "has_serious_default": "no",
        "is_related_party": "maybe", "firm_shareholding_pct": "0", "evidence": "file",
    }  # fmt: skip
    refused = api.post(url, {"rows": [row], "reason": "x"}, format="json")
    assert refused.status_code == 400 and refused.json()["message"].startswith("is_related_party")
    ok = api.post(url, {"rows": [{**row, "is_related_party": "no"}], "reason": "x"}, format="json")
    assert ok.json() == {"imported": 1}
    assert EligibilityFacts.objects.get(investor=first).first_trade_date == date(2020, 5, 6)


def test_the_investor_file_doors_by_api(make_user, staff):
    from rest_framework.test import APIClient

    from accounts.models import InvestorProfile
    from accounts.roles import Role

    signup = make_user(Role.INVESTOR)
    ops, compliance = APIClient(), APIClient()
    ops.force_authenticate(staff["ops"])
    compliance.force_authenticate(staff["compliance"])
    identity = {
        "email": signup.email, "real_name": "王五", "id_type": "resident_id",
        "id_number": "110101198807071234", "bank_name": "中国银行",
        "bank_account": "6217000011112222333", "reason": "verified in the branch",
    }  # fmt: skip
    bad = ops.post("/api/v1/compliance/investors/", {**identity, "bank_account": "123"},
                   format="json")  # fmt: skip
    assert bad.status_code == 400 and bad.json()["message"].startswith("bank_account")
    opened = ops.post("/api/v1/compliance/investors/", identity, format="json")
    assert opened.status_code == 201
    pk = opened.json()["investor"]
    assert InvestorProfile.objects.get(pk=pk).user == signup
    base = f"/api/v1/compliance/investors/{pk}"
    classified = ops.post(
        f"{base}/classification/", {"financial_assets": "100000", "experience_years": "1"},
        format="json",
    )  # fmt: skip
    assert classified.json() == {"result": "ordinary"}
    assert ops.post(f"{base}/eligibility-checks/", format="json").json() == {"passed": False}
    refusal = {"kind": "third_party_authority", "details": "a friend would trade"}
    refused = ops.post(f"{base}/refusals/", refusal, format="json")
    assert refused.status_code == 422 and refused.json()["code"] == "third_party_authority_refused"
    flag = RedFlag.objects.get(investor_id=pk)
    url = f"/api/v1/compliance/red-flags/{flag.pk}/resolve/"
    assert (
        ops.post(url, {"status": "confirmed", "resolution": "x"}, format="json").status_code == 403
    )
    done = compliance.post(url, {"status": "confirmed", "resolution": "told in writing"},
                           format="json")  # fmt: skip
    assert done.json() == {"status": "confirmed"}
