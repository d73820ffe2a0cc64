"""Refresh the Chinese catalogue: run makemessages, then fill msgstr from the glossaries.

Each app keeps its translations in locale/zh_Hans/glossary/<app>.json ({"English": "中文"};
a string with a context is "context|English"; a plural string is keyed by its singular),
so several people can add strings without editing the same .po file. Untranslated strings
are listed at the end; `--strict` makes them an error.

    .venv/bin/python tools/i18n_sync.py [--strict]
"""

import json
import subprocess
import sys
from pathlib import Path

import polib

ROOT = Path(__file__).resolve().parent.parent
PO = ROOT / "locale" / "zh_Hans" / "LC_MESSAGES" / "django.po"


def main() -> int:
    subprocess.run(
        [
            sys.executable,
            "manage.py",
            "makemessages",
            "-l",
            "zh_Hans",
            "--ignore=.venv",
            "--ignore=var",
            "--ignore=tests",
            "--ignore=bench",
            "--no-obsolete",
            "-v",
            "0",
        ],
        cwd=ROOT,
        check=True,
    )
    glossary: dict[str, str] = {}
    for path in sorted((ROOT / "locale" / "zh_Hans" / "glossary").glob("*.json")):
        glossary.update(json.loads(path.read_text(encoding="utf-8")))
    catalogue = polib.pofile(str(PO))
    catalogue.metadata["Language"] = "zh_Hans"
    catalogue.metadata["Content-Type"] = "text/plain; charset=UTF-8"
    missing = []
    for entry in catalogue:
        # template strings with a literal % reach the catalogue escaped as %%
        plain = entry.msgid.replace("%%", "%")
        # a string with a context (pgettext) is "context|English" in the glossary, so the same
        # English word may read differently where it means something else
        keys = (
            [f"{entry.msgctxt}|{entry.msgid}", f"{entry.msgctxt}|{plain}"] if entry.msgctxt else []
        )
        keys += [entry.msgid, plain]
        key = next((k for k in keys if k in glossary), None)
        if key is not None:
            text = glossary[key]
            if plain != entry.msgid and "%%" not in text:
                text = text.replace("%", "%%")
            if entry.msgid_plural:  # Chinese has one form: the singular's key gives it
                entry.msgstr_plural = {0: text}
            else:
                entry.msgstr = text
            if "fuzzy" in entry.flags:
                entry.flags.remove("fuzzy")
                entry.previous_msgid = None
        else:
            if "fuzzy" in entry.flags:
                # msgmerge's guess from a similar string: never compiled, often wrong
                entry.flags.remove("fuzzy")
                entry.msgstr = ""
                if entry.msgid_plural:
                    entry.msgstr_plural = {0: ""}
                entry.previous_msgid = None
            if not (entry.msgstr or (entry.msgid_plural and entry.msgstr_plural.get(0))):
                missing.append(entry.msgid)
    catalogue.save(str(PO))
    for msgid in missing:
        print(f"untranslated: {msgid!r}")
    print(f"{len(catalogue) - len(missing)} of {len(catalogue)} strings translated")
    return 1 if missing and "--strict" in sys.argv else 0


if __name__ == "__main__":
    sys.exit(main())
