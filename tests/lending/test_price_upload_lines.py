"""The staff price upload names what it ignored and counts lines as a spreadsheet does (the
header is line 1, the first tick line 2; blank lines count), like the exchange lists' import:
each unknown instrument code with its line, the ticks already received, and an error on a bad
line naming that line."""

from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone

from accounts.errors import ValidationFailed
from lending.instruments import services as instruments_services
from tests.compliance.fixtures import login_verified

pytestmark = pytest.mark.django_db

URL = reverse("staff:lending-price-upload")


def _at(seconds: int = 0) -> str:
    return (timezone.now() - timedelta(seconds=60 - seconds)).isoformat()


def _upload(client, text: str, language: str = "en"):
    upload = SimpleUploadedFile("prices.csv", text.encode())
    return client.post(URL, {"file": upload}, HTTP_ACCEPT_LANGUAGE=language, follow=True)


def _messages(response) -> list[str]:
    return [str(m) for m in response.context["messages"]]


def test_the_service_names_each_unknown_code_with_its_line(book_instruments):
    at = _at()
    content = (
        "instrument,price,at\n"
        f"SSE:600519,100.10,{at}\n"  # line 2
        f"SSE:999999,1.00,{at}\n"  # line 3
        "\n"  # line 4 (blank)
        f"nope,1.00,{at}\n"  # line 5
    )
    result = instruments_services.prices_import_csv(content=content)
    assert result == (1, 2) and result.unknown == ((3, "SSE:999999"), (5, "NOPE"))
    again = instruments_services.prices_import_csv(content=content)
    assert again == (0, 3) and again.repeated == 1 and len(again.unknown) == 2
    # the API's batch keeps naming ticks by their index in the list
    api = instruments_services.prices_ingest(
        [{"instrument": "SSE:999999", "price": "1", "at": at}], source="feed"
    )
    assert api == (0, 1) and api.unknown == ((0, "SSE:999999"),)


def test_a_bad_line_is_named_by_its_line_in_the_file(book_instruments):
    content = f"instrument,price,at\nSSE:600519,100.10,{_at()}\n\nSSE:600519,abc,{_at(1)}\n"
    with pytest.raises(ValidationFailed) as caught:
        instruments_services.prices_import_csv(content=content)
    assert caught.value.message == "line 4, price: 'abc' is not a number"
    assert caught.value.extra["field"] == "line 4, price"
    content = "instrument,price,at\nSSE:600519,100.10,yesterday\n"
    with pytest.raises(ValidationFailed) as caught:
        instruments_services.prices_import_csv(content=content)
    assert caught.value.message.startswith("line 2, at: 'yesterday' is not an ISO date-time")
    assert caught.value.extra["line"] == 2


def test_the_page_names_the_ignored_codes_and_their_lines(book_instruments, staff, client):
    login_verified(client, staff["risk"])
    at = _at()
    text = (
        "instrument,price,at\n"
        f"SSE:600519,100.10,{at}\n"
        f"SSE:999999,1.00,{at}\n"
        f"SZSE:000001,10.01,{at}\n"
        f",1.00,{at}\n"
    )
    response = _upload(client, text)
    assert response.status_code == 200
    shown = _messages(response)
    assert shown[0] == "2 ticks accepted, 2 ignored."
    assert shown[1] == (
        "Ignored, instrument code not known to the desk: line 3: SSE:999999; line 5: (no code)."
    )
    html = response.content.decode()
    assert "line 3: SSE:999999" in html

    response = _upload(client, text)  # the same file again: two repeats, the same unknowns
    shown = _messages(response)
    assert shown[0] == (
        "0 ticks accepted, 4 ignored. 2 already received (same instrument and time)."
    )
    assert "line 3: SSE:999999" in shown[1]


def test_the_page_names_a_bad_line_as_a_spreadsheet_does(book_instruments, staff, client):
    login_verified(client, staff["risk"])
    text = f"instrument,price,at\nSSE:600519,100.10,{_at()}\nSSE:600519,x,{_at(1)}\n"
    response = client.post(
        URL, {"file": SimpleUploadedFile("p.csv", text.encode())}, HTTP_ACCEPT_LANGUAGE="en"
    )
    assert response.status_code == 400
    assert "line 3, price: &#x27;x&#x27; is not a number" in response.content.decode()
