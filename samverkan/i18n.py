"""The language samverkan speaks to people: gettext catalogs made with babel's tooling.

Messages are written in English in the code and marked with :func:`_` (or :func:`ngettext`);
``make catalogs`` extracts them into ``samverkan/locale/samverkan.pot`` and updates each
language's ``.po``; the build compiles the ``.mo`` files beside them (``make`` does it
before every run). A test fails when a message has no Swedish translation.

The language is, first to last: ``--lang``, ``$SAMVERKAN_LANG``, the plan's ``locale:``
in config.yaml, and Swedish. English is the messages as written."""

from __future__ import annotations

import gettext
import os
import re
from pathlib import Path

DOMAIN = "samverkan"
LOCALE_DIR = Path(__file__).resolve().parent / "locale"
LANGUAGES = ("sv", "en")
DEFAULT = "sv"

_current: gettext.NullTranslations = gettext.NullTranslations()
_language = "en"


def set_language(language: str) -> str:
    """Speak ``language`` (``sv``, ``en``; ``sv_SE`` counts as ``sv``) from now on; returns
    the one chosen. An unknown language, or a catalog not compiled, is English."""
    global _current, _language
    lang = language.replace("-", "_").split("_")[0].lower()
    if lang not in LANGUAGES:
        lang = "en"
    _current = gettext.translation(DOMAIN, LOCALE_DIR, [lang], fallback=True)
    if isinstance(_current, gettext.NullTranslations) and type(_current) is gettext.NullTranslations \
            and lang != "en":
        _current = _from_po(lang)  # an install that skipped compiling the catalogs
    _language = lang
    return lang


def _from_po(lang: str) -> gettext.NullTranslations:
    """The catalog of ``lang`` compiled in memory from its .po, with babel as ``make`` does."""
    import io

    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    po = LOCALE_DIR / lang / "LC_MESSAGES" / f"{DOMAIN}.po"
    try:
        with po.open("rb") as f:
            catalog = read_po(f, locale=lang)
    except OSError:
        return gettext.NullTranslations()
    mo = io.BytesIO()
    write_mo(mo, catalog)
    mo.seek(0)
    return gettext.GNUTranslations(mo)


def language() -> str:
    return _language


def _(message: str) -> str:
    """``message`` in the current language."""
    return _current.gettext(message)


def N_(message: str) -> str:
    """Marks ``message`` for the catalogs where it is kept untranslated (a state's name),
    to be said with :func:`_` where it is shown."""
    return message


def ngettext(singular: str, plural: str, n: int) -> str:
    """The singular or plural of a message, for ``n``, in the current language."""
    return _current.ngettext(singular, plural, n)


_LOCALE_LINE = re.compile(r"^locale:\s*['\"]?([A-Za-z_-]+)", re.M)


def language_for(root: Path, explicit: str | None = None) -> str:
    """The language for a command run on the plan in ``root`` (see the module's notes).
    The plan's locale is read from config.yaml's text: a broken config must still be
    told of in the officer's language."""
    if explicit:
        return explicit
    env = os.environ.get("SAMVERKAN_LANG")
    if env:
        return env
    try:
        found = _LOCALE_LINE.search((root / "config.yaml").read_text(encoding="utf-8", errors="replace"))
    except OSError:
        found = None
    return found[1] if found else DEFAULT
