"""The plan texts the tests start from, and builders for their variations: config.yaml
texts, campaign files and whole plan folders.

Many tests assert an exact ``FILE:LINE:COL``: a change to a text or builder here that moves
a line moves their expectations too, so run the whole suite after any edit.
"""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Callable, Sequence
from zoneinfo import ZoneInfo

# The checkout: its config.yaml, campaigns/ and content/ are the bundled sample plan.
REPO = Path(__file__).resolve().parents[2]
TZ = ZoneInfo("Europe/Stockholm")  # the timezone of every plan below
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32


def dedent(text: str) -> str:
    return textwrap.dedent(text).lstrip("\n")


# --- config.yaml -----------------------------------------------------------------------------

# Two parties, two priority areas, one basis and one channel (rss): what make_root writes
# unless told otherwise.
MINIMAL_CONFIG = """\
agreement:
  title: Testöverenskommelse
  period: {start: 2018-01-01, end: 2018-12-31}
  parties:
    kommunen:
      name: Testkommun
      short_name: Kommunen
      press_contact: {name: Kim Kommun, title: Presschef, phone: "+46 1", email: press@kommun.example}
    polisen:
      name: Polisen Test
      short_name: Polisen
      press_contact: {name: Pat Polis, title: Kommunpolis, phone: "+46 2", email: press@polisen.example}
  priority_areas:
    trafik: Trafiksäkerhet
    brand: Brandskydd
  bases:
    lupp: LUPP
timezone: Europe/Stockholm
approval: []
channels:
  webb:
    publisher: rss
    output: public/feed.xml
    title: Nyheter
    link: https://kommun.example/trygghet
    self_url: https://kommun.example/trygghet/feed.xml
    description: Gemensamma nyheter
defaults:
  channels: [webb]
"""

# A channel of the notebook plugin (tests/helpers/plugin.py), for with_channels.
NOTEBOOK_CHANNEL = """\
  notes:
    publisher: notebook
    path: out/notes.jsonl
"""


def with_channels(*channels: str, tail: str = "", config: str = MINIMAL_CONFIG) -> str:
    """``config`` with ``channels`` (YAML lines indented as under channels:, or top-level
    keys from column 0) written just before its ``defaults:``, and ``tail`` at its end."""
    return config.replace("defaults:", "".join(channels) + "defaults:") + tail


# --- campaign files --------------------------------------------------------------------------


def message(key: str = "start", at: str = "2018-08-13 07:30", title: str = "Nu börjar skolan",
            body: str = "Sänk farten vid skolorna.", *, repeat: str | None = None,
            channels: str | None = None) -> str:
    """One item of a campaign's ``messages:`` list, as YAML."""
    lines = [f"  - key: {key}", f"    at: {at}"]
    if repeat is not None:
        lines.append(f"    repeat: {repeat}")
    if channels is not None:
        lines.append(f"    channels: {channels}")
    lines += [f"    title: {title}", f"    body: {body}"]
    return "\n".join(lines) + "\n"


def event(title: str, start: str, end: str | None = None, location: str | None = None) -> str:
    """One item of a campaign's ``events:`` list, as YAML."""
    lines = [f"  - title: {title}", f"    start: {start}"]
    if end is not None:
        lines.append(f"    end: {end}")
    if location is not None:
        lines.append(f"    location: {location}")
    return "\n".join(lines) + "\n"


def campaign(*messages: str, kind: str | None = None, title: str = "Säker skolstart",
             summary: str = "Trafiken runt skolorna.", priority_areas: str = "[trafik]",
             bases: str | None = "[lupp]", period: tuple[str, str] = ("2018-08-13", "2018-09-09"),
             events: Sequence[str] = ()) -> str:
    """A campaign file with ``messages`` (from message(); one default message if none) and
    ``events`` (from event()). ``bases=None`` leaves out the bases line."""
    lines = [f"kind: {kind}"] if kind is not None else []
    lines += [f"title: {title}", f"summary: {summary}", f"priority_areas: {priority_areas}"]
    if bases is not None:
        lines.append(f"bases: {bases}")
    lines.append(f"period: {{start: {period[0]}, end: {period[1]}}}")
    text = "\n".join(lines) + "\n"
    if events:
        text += "events:\n" + "".join(events)
    return text + "messages:\n" + "".join(messages or (message(),))


# --- the full plan: every built-in publisher, for rendering, checks and preview ---------------

# A plan with one channel of each built-in publisher (two Facebook pages), logos, an image
# and a press list.
FULL_CONFIG = """\
agreement:
  title: Testöverenskommelse om samverkan
  period: {start: 2018-01-01, end: 2018-12-31}
  parties:
    kommunen:
      name: Testkommun
      short_name: Kommunen
      logo: content/logo-kommunen.png
      press_contact: {name: Kim Kommun, title: Presschef, phone: "+46 1", email: press@kommun.example}
    polisen:
      name: Polisen Test
      short_name: Polisen
      logo: content/logo-polisen.png
      press_contact: {name: Pat Polis, title: Kommunpolis, phone: "+46 2", email: press@polisen.example}
  priority_areas:
    trafik: Trafiksäkerhet
timezone: Europe/Stockholm
approval: []
channels:
  webb:
    publisher: rss
    output: public/feed.xml
    title: Nyheter
    link: https://kommun.example/trygghet
    self_url: https://kommun.example/trygghet/feed.xml
    description: Gemensamma nyheter
  fb-kommunen:
    publisher: facebook
    page_id: "101"
    outbox: outbox/fb-kommunen
  fb-polisen:
    publisher: facebook
    page_id: "202"
    outbox: outbox/fb-polisen
  press:
    publisher: mailer
    from: "Trygg i Test <trygghet@kommun.example>"
    recipients: content/press.csv
    outbox: outbox/press
defaults:
  channels: [webb, fb-kommunen, fb-polisen, press]
"""

