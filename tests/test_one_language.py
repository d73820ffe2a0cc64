"""One language per page (issue 20): every page of the portal and the staff console, rendered
in Simplified Chinese and in English, shows the reader's language only.

Pages are enumerated from the URL resolver (tests/test_access_matrix.routes), so a new page is
covered automatically; those with an object id are opened with the access matrix's `world`
objects. The visible text (no scripts, styles, <code>, the language switch, nor anything marked
translate="no") is checked:
- in Chinese, for English: English function words ("the", "of", "is", ...), snake_case
  identifiers, and the raw values of every model choice ("succeeded", "call", ...) shown
  instead of their labels;
- in English, for Chinese characters, once the data of the page (instrument, investor and user
  names, which are Chinese whatever the reader's language) is taken out.
Codes and acronyms (CNY, SSE:600519, VaR, SHA-256, API) are data, not language."""

import re
from html.parser import HTMLParser

import pytest
from django.apps import apps
from django.db import models

from tests import test_access_matrix as matrix
from tests.test_access_matrix import OWNED, has_id, routes, staff_pk, url_for

pytestmark = pytest.mark.django_db

#: The access matrix's investor A with a call, notices, a plan, an order, a statement...
world = matrix.world

#: English function words: one of them in a Chinese page is an untranslated sentence.
_FUNCTION_WORDS = (
    "the of and to is are was were be been for with from this that these those your you "
    "not no yes has have had will would may must can could should an or as its it by at on "
    "in into if then than when which who what where there here only all any each every per "
    "please more less after before until since between about above below"
)
ENGLISH_WORDS = frozenset(_FUNCTION_WORDS.split())

#: Words that are the same in both languages or are data (codes, acronyms, units).
ALLOWED = {"a", "i"}

CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\u3000-\u303f\uff00-\uffef]")
WORD = re.compile(r"[A-Za-z][A-Za-z_]*[A-Za-z]|[A-Za-z]")
SKIP_TAGS = {"script", "style", "code", "pre", "template", "svg", "noscript"}


class _Text(HTMLParser):
    """The text a reader sees, with attributes a reader meets (title, placeholder, value of
    buttons, aria-label)."""

    VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta",
            "source", "track", "wbr"}  # fmt: skip

    def __init__(self, skip_ids: tuple[str, ...] = ()):
        super().__init__(convert_charrefs=True)
        self.skip_ids = skip_ids
        self.parts: list[str] = []
        self.stack: list[bool] = []  # per open element: hidden from the check

    def _hidden(self) -> bool:
        return any(self.stack)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        hidden = (
            tag in SKIP_TAGS
            or attrs.get("translate") == "no"
            or "langswitch" in (attrs.get("class") or "")
            or attrs.get("id") in self.skip_ids
        )
        if not self._hidden() and not hidden:
            for name in ("title", "placeholder", "aria-label"):
                if attrs.get(name):
                    self.parts.append(attrs[name])
            if tag == "input" and attrs.get("type") in ("submit", "button") and attrs.get("value"):
                self.parts.append(attrs["value"])
        if tag not in self.VOID:
            self.stack.append(hidden)

    def handle_endtag(self, tag):
        if tag not in self.VOID and self.stack:
            self.stack.pop()

    def handle_data(self, data):
        if not self._hidden():
            self.parts.append(data)


def visible_text(html: str, *, skip_ids: tuple[str, ...] = ()) -> str:
    parser = _Text(skip_ids)
    parser.feed(html)
    return " ".join(" ".join(parser.parts).split())


def choice_values() -> set[str]:
    """Raw values of every model choice that read as words (what a page shows when it prints a
    value instead of its label)."""
    values = set()
    for model in apps.get_models():
        for field in model._meta.get_fields():
            choices = getattr(field, "choices", None)
            if not choices or not isinstance(field, models.Field):
                continue
            for value, _label in field.flatchoices:
                if isinstance(value, str) and re.fullmatch(r"[a-z][a-z_]{2,}", value):
                    values.add(value)
    from accounts.roles import Role  # roles are groups, not a field's choices

    return values | set(Role.values)


def data_strings() -> list[str]:
    """Names a page shows as data, longest first (taken out before looking for Chinese)."""
    from accounts.models import InvestorProfile, User
    from lending.instruments.models import Instrument

    names = set(Instrument.objects.values_list("name", flat=True))
    names |= set(User.objects.values_list("full_name", flat=True))
    names |= {p.real_name for p in InvestorProfile.objects.all()}
    names |= set(InvestorProfile.objects.values_list("bank_name", flat=True))
    return sorted((n for n in names if n), key=len, reverse=True)


