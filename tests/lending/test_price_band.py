"""The daily price band (issue 16, item 6): a tick outside its instrument's band for its day is
refused (400 naming the tick) and never moves the latest price. Main board ±10%, ST ±5%, STAR
and ChiNext ±20% (ChiNext 10% before 2020-08-24), no band in a new listing's first 5 trading
days; the fractions are dated parameters per board (compliance: prices.*)."""

from datetime import date, datetime, time
from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.errors import ValidationFailed
from compliance import parameters as P
from compliance import selectors as compliance_selectors
from lending.domain.prices import board_of, price_band
from lending.instruments import selectors as instruments_selectors
from lending.instruments import services as instruments_services
from lending.instruments.models import LatestPrice, PriceTick

pytestmark = pytest.mark.django_db

D = Decimal


def _at(day: date, hour: int = 15, minute: int = 0):
    return timezone.make_aware(datetime.combine(day, time(hour, minute)))


def _instrument(code, exchange="SSE", **kwargs):
    kwargs.setdefault("category", "other_a_share")
    return instruments_services.instrument_create(
        code=code,
        exchange=exchange,
        name=f"test {code}",
        tradable_float=1_000_000_000,
        actor=None,
        reason="test fixture",
        **kwargs,
    )


def _ingest(*ticks):
    return instruments_services.prices_ingest(
        [{"instrument": unit, "price": price, "at": at} for unit, price, at in ticks],
        source="test",
    )


def _refused(*ticks, match):
    with pytest.raises(ValidationFailed, match=match) as caught:
        _ingest(*ticks)
    return caught.value


def _state(instrument):
    latest = LatestPrice.objects.filter(instrument=instrument).first()
    return (
        PriceTick.objects.filter(instrument=instrument).count(),
        (latest.price, latest.at) if latest else None,
    )


# --- the pure rule ------------------------------------------------------------------------------


def test_price_band_rounds_half_up_to_the_tick_and_board_of_code():
    band = price_band(D("10.00"), D("0.10"), D("0.01"))
    assert (band.low, band.high) == (D("9.00"), D("11.00"))
    band = price_band(D("12.35"), D("0.10"), D("0.01"))  # 11.115 / 13.585: half up
    assert (band.low, band.high) == (D("11.12"), D("13.59"))
    assert band.contains(D("13.59")) and not band.contains(D("13.60"))
    band = price_band(D("3.857"), D("0.10"), D("0.001"))  # a fund's tick
    assert (band.low, band.high) == (D("3.471"), D("4.243"))
    assert board_of("SSE", "688981") == board_of("SSE", "689009") == "star"
    assert board_of("SZSE", "300750") == board_of("SZSE", "301269") == "chinext"
    assert board_of("SSE", "600519") == board_of("SZSE", "000001") == "main"
    assert board_of("SSE", "300750") == "main"  # 300xxx is ChiNext only on SZSE
    with pytest.raises(ValueError):
        price_band(D("10"), D("1.2"), D("0.01"))


def test_parameters_are_dated_per_board_with_their_source():
    def value(key, on):
        return compliance_selectors.parameter(key, on=on)

    assert value(P.PRICE_BAND_PREFIX + "main", date(2026, 1, 5)) == D("0.10")
    assert value(P.PRICE_BAND_ST_PREFIX + "main", date(2026, 1, 5)) == D("0.05")
    assert value(P.PRICE_BAND_PREFIX + "star", date(2019, 7, 22)) == D("0.20")
    assert value(P.PRICE_BAND_PREFIX + "chinext", date(2020, 8, 21)) == D("0.10")
    assert value(P.PRICE_BAND_PREFIX + "chinext", date(2020, 8, 24)) == D("0.20")
    assert value(P.NO_BAND_DAYS_PREFIX + "main", date(2023, 4, 7)) == 0
    assert value(P.NO_BAND_DAYS_PREFIX + "main", date(2023, 4, 10)) == 5
    assert value(P.NO_BAND_DAYS_PREFIX + "star", date(2019, 7, 22)) == 5
    assert value(P.NO_BAND_DAYS_PREFIX + "chinext", date(2020, 8, 24)) == 5
    for row in compliance_selectors.parameter_history(P.PRICE_BAND_PREFIX + "chinext"):
        assert row.source


def test_instrument_create_defaults_the_board_from_the_code_and_takes_a_listing_date():
    star = _instrument("688001", category="index_constituent")
    chinext = _instrument("300001", "SZSE", listed_on="2024-01-02")
    main = _instrument("600001")
    forced = _instrument("600002", board="star")
    assert (star.board, chinext.board, main.board, forced.board) == (
        "star",
        "chinext",
        "main",
        "star",
    )
    assert chinext.listed_on == date(2024, 1, 2) and main.listed_on is None
    with pytest.raises(ValidationFailed, match="board"):
        _instrument("600003", board="nasdaq")
    with pytest.raises(ValidationFailed, match="listed_on"):
        _instrument("600004", listed_on="yesterday")


# --- ticks --------------------------------------------------------------------------------------


