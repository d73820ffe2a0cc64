"""The desk's terms (docs/glossary.md) are translated the same way everywhere: every string of
the Chinese catalogue whose English uses a term carries its Chinese term (or an accepted short
form). Reads the compiled source of truth, locale/zh_Hans/LC_MESSAGES/django.po."""

import re
from pathlib import Path

import polib

ROOT = Path(__file__).resolve().parent.parent


def terms() -> dict[str, list[str]]:
    rows = {}
    text = (ROOT / "docs" / "glossary.md").read_text(encoding="utf-8")
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) != 3 or cells[0] in ("English", "") or set(cells[0]) <= {"-"}:
            continue
        english, chinese, also = cells
        rows[english] = [chinese, *[a.strip() for a in also.split(",") if a.strip()]]
    return rows


def test_the_glossary_lists_the_desks_terms():
    found = terms()
    assert found["maintenance ratio"] == ["维持担保比例"]
    assert found["margin call"] == ["追加担保物", "追保"]
    assert len(found) >= 15


def test_every_translated_string_uses_the_glossarys_term():
    catalogue = polib.pofile(str(ROOT / "locale" / "zh_Hans" / "LC_MESSAGES" / "django.po"))
    problems = []
    for entry in catalogue:
        chinese = entry.msgstr or entry.msgstr_plural.get(0, "")
        if not chinese:
            continue
        for english, accepted in terms().items():
            if re.search(rf"\b{re.escape(english)}s?\b", entry.msgid, re.IGNORECASE) and not any(
                term in chinese for term in accepted
            ):
                problems.append(f"{entry.msgid[:80]!r} -> {chinese[:60]!r}: needs {accepted[0]}")
    assert not problems, f"{len(problems)} string(s) off the glossary:\n" + "\n".join(problems)
