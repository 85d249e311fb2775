"""The console's texts: gettext catalogs (``locale/<language>/*.po``), read with Babel.

Templates call ``_("id", **values)``; the message id is the msgid, the text its msgstr, with
``{name}`` fields filled in. Each page module keeps its own catalog file (core.po for sign-in and
the layout, bulletins.po, admin.po, …); a language is a folder of them, chosen by
``HUB_CONSOLE_LANGUAGE``, and Vietnamese is the default and the fallback for any missing text. A
message id with no text anywhere shows as itself, so a gap is visible, never a crash.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from babel.messages.pofile import read_po

LOCALE = Path(__file__).parent / "locale"
DEFAULT = "vi"


@lru_cache(maxsize=None)
def catalog(language: str) -> dict[str, str]:
    """Every text of one language, from all its .po files (empty for an unknown language)."""
    folder = LOCALE / language
    texts: dict[str, str] = {}
    if not folder.is_dir() or not language.replace("_", "").isalnum():
        return texts
    for path in sorted(folder.glob("*.po")):
        with path.open("rb") as handle:
            for message in read_po(handle, locale=language):
                if message.id and message.string and not message.fuzzy:
                    texts.setdefault(str(message.id), str(message.string))
    return texts


def translator(language: str = DEFAULT):
    """``_(message_id, **values)`` for one language (Vietnamese where it has no text)."""
    table, fallback = catalog(language), catalog(DEFAULT)

    def _(message_id: str, **values: object) -> str:
        text = table.get(message_id) or fallback.get(message_id) or message_id
        return text.format(**values) if values else text

    return _