def test_main_board_ten_percent_edges_exactly_at_the_limit_accepted_one_cent_beyond_refused():
    inst = _instrument("600010")
    # 2025-06-05 is a Thursday: its last price is the previous close of Friday 2025-06-06
    assert _ingest(("SSE:600010", "10.00", _at(date(2025, 6, 5)))) == (1, 0)
    friday = date(2025, 6, 6)
    assert _ingest(("SSE:600010", "11.00", _at(friday, 10))) == (1, 0)
    assert _ingest(("SSE:600010", "9.00", _at(friday, 11))) == (1, 0)
    before = _state(inst)
    error = _refused(
        ("SSE:600010", "10.50", _at(friday, 13)),
        ("SSE:600010", "11.01", _at(friday, 14)),
        match=r"ticks\[1\]\.price: 11\.01 is outside the daily price band of SSE:600010 on "
        r"2025-06-06, 9\.00 to 11\.00 \(previous close 10\.00, ±10\.00%: Main board\)",
    )
    assert error.status_code == 400
    assert error.extra["field"] == "price" and error.extra["row"] == 1
    assert (error.extra["low"], error.extra["high"], error.extra["rule"]) == (
        "9.00",
        "11.00",
        "price_band",
    )
    _refused(("SSE:600010", "8.99", _at(friday, 14)), match=r"ticks\[0\]\.price: 8\.99")
    # nothing of either batch was written: the valid first tick neither
    assert _state(inst) == before


def test_st_five_percent():
    inst = _instrument("600020", is_st=True)
    _ingest(("SSE:600020", "10.00", _at(date(2025, 6, 5))))
    friday = date(2025, 6, 6)
    assert _ingest(("SSE:600020", "10.50", _at(friday, 10))) == (1, 0)
    assert _ingest(("SSE:600020", "9.50", _at(friday, 11))) == (1, 0)
    before = _state(inst)
    _refused(("SSE:600020", "10.51", _at(friday, 13)), match=r"±5\.00%: Main board, ST / \*ST\)")
    _refused(("SSE:600020", "9.49", _at(friday, 13)), match=r"ticks\[0\]\.price")
    assert _state(inst) == before


@pytest.mark.parametrize(
    ("code", "exchange", "label"), [("688010", "SSE", "STAR Market"), ("300010", "SZSE", "ChiNext")]
)
def test_star_and_chinext_twenty_percent(code, exchange, label):
    inst = _instrument(code, exchange, category="index_constituent")
    unit = f"{exchange}:{code}"
    _ingest((unit, "50.00", _at(date(2025, 6, 5))))
    friday = date(2025, 6, 6)
    assert _ingest((unit, "60.00", _at(friday, 10)), (unit, "40.00", _at(friday, 11))) == (2, 0)
    before = _state(inst)
    _refused((unit, "60.01", _at(friday, 13)), match=rf"40\.00 to 60\.00 .*±20\.00%: {label}")
    _refused((unit, "39.99", _at(friday, 13)), match=r"ticks\[0\]\.price")
    assert _state(inst) == before


def test_chinext_before_2020_08_24_uses_ten_percent():
    _instrument("300020", "SZSE")
    # Thursday 2020-08-20 close 10.00; Friday 2020-08-21 still the 10% band
    _ingest(("SZSE:300020", "10.00", _at(date(2020, 8, 20))))
    assert _ingest(("SZSE:300020", "11.00", _at(date(2020, 8, 21)))) == (1, 0)
    _refused(
        ("SZSE:300020", "11.01", _at(date(2020, 8, 21), 14)),
        match=r"previous close 10\.00, ±10\.00%: ChiNext",
    )
    # Monday 2020-08-24, the registration reform: 20% around Friday's 11.00
    assert _ingest(("SZSE:300020", "13.20", _at(date(2020, 8, 24), 10))) == (1, 0)
    _refused(("SZSE:300020", "13.21", _at(date(2020, 8, 24), 11)), match=r"8\.80 to 13\.20")


def test_no_band_in_a_new_listings_first_five_trading_days():
    inst = _instrument("600030", listed_on=date(2024, 1, 2))
    # trading days 1-5: 2024-01-02, 03, 04, 05, 08 (a weekend in between): no band
    days = [
        date(2024, 1, 2),
        date(2024, 1, 3),
        date(2024, 1, 4),
        date(2024, 1, 5),
        date(2024, 1, 8),
    ]
    price = D("10.00")
    for day in days:
        assert _ingest(("SSE:600030", str(price), _at(day))) == (1, 0)
        price *= 2  # +100% a day: no band yet
    assert instruments_selectors.instrument_band(inst, on=date(2024, 1, 8)) is None
    # the 6th trading day has the band around the 5th day's close (160.00)
    sixth = date(2024, 1, 9)
    band = instruments_selectors.instrument_band(inst, on=sixth)
    assert (band.low, band.high) == (D("144.00"), D("176.00"))
    assert _ingest(("SSE:600030", "176.00", _at(sixth))) == (1, 0)
    _refused(("SSE:600030", "176.01", _at(sixth, 15, 1)), match=r"ticks\[0\]\.price")


