"""Russian ships complete: every source string is translated, and the compiled catalogue matches."""

from __future__ import annotations

import gettext
import re
from pathlib import Path

import pytest

LOCALE = Path(__file__).resolve().parent.parent / "locale" / "ru" / "LC_MESSAGES"
_STRING = re.compile(r'"((?:[^"\\]|\\.)*)"')


def _entries(po: str) -> list[dict[str, str]]:
    entries = []
    for block in po.strip().split("\n\n"):
        entry: dict[str, str] = {"flags": ""}
        key = None
        for line in block.splitlines():
            if line.startswith("#,"):
                entry["flags"] = line
            elif line.startswith("#"):
                continue
            elif line.startswith('"') and key:
                entry[key] += _STRING.findall(line)[0]
            else:
                key, _, rest = line.partition(" ")
                entry[key] = _STRING.findall(rest)[0] if _STRING.findall(rest) else ""
        entries.append(entry)
    return [e for e in entries if e.get("msgid")]  # the header has an empty msgid


ENTRIES = _entries((LOCALE / "django.po").read_text(encoding="utf-8"))


def test_the_catalogue_has_the_portals_strings() -> None:
    assert len(ENTRIES) > 200


@pytest.mark.parametrize("entry", ENTRIES, ids=lambda e: e["msgid"][:40])
def test_every_string_is_translated_and_not_fuzzy(entry: dict[str, str]) -> None:
    assert "fuzzy" not in entry["flags"]
    translations = [value for key, value in entry.items() if key.startswith("msgstr")]
    assert translations and all(translations)
    placeholders = set(re.findall(r"%\(\w+\)[sdr]", entry["msgid"]))
    for value in translations:
        assert set(re.findall(r"%\(\w+\)[sdr]", value)) <= placeholders | {"%(count)d"}


def test_the_compiled_catalogue_is_up_to_date() -> None:
    with (LOCALE / "django.mo").open("rb") as file:
        compiled = gettext.GNUTranslations(file)
    for entry in ENTRIES:
        msgid = entry["msgid"].encode().decode("unicode_escape").encode("latin-1").decode("utf-8")
        if "msgid_plural" in entry or "msgctxt" in entry:
            continue
        expected = entry["msgstr"].encode().decode("unicode_escape").encode("latin-1").decode("utf-8")
        assert compiled.gettext(msgid) == expected, msgid
