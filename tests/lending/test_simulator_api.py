"""The leverage simulator through the API and the portal page (DOMAIN.md formulas)."""

import pytest

pytestmark = pytest.mark.django_db
URL = "/api/v1/simulator/leverage/"


def _post(client, **body):
    return client.post(URL, body, content_type="application/json")


def test_worked_example_two_times_leverage(client):
    # L = 2, own 100,000: assets 200,000, borrowed 100,000.
    # R_e = 2 × (0.10 − 0.001) − (2 − 1) × 0.07 = 0.198 − 0.07 = 0.128
    # after a 20% drop: 100,000 × (1 − 2 × 0.20) = 60,000; wiped out at 1/2 = 0.5
    response = _post(
        client,
        own_capital="100000",
        leverage="2",
        asset_return="0.10",
        fee_rate="0.001",
        borrow_rate="0.07",
        price_drop="0.20",
    )
    assert response.status_code == 200, response.json()
    assert response.json() == {
        "total_assets": "200000.00",
        "borrowed": "100000.00",
        "equity_return": "0.128000",
        "equity_after_drop": "60000.00",
        "wipeout_drop": "0.500000",
        "wiped_out": False,
    }


def test_off_exchange_ten_times_leverage_is_wiped_out_by_a_ten_percent_fall(client):
    # L = 10: 10 × 0.10 = 1, so a 10% fall takes all 50,000 of own capital.
    body = _post(client, own_capital="50000", leverage="10", price_drop="0.10").json()
    assert body["total_assets"] == "500000.00" and body["borrowed"] == "450000.00"
    assert body["equity_after_drop"] == "0.00"
    assert body["wiped_out"] is True
    assert body["wipeout_drop"] == "0.100000"
    # L = 3: 1/3 of a fall wipes out; a 30% fall leaves 100,000 × (1 − 0.9) = 10,000
    three = _post(client, own_capital="100000", leverage="3", price_drop="0.30").json()
    assert three["wipeout_drop"] == "0.333333"
    assert three["equity_after_drop"] == "10000.00" and three["wiped_out"] is False


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"own_capital": "100000", "leverage": "0.5"}, "leverage"),
        ({"own_capital": "-1", "leverage": "2"}, "own_capital"),
        ({"own_capital": "abc", "leverage": "2"}, "own_capital"),
        ({"own_capital": "100000", "leverage": "NaN"}, "leverage"),
        ({"own_capital": "100000", "leverage": "Infinity"}, "leverage"),
        ({"own_capital": "100000", "leverage": "2", "price_drop": "1.5"}, "price_drop"),
        ({"own_capital": "100000", "leverage": "2", "borrow_rate": "x"}, "borrow_rate"),
        ({"leverage": "2"}, "own_capital"),
    ],
)
def test_bad_input_is_a_400_naming_the_field(client, body, field):
    response = _post(client, **body)
    assert response.status_code == 400
    error = response.json()
    assert error["code"] == "validation_error"
    assert error["extra"]["field"] == field
    assert error["message"].startswith(f"{field}:")


def test_simulator_needs_no_login_and_is_in_the_schema(client):
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    operation = schema["paths"][URL]["post"]
    assert operation["security"] == [{}] or operation.get("security") in ([], [{}])
    props = schema["components"]["schemas"]["LeverageOutput"]["properties"]
    assert set(props) == {
        "total_assets",
        "borrowed",
        "equity_return",
        "equity_after_drop",
        "wipeout_drop",
        "wiped_out",
    }


def test_portal_page_shows_figures_and_both_charts_in_both_languages(client):
    page = client.get(
        "/portal/simulator/", {"own_capital": "100000", "leverage": "5", "price_drop": "0.20"}
    ).content.decode()
    assert 'data-field="equity_after_drop">0.00<' in page
    assert page.count("<svg") == 2
    assert "杠杆模拟器" in page  # Chinese by default
    client.post("/i18n/setlang/", {"language": "en", "next": "/"})
    english = client.get("/portal/simulator/", {"own_capital": "x", "leverage": "2"})
    assert english.status_code == 200
    assert "Leverage simulator" in english.content.decode()
    assert "own_capital:" in english.content.decode()


def test_chart_ticks_are_round_numbers():
    from lending.domain.charts import nice_ticks

    assert nice_ticks(-0.30, 0.30, 5) == [-0.4, -0.2, 0.0, 0.2, 0.4]
    assert nice_ticks(0, 100_000, 5) == [0, 20_000, 40_000, 60_000, 80_000, 100_000]
    assert nice_ticks(-3.64, 2.36, 5)[0] <= -3.64 and nice_ticks(-3.64, 2.36, 5)[-1] >= 2.36


@pytest.mark.parametrize(
    "field,value", [("leverage", "1e30"), ("leverage", "1e999"), ("own_capital", "NaN")]
)
def test_portal_page_names_the_field_for_hostile_values_instead_of_failing(client, field, value):
    query = {"own_capital": "100000", "leverage": "2", field: value}
    page = client.get("/portal/simulator/", query, HTTP_ACCEPT_LANGUAGE="en")
    assert page.status_code == 200
    assert f"{field}:" in page.content.decode()
    assert 'data-field="equity_after_drop"' not in page.content.decode()


@pytest.mark.parametrize(
    "field,value,rule",
    [
        # 1e17 × 1e13 has more digits than money is kept at: refused, not a server error
        ("own_capital", "1" + "0" * 17, "must be at most 1,000,000,000,000"),
        ("leverage", "101", "must be at most 100"),
        ("borrow_rate", "-100", "must be between -10 and 10"),
    ],
)
def test_api_refuses_figures_beyond_the_simulators_range_naming_the_field(
    client, field, value, rule
):
    body = {"own_capital": "100000", "leverage": "2", field: value}
    response = client.post(URL, body, content_type="application/json", HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 400
    assert response.json()["message"] == f"{field}: {rule}"