def test_main_board_listing_before_the_registration_reform_is_banded_from_its_second_day():
    _instrument("600040", listed_on=date(2022, 1, 4))
    _ingest(("SSE:600040", "10.00", _at(date(2022, 1, 4))))
    _refused(("SSE:600040", "11.01", _at(date(2022, 1, 5))), match=r"ticks\[0\]\.price")


def test_first_price_has_no_band_and_a_batch_tick_is_the_next_days_previous_close():
    inst = _instrument("600050")
    assert _ingest(("SSE:600050", "10.00", _at(date(2025, 6, 5), 10))) == (1, 0)
    assert _ingest(("SSE:600050", "30.00", _at(date(2025, 6, 5), 11))) == (1, 0)  # same day
    before = _state(inst)
    # in one batch: Friday's close 33.00 (inside 27.00-33.00 around Thursday's 30.00) makes
    # Monday's band 29.70-36.30
    _refused(
        ("SSE:600050", "33.00", _at(date(2025, 6, 6))),
        ("SSE:600050", "36.31", _at(date(2025, 6, 9))),
        match=r"ticks\[1\]\.price: 36\.31 .* 29\.70 to 36\.30",
    )
    assert _state(inst) == before


def test_a_late_tick_of_an_earlier_day_is_held_to_that_days_band():
    inst = _instrument("600060")
    _ingest(("SSE:600060", "10.00", _at(date(2025, 6, 4))))
    _ingest(("SSE:600060", "10.50", _at(date(2025, 6, 6))))
    # a tick of Thursday arriving now: its previous close is Wednesday's 10.00, not Friday's
    assert _ingest(("SSE:600060", "11.00", _at(date(2025, 6, 5), 10))) == (1, 0)
    _refused(("SSE:600060", "11.01", _at(date(2025, 6, 5), 11)), match=r"9\.00 to 11\.00")
    assert _state(inst)[1][0] == D("10.50")  # the latest price never moved back


def test_instrument_band_today_and_the_valuation_lower_limit_follow_the_same_rule(
    book_instruments,
):
    pingan = book_instruments["SZSE:000001"]
    catl = book_instruments["SZSE:300750"]
    assert catl.board == "chinext" and pingan.board == "main"
    # the fixture prices are today's first: no previous close today, no band yet
    assert instruments_selectors.instrument_band(pingan) is None
    tomorrow = timezone.localdate() + timezone.timedelta(days=1)
    band = instruments_selectors.instrument_band(catl, on=tomorrow)
    assert (band.low, band.high) == (D("160.00"), D("240.00"))
    from lending.financing.valuation import lower_limit_price

    assert lower_limit_price(catl, D("200"), None, on=tomorrow) == D("160.00")
    assert lower_limit_price(pingan, D("10"), D("10"), on=tomorrow) == D("9.00")
    assert lower_limit_price(pingan, None, None, on=tomorrow) is None


# --- the API route and the staff upload -----------------------------------------------------


def test_api_refuses_a_tick_outside_the_band_with_400_naming_it(staff):
    inst = _instrument("600070")
    _ingest(("SSE:600070", "10.00", _at(date(2025, 6, 5))))
    before = _state(inst)
    client = APIClient()
    client.force_authenticate(staff["risk"])
    body = {
        "ticks": [
            {"instrument": "600070", "price": "10.10", "at": _at(date(2025, 6, 6), 10).isoformat()},
            {"instrument": "600070", "price": "11.01", "at": _at(date(2025, 6, 6), 11).isoformat()},
        ]
    }
    response = client.post("/api/v1/prices/", body, format="json", HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 400
    data = response.json()
    assert data["message"].startswith("ticks[1].price: 11.01")  # 11.0100: the API's decimal
    assert (
        "is outside the daily price band of SSE:600070 on 2025-06-06, 9.00 to 11.00"
        in (data["message"])
    )
    assert data["extra"]["field"] == "price" and data["extra"]["rule"] == "price_band"
    assert _state(inst) == before
    # in Chinese for a Chinese reader
    response = client.post("/api/v1/prices/", body, format="json", HTTP_ACCEPT_LANGUAGE="zh-hans")
    assert response.status_code == 400 and "涨跌幅限制" in response.json()["message"]
    assert _state(inst) == before


def test_staff_csv_upload_refuses_a_tick_outside_the_band(staff, client):
    from tests.second_factor import login_verified

    inst = _instrument("600080")
    _ingest(("SSE:600080", "10.00", _at(date(2025, 6, 5))))
    before = _state(inst)
    login_verified(client, staff["risk"])
    at = _at(date(2025, 6, 6)).isoformat()
    upload = SimpleUploadedFile(
        "p.csv", f"instrument,price,at\nSSE:600080,10.20,{at}\nSSE:600080,8.99,{at}\n".encode()
    )
    response = client.post(
        "/staff/lending/prices/upload/", {"file": upload}, HTTP_ACCEPT_LANGUAGE="en"
    )
    assert response.status_code == 400
    assert "line 3, price: 8.99 is outside the daily price band" in response.content.decode()
    assert _state(inst) == before