# Its campaign: an event, and one message with a link, an image and a Markdown body.
FULL_CAMPAIGN = """\
title: Säker skolstart
summary: Trafiken runt skolorna.
priority_areas: [trafik]
period: {start: 2018-08-13, end: 2018-09-09}
events:
  - title: Föräldraträff om trafiken
    start: 2018-08-22 18:00
    end: 2018-08-22 19:30
    location: Aulan
messages:
  - key: start
    at: 2018-08-13 07:30
    title: Nu börjar skolan
    link: https://kommun.example/skolstart
    image: {path: content/bild.png, alt: Ett övergångsställe}
    body: |
      Sänk farten nära skolor.

      - Öva skolvägen.
      - Använd [reflex](https://kommun.example/reflex).
"""


def with_message_keys(text: str) -> str:
    """FULL_CAMPAIGN with ``text`` (YAML, written from column 0) added to its message."""
    return FULL_CAMPAIGN + textwrap.indent(dedent(text), "    ")


def full_root(make_root: Callable[..., Path], campaigns: dict[str, str] | None = None,
              templates: dict[str, str] | None = None, config: str = FULL_CONFIG) -> Path:
    """A plan folder with FULL_CONFIG (or ``config``), its logos, image and press list,
    FULL_CAMPAIGN as skolstart unless ``campaigns`` are given, and ``templates`` written
    under content/templates/."""
    root = make_root(config=config, campaigns=campaigns if campaigns is not None else {"skolstart": FULL_CAMPAIGN})
    content = root / "content"
    content.mkdir(exist_ok=True)
    for name in ("logo-kommunen.png", "logo-polisen.png", "bild.png"):
        (content / name).write_bytes(PNG)
    (content / "press.csv").write_text("name,email,outlet\nLena Berg,lena@tidning.example,Tidningen\n", encoding="utf-8")
    for name, text in (templates or {}).items():
        path = content / "templates" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(dedent(text), encoding="utf-8")
    return root


# --- the broken-input corpus (tests/test_loading_errors.py, tests/test_cli.py) ----------------
# Each case starts from this valid plan and changes one thing; the comments give the line
# numbers, for reading the expected positions.

CORPUS_CONFIG = """\
agreement:
  title: Testöverenskommelse
  period: {start: 2018-01-01, end: 2018-12-31}
  parties:
    kommunen:
      name: Testkommun
      short_name: Kommunen
    polisen:
      name: Polisen Test
      short_name: Polisen
  priority_areas:
    trafik: Trafiksäkerhet
    brand: Brandskydd
  bases:
    lupp: LUPP
    trygghet: Trygghetsundersökning
  min_campaigns_per_year: 1
timezone: Europe/Stockholm
catch_up: 6h
approval: [kommunen, polisen]
channels:
  webb:
    publisher: rss
    output: public/feed.xml
    title: Nyheter
    link: https://kommun.example/trygghet
    self_url: https://kommun.example/trygghet/feed.xml
    description: Gemensamma nyheter
  facebook-polisen:
    publisher: facebook
    page_id: "112386409275163"
    token: ${FB_TOKEN_POLISEN}
  press:
    publisher: mailer
    from: press@kommun.example
    recipients: content/presslista.csv
    password: ${SMTP_PASSWORD}
defaults:
  channels: [webb, facebook-polisen]
"""
#  1 agreement:                 18 timezone:              29   facebook-polisen:
#  3   period:                  19 catch_up:              31     page_id:
#  4   parties:                 20 approval:              32     token:
#  5     kommunen:              21 channels:              33   press:
#  7       short_name:          22   webb:                37     password:
# 11   priority_areas:          23     publisher: rss     38 defaults:
# 14   bases:                   24     output:            39   channels:
# 17   min_campaigns_per_year:

CORPUS_CAMPAIGN = """\
title: Säker skolstart
summary: Trafiken runt skolorna.
priority_areas: [trafik]
bases: [lupp]
period: {start: 2018-08-13, end: 2018-09-09}
events:
  - title: Föräldraträff
    start: 2018-08-22 18:00
    end: 2018-08-22 19:30
    location: Aulan
messages:
  - key: start
    at: 2018-08-13 07:30
    channels: [webb, press]
    title: Nu börjar skolan
    body: Sänk farten.
"""
#  1 title:            6 events:            11 messages:
#  3 priority_areas:   7   - title:         12   - key: start
#  4 bases:            8     start:         13     at:
#  5 period:           9     end:           14     channels:
#                     10     location:      15     title:   16 body:


def edit(text: str, old: str, new: str) -> str:
    """``text`` with ``old`` replaced once; fails loudly if ``old`` is not there, so a
    change to the base files cannot silently turn a case into a no-op."""
    assert text.count(old) == 1, f"{old!r} must occur exactly once"
    return text.replace(old, new)


def camp(old: str, new: str) -> str:
    """CORPUS_CAMPAIGN with one edit."""
    return edit(CORPUS_CAMPAIGN, old, new)


def conf(old: str, new: str) -> str:
    """CORPUS_CONFIG with one edit."""
    return edit(CORPUS_CONFIG, old, new)