def english_in(text: str, raw_values: set[str]) -> list[str]:
    text = re.sub(r"\S+@\S+", " ", text)  # e-mail addresses are data
    found = []
    for word in WORD.findall(text):
        lower = word.lower()
        if lower in ALLOWED:
            continue
        if lower in ENGLISH_WORDS or "_" in word or word in raw_values:
            found.append(word)
    return found


def chinese_in(text: str, data: list[str]) -> list[str]:
    for name in data:
        text = text.replace(name, " ")
    return sorted({m.group(0) for m in re.finditer(r"\S*[\u4e00-\u9fff]+\S*", text)})[:12]


def pages(world):
    """(url, name) of every GET page of the portal and the staff console."""
    for route, name, view in routes():
        if not route.startswith(("portal/", "staff/")) or view is None:
            continue
        if not hasattr(view, "get"):
            continue
        if route.endswith(("download/", "pdf/", "csv/")) or "<str:" in route:
            continue
        if has_id(route):
            key = OWNED.get(name)
            url = url_for(route, world[key] if key else staff_pk(name, world))
        else:
            url = "/" + route
        yield url, name


def _read(client, url: str, language: str, users: list):
    """The page as the first of `users` who may open it (200 and HTML), else None."""
    from tests.test_access_matrix import login

    for user in users:
        login(client, user)
        client.cookies["django_language"] = language
        response = client.get(url, HTTP_ACCEPT_LANGUAGE=language)
        if response.status_code == 200 and "text/html" in response.get("Content-Type", ""):
            return response.content.decode()
    return None


def test_every_page_speaks_the_readers_language_only(world, staff, make_user, client):
    from accounts.roles import Role

    team = [staff["auditor"], staff["risk"], staff["ops"], staff["compliance"],
            make_user(Role.TREASURY)]  # fmt: skip
    raw_values = choice_values()
    data = data_strings()
    failures, seen = [], 0
    for url, name in pages(world):
        users = [world["a"]] if url.startswith("/portal/") else team
        chinese = _read(client, url, "zh-hans", users)
        if chinese is None:
            continue
        seen += 1
        english_words = english_in(visible_text(chinese), raw_values)
        if english_words:
            failures.append(f"zh-hans {url} ({name}): {sorted(set(english_words))[:15]}")
        english = _read(client, url, "en", users)
        chinese_words = chinese_in(visible_text(english or ""), data)
        if chinese_words:
            failures.append(f"en {url} ({name}): {chinese_words}")
    assert seen > 40, f"only {seen} pages rendered: the crawl lost its way"
    assert not failures, f"{len(failures)} page(s) mix languages:\n" + "\n".join(failures)


def test_every_admin_list_speaks_the_readers_language_only(world, staff, client):
    """The staff admin's lists of the desk's own records too: coded values by their labels,
    records written at the time (journal memos, sources, names) marked as data. The filter
    sidebar lists the stored codes a list is filtered by (data), and the third-party admins
    (django-otp's devices, django-axes' logs, auth groups named by role code) are theirs."""
    from django.contrib import admin

    from accounts.models import User
    from tests.second_factor import login_verified

    superuser = User.objects.create_superuser(email="root@desk.example", password="a-long-pass-1")
    login_verified(client, superuser)
    raw_values, data = choice_values(), data_strings()
    failures = []
    ours = ("accounts", "custody", "compliance", "lending", "reports")
    for model in admin.site._registry:
        if model._meta.app_label not in ours:
            continue
        url = f"/admin/{model._meta.app_label}/{model._meta.model_name}/"
        for language in ("zh-hans", "en"):
            client.cookies["django_language"] = language
            response = client.get(url, HTTP_ACCEPT_LANGUAGE=language)
            assert response.status_code == 200, url
            text = visible_text(response.content.decode(), skip_ids=("changelist-filter",))
            if language == "zh-hans":
                found = sorted(set(english_in(text, raw_values)))[:12]
            else:
                found = chinese_in(text, data)
            if found:
                failures.append(f"{language} {url}: {found}")
    assert not failures, f"{len(failures)} admin list(s) mix languages:\n" + "\n".join(failures)
