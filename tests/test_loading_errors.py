"""The broken-input corpus of issue 2: every kind of mistake an officer can make in
config.yaml or a campaign file, each with the exact ``FILE:LINE:COL: severity: message``
samverkan must print for it.

Each case starts from a valid plan (CORPUS_CONFIG and CORPUS_CAMPAIGN in
tests/helpers/plans.py; their line numbers are in the comments there) and changes one
thing. The loading layer is asserted, not ``validate``, so the content checks that render
messages do not add lines here; tests/test_cli.py runs the whole command.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import pytest

from samverkan.loading import load_project
from tests.helpers.plans import CORPUS_CAMPAIGN, CORPUS_CONFIG, camp, conf, edit

# A spring period, for the DST cases: the clocks go forward 2018-03-25, back 2018-10-28.
SPRING_AND_AUTUMN = "period: {start: 2018-03-01, end: 2018-11-30}"


def add_to_message(lines: str) -> str:
    """CORPUS_CAMPAIGN with ``lines`` added at the end of its message (from line 17)."""
    return CORPUS_CAMPAIGN + lines


@dataclass
class Case:
    id: str
    expected: list[str]
    campaign: str | bytes | None = CORPUS_CAMPAIGN
    config: str | bytes = CORPUS_CONFIG
    name: str = "skolstart"  # the campaign's file name without .yaml
    extra: dict[str, str] = field(default_factory=dict)


C = "campaigns/skolstart.yaml"
K = "config.yaml"

CASES = [
    # --- the mistakes people make with YAML's own syntax ---------------------------------
    Case("comma-in-flow-mapping", [
        f"{C}:7:82: error: unknown key 'Hultsfred': the comma in {{ }} cut location: Kulturhuset Rosen, Hultsfred "
        'in two; put the whole value in quotes: location: "Kulturhuset Rosen, Hultsfred"',
    ], camp("  - title: Föräldraträff\n    start: 2018-08-22 18:00\n    end: 2018-08-22 19:30\n    location: Aulan\n",
            "  - {title: Föräldraträff, start: 2018-08-22 18:00, location: Kulturhuset Rosen, Hultsfred}\n")),
    Case("image-as-a-path", [
        f"{C}:17:12: error: image: write the image with its alt text: "
        "image: {path: content/images/x.png, alt: what the picture shows}",
    ], add_to_message("    image: content/images/x.png\n")),
    Case("title-starting-with-hash", [
        f"{C}:15:11: error: title: expected text, got nothing; if the text starts with '#', YAML took it for a "
        "comment: put the text in quotes",
    ], camp("title: Nu börjar skolan", "title: #1 Nu börjar skolan")),
    Case("title-starting-with-dash", [
        f"{C}:15:12: error: YAML syntax: a value that starts with '- ' is read as a list item; put the value in quotes",
    ], camp("    title: Nu börjar skolan", "    title: - Nu börjar skolan")),
    Case("one-digit-hour-is-read-as-two", [], camp("at: 2018-08-13 07:30", "at: 2018-08-13 7:30")),
    Case("title-as-a-list", [
        f"{C}:16:7: error: title: expected text, got a list; a text that starts with '- ' is a list in YAML: "
        "put the text in quotes",
    ], camp("    title: Nu börjar skolan", "    title:\n      - Nu börjar skolan")),
    # --- YAML syntax --------------------------------------------------------------------
    Case("syntax-indent-list-item", [
        f"{C}:15:4: error: YAML syntax: this line does not line up with the list that starts on line 12; check its indentation",
    ], camp("    title: Nu", "   title: Nu")),
    Case("syntax-indent-top-key", [
        f"{C}:2:10: error: YAML syntax: unexpected ':' here; check the indentation of this line, or put the value in quotes if it contains ': '",
    ], camp("summary: Trafiken", "  summary: Trafiken")),
    Case("syntax-colon-in-plain-value", [
        f"{C}:15:15: error: YAML syntax: unexpected ':' here; check the indentation of this line, or put the value in quotes if it contains ': '",
    ], camp("title: Nu börjar skolan", "title: Obs: skolan")),
    Case("syntax-unclosed-list", [
        f"{C}:3:17: error: YAML syntax: the list opened with '[' here is not closed; add ']' (and quote items that contain ',', ':' or '#')",
    ], camp("[trafik]", "[trafik")),
    Case("syntax-unclosed-mapping", [
        f"{C}:5:9: error: YAML syntax: the mapping opened with '{{' here is not closed; add '}}' (and quote values that contain ',', ':' or '#')",
    ], camp("end: 2018-09-09}", "end: 2018-09-09")),
    Case("syntax-tab-indent", [
        f"{C}:15:1: error: YAML syntax: a tab character in the indentation; indent with spaces only",
    ], camp("    title: Nu", "\ttitle: Nu")),
    Case("syntax-tab-before-list-item", [
        f"{C}:12:1: error: YAML syntax: a tab character in the indentation; indent with spaces only",
    ], camp("  - key: start", "\t- key: start")),
    Case("syntax-unclosed-quote", [
        f'{C}:1:8: error: YAML syntax: the quoted text that starts here is never closed; add the closing "',
    ], camp("title: Säker skolstart", 'title: "Säker skolstart')),
    Case("syntax-text-after-quote", [
        f"{C}:15:24: error: YAML syntax: unexpected text after the value; if the value starts with a quote, quote all of it",
    ], camp("title: Nu börjar skolan", "title: 'Nu börjar' skolan")),
    Case("syntax-value-starts-with-at", [
        f"{C}:15:12: error: YAML syntax: a value cannot start with '@'; put the value in quotes",
    ], camp("title: Nu börjar skolan", "title: @polisen tipsar")),
    Case("syntax-double-comma", [
        f"{C}:4:15: error: YAML syntax: expected a value here; remove the extra ',' or put the value in quotes",
    ], camp("bases: [lupp]", "bases: [lupp, , trygghet]")),
    Case("syntax-line-without-colon", [
        f"{C}:2:1: error: YAML syntax: expected 'key: value' on this line; add the ':' after the key",
    ], camp("summary: Trafiken", "summary Trafiken")),
    Case("syntax-two-documents", [
        f"{C}:17:1: error: YAML syntax: a second document ('---') in the file; keep one document per file",
    ], CORPUS_CAMPAIGN + "---\ntitle: Igen\n"),
    Case("syntax-in-config", [
        f"{K}:20:11: error: YAML syntax: the list opened with '[' here is not closed; add ']' (and quote items that contain ',', ':' or '#')",
    ], config=conf("approval: [kommunen, polisen]", "approval: [kommunen, polisen")),
    # --- file level ---------------------------------------------------------------------
    Case("not-utf8", [
        f"{C}:1:9: error: the file is not UTF-8 text (byte 0xe4 cannot be read); save it as UTF-8",
    ], CORPUS_CAMPAIGN.encode("latin-1")),
    Case("empty-campaign", [
        f"{C}:1:1: error: the campaign file is empty; a campaign needs title, summary, priority_areas, period and messages",
    ], "# nothing yet\n"),
    Case("empty-config", [
        f"{K}:1:1: error: config.yaml is empty; it needs at least agreement: (see the sample config.yaml)",
    ], config=""),
    Case("top-level-list", [
        f"{C}:1:1: error: expected a mapping of keys and values (key: value lines) at the top of the file",
    ], "- title: Säker skolstart\n- summary: Trafiken\n"),
    Case("bad-campaign-file-name", [
        "campaigns/Skolstart 2018.yaml:1:1: error: 'Skolstart 2018' is not a valid campaign key (the file name without .yaml); "
        "rename the file using lowercase letters a-z, digits, '-' and '_'",
    ], name="Skolstart 2018"),
    Case("bad-message-key", [
        f"{C}:12:10: error: key: 'Start!' is not a valid key; use lowercase letters a-z, digits, '-' and '_'",
    ], camp("key: start", "key: Start!")),
    Case("bad-channel-name", [
        f"{K}:22:3: error: channels: 'Webb Kanal' is not a valid key; use lowercase letters a-z, digits, '-' and '_'",
    ], config=conf("  webb:\n", "  Webb Kanal:\n")),
    # --- duplicate keys -----------------------------------------------------------------
    Case("duplicate-top-level-campaign", [
        f"{C}:17:1: error: duplicate key 'title' (first given on line 1); keep one",
    ], CORPUS_CAMPAIGN + "title: Igen\n"),
    Case("duplicate-nested-campaign", [
        f"{C}:17:5: error: duplicate key 'title' (first given on line 15); keep one",
    ], add_to_message("    title: Igen\n")),
    Case("duplicate-top-level-config", [
        f"{K}:40:1: error: duplicate key 'timezone' (first given on line 18); keep one",
    ], config=CORPUS_CONFIG + "timezone: UTC\n"),
    Case("duplicate-nested-config", [
        f"{K}:16:5: error: duplicate key 'lupp' (first given on line 15); keep one",
    ], config=conf("    trygghet: Trygghetsundersökning", "    lupp: LUPP igen")),
    Case("duplicate-key-does-not-hide-other-errors", [
        f"{C}:3:18: error: unknown priority area 'trafk'; did you mean 'trafik'? (known: trafik, brand)",
        f"{C}:17:1: error: duplicate key 'bases' (first given on line 4); keep one",
    ], camp("[trafik]", "[trafk]") + "bases: [lupp]\n"),
    Case("duplicate-message-key", [
        f"{C}:17:10: error: key: message key 'start' is used twice in this file (first on line 12)",
    ], add_to_message("  - key: start\n    at: 2018-08-14 07:30\n    title: Igen\n    body: Igen.\n")),
    # --- wrong types --------------------------------------------------------------------
    Case("text-for-list", [
        f"{C}:3:17: error: priority_areas: expected a list such as [a, b], got 'trafik'; write [trafik]",
    ], camp("[trafik]", "trafik")),
    Case("list-for-mapping", [
        f"{C}:5:9: error: period: expected a mapping of keys and values, got a list",
    ], camp("{start: 2018-08-13, end: 2018-09-09}", "[2018-08-13, 2018-09-09]")),
    Case("text-for-int-in-config", [
        f"{K}:17:27: error: min_campaigns_per_year: expected a whole number, got 'fyra'",
    ], config=conf("min_campaigns_per_year: 1", "min_campaigns_per_year: fyra")),
    Case("text-for-int-in-repeat", [
        f"{C}:17:32: error: count: expected a whole number, got 'many'",
    ], add_to_message("    repeat: {every: 7d, count: many}\n")),
    Case("bool-for-text", [
        f"{C}:15:12: error: title: expected text, got true/false; put the value in quotes",
    ], camp("title: Nu börjar skolan", "title: yes")),
    Case("bool-for-int", [
        f"{C}:17:32: error: count: expected a whole number, got true/false",
    ], add_to_message("    repeat: {every: 7d, count: yes}\n")),
    Case("number-for-text-in-channel-setting", [
        f"{K}:31:14: error: channel facebook-polisen: page_id: expected text, got the number 112386409275163; put the value in quotes",
    ], config=conf('page_id: "112386409275163"', "page_id: 112386409275163")),
    Case("several-missing-keys-one-line", [
        f"{C}:12:5: error: missing keys 'title' and 'body'",
    ], camp("    title: Nu börjar skolan\n    body: Sänk farten.\n", "")),
    Case("empty-message-list", [
        f"{C}:11:11: error: messages: needs at least 1 item",
    ], CORPUS_CAMPAIGN.split("messages:")[0] + "messages: []\n"),
    # --- unknown keys -------------------------------------------------------------------
    Case("unknown-key-top-level", [
        f"{C}:17:1: error: unknown key 'partnrs'; did you mean 'partners'?",
    ], CORPUS_CAMPAIGN + "partnrs: [frg]\n"),
    Case("unknown-key-in-message-said-once", [
        f"{C}:15:5: error: unknown key 'titel'; did you mean 'title'?",
    ], camp("    title: Nu", "    titel: Nu")),
    Case("unknown-key-in-event", [
        f"{C}:10:5: error: unknown key 'locaton'; did you mean 'location'?",
    ], camp("location: Aulan", "locaton: Aulan")),
    Case("unknown-key-in-image-lists-allowed", [
        f"{C}:17:34: error: unknown key 'alt_text'; keys allowed here: path, alt",
    ], add_to_message("    image: {path: content/x.jpg, alt_text: Barn}\n")),
    Case("unknown-key-in-repeat", [
        f"{C}:17:25: error: unknown key 'untill'; did you mean 'until'?",
    ], add_to_message("    repeat: {every: 7d, untill: 2018-09-09}\n")),
    Case("unknown-key-in-agreement", [
        f"{K}:14:3: error: unknown key 'base'; did you mean 'bases'?",
    ], config=conf("  bases:\n", "  base:\n")),
    Case("unknown-key-in-party", [
        f"{K}:7:7: error: unknown key 'shortname'; did you mean 'short_name'?",
    ], config=conf("      short_name: Kommunen", "      shortname: Kommunen")),
    Case("unknown-key-in-channel-settings", [
        f"{K}:28:5: error: channel webb: unknown key 'descripton'; did you mean 'description'?",
    ], config=conf("    description: Gemensamma", "    descripton: Gemensamma")),
    # --- unknown references -------------------------------------------------------------
    Case("unknown-priority-area", [
        f"{C}:3:18: error: unknown priority area 'trafk'; did you mean 'trafik'? (known: trafik, brand)",
    ], camp("[trafik]", "[trafk]")),
    Case("unknown-basis", [
        f"{C}:4:9: error: unknown basis 'lup'; did you mean 'lupp'? (known: lupp, trygghet)",
    ], camp("[lupp]", "[lup]")),
    Case("unknown-party", [
        f"{C}:17:21: error: unknown party 'polis'; did you mean 'polisen'? (known: kommunen, polisen)",
    ], CORPUS_CAMPAIGN + "parties: [kommunen, polis]\n"),
    Case("unknown-channel", [
        f"{C}:14:22: error: unknown channel 'pres'; did you mean 'press'? (known: webb, facebook-polisen, press)",
    ], camp("[webb, press]", "[webb, pres]")),
    Case("unknown-channel-in-config-defaults", [
        f"{K}:39:20: error: defaults: unknown channel 'facebook-polis'; did you mean 'facebook-polisen'? (known: webb, facebook-polisen, press)",
    ], config=conf("[webb, facebook-polisen]", "[webb, facebook-polis]")),
    Case("unknown-party-in-config-approval", [
        f"{K}:20:22: error: approval: unknown party 'polis'; did you mean 'polisen'? (known: kommunen, polisen)",
    ], config=conf("approval: [kommunen, polisen]", "approval: [kommunen, polis]")),
    Case("unknown-override-target", [
        f"{C}:18:7: error: overrides: 'facebok' is neither a channel nor a publisher in config.yaml; did you mean 'facebook'? "
        "(channels: webb, facebook-polisen, press; publishers: facebook, mailer, rss)",
    ], add_to_message("    overrides:\n      facebok: {body: Kort text.}\n")),
    Case("missing-image-file", [
        f"{C}:17:19: error: path: no image file 'content/images/saknas.jpg' (paths are relative to the folder of config.yaml)",
    ], add_to_message("    image: {path: content/images/saknas.jpg, alt: Barn vid ett övergångsställe}\n")),
    Case("missing-party-logo-file", [
        f"{K}:8:13: error: logo: no image file 'content/logo.png' (paths are relative to the folder of config.yaml)",
    ], config=conf("      short_name: Kommunen\n", "      short_name: Kommunen\n      logo: content/logo.png\n")),
    # --- dates and periods --------------------------------------------------------------
    Case("invalid-date", [
        f"{C}:5:17: error: start: '2018-02-30' is not a valid date; write it as YYYY-MM-DD",
    ], camp("start: 2018-08-13,", "start: 2018-02-30,")),
    Case("invalid-datetime", [
        f"{C}:13:9: error: at: '2018-08-13 25:30' is not a valid date and time; write it as YYYY-MM-DD HH:MM",
    ], camp("at: 2018-08-13 07:30", "at: 2018-08-13 25:30")),
    Case("datetime-without-time", [
        f"{C}:13:9: error: at: '2018-08-13' has no time of day; write it as YYYY-MM-DD HH:MM",
    ], camp("at: 2018-08-13 07:30", "at: 2018-08-13")),
    Case("time-without-date-is-not-a-number", [
        f"{C}:13:9: error: at: '7:30' is not a valid date and time; write it as YYYY-MM-DD HH:MM",
    ], camp("at: 2018-08-13 07:30", "at: 7:30")),
    Case("datetime-with-offset", [
        f"{C}:13:9: error: at: give the local time without a UTC offset; times are read in config.yaml's timezone",
    ], camp("at: 2018-08-13 07:30", "at: 2018-08-13T07:30:00+02:00")),
    Case("message-outside-campaign-period", [
        f"{C}:13:9: error: at: 2018-09-13 07:30 is outside the campaign's period 2018-08-13 – 2018-09-09",
    ], camp("at: 2018-08-13 07:30", "at: 2018-09-13 07:30")),
    Case("campaign-period-outside-agreement", [
        f"{C}:5:9: error: period: 2018-08-13 – 2019-01-09 is outside the agreement's period 2018-01-01 – 2018-12-31",
    ], camp("end: 2018-09-09", "end: 2019-01-09")),
    Case("repeat-count-past-period", [
        f"{C}:17:32: error: count: 2 of 6 repeats fall after the campaign's period 2018-08-13 – 2018-09-09 (the first on 2018-09-10); lower count to 4",
    ], add_to_message("    repeat: {every: 7d, count: 6}\n")),
    Case("repeat-until-past-period", [
        f"{C}:17:32: error: until: 12 of 16 repeats fall after the campaign's period 2018-08-13 – 2018-09-09 (the first on 2018-09-10); set until to 2018-09-09 or earlier",
    ], add_to_message("    repeat: {every: 7d, until: 2018-12-01}\n")),
    Case("event-ends-before-start", [
        f"{C}:9:10: error: end: the event ends (2018-08-22 17:00) before it starts (2018-08-22 18:00); fix one of the times",
    ], camp("end: 2018-08-22 19:30", "end: 2018-08-22 17:00")),
    Case("period-ends-before-start", [
        f"{C}:5:34: error: end: the period ends on 2018-08-01, before it starts on 2018-08-13; fix one of the dates",
    ], camp("end: 2018-09-09", "end: 2018-08-01")),
    Case("agreement-period-ends-before-start", [
        f"{K}:3:36: error: end: the period ends on 2017-12-31, before it starts on 2018-01-01; fix one of the dates",
    ], config=conf("end: 2018-12-31", "end: 2017-12-31")),
    Case("event-outside-period-is-a-warning", [
        f"{C}:8:12: warning: start: the event on 2018-09-22 is outside the campaign's period 2018-08-13 – 2018-09-09",
    ], camp("start: 2018-08-22 18:00\n    end: 2018-08-22 19:30", "start: 2018-09-22 18:00\n    end: 2018-09-22 19:30")),
    # --- daylight saving time -----------------------------------------------------------
    Case("dst-nonexistent-time", [
        f"{C}:13:9: error: at: 2018-03-25 02:30 does not exist in Europe/Stockholm (the clocks go forward that night); pick another time, e.g. 03:00, the first after the change",
    ], edit(camp("period: {start: 2018-08-13, end: 2018-09-09}", SPRING_AND_AUTUMN), "at: 2018-08-13 07:30", "at: 2018-03-25 02:30")),
    Case("dst-ambiguous-time-warns", [
        f"{C}:13:9: warning: at: 2018-10-28 02:30 happens twice in Europe/Stockholm (the clocks go back that night); the earlier one is used",
    ], edit(camp("period: {start: 2018-08-13, end: 2018-09-09}", SPRING_AND_AUTUMN), "at: 2018-08-13 07:30", "at: 2018-10-28 02:30")),
    Case("dst-nonexistent-repeat", [
        f"{C}:17:13: error: repeat on 2018-03-25: 2018-03-25 02:30 does not exist in Europe/Stockholm (the clocks go forward that night); pick another time, e.g. 03:00, the first after the change",
    ], edit(camp("period: {start: 2018-08-13, end: 2018-09-09}", SPRING_AND_AUTUMN), "at: 2018-08-13 07:30", "at: 2018-03-11 02:30")
       + "    repeat: {every: 7d, count: 3}\n"),
    Case("dst-nonexistent-event-start", [
        f"{C}:8:12: error: start: 2018-03-25 02:30 does not exist in Europe/Stockholm (the clocks go forward that night); pick another time, e.g. 03:00, the first after the change",
    ], edit(camp("period: {start: 2018-08-13, end: 2018-09-09}", SPRING_AND_AUTUMN),
            "start: 2018-08-22 18:00\n    end: 2018-08-22 19:30", "start: 2018-03-25 02:30\n    end: 2018-03-25 04:00")),
    Case("dst-nonexistent-event-end", [
        f"{C}:9:10: error: end: 2018-03-25 02:30 does not exist in Europe/Stockholm (the clocks go forward that night); pick another time, e.g. 03:00, the first after the change",
    ], edit(camp("period: {start: 2018-08-13, end: 2018-09-09}", SPRING_AND_AUTUMN),
            "start: 2018-08-22 18:00\n    end: 2018-08-22 19:30", "start: 2018-03-25 01:30\n    end: 2018-03-25 02:30")),
    Case("dst-nonexistent-embargo", [
        f"{C}:17:14: error: embargo: 2018-03-25 02:30 does not exist in Europe/Stockholm (the clocks go forward that night); pick another time, e.g. 03:00, the first after the change",
    ], edit(camp("period: {start: 2018-08-13, end: 2018-09-09}", SPRING_AND_AUTUMN), "at: 2018-08-13 07:30", "at: 2018-03-24 09:00")
       + "    embargo: 2018-03-25 02:30\n"),
    # --- repeats ------------------------------------------------------------------------
    Case("repeat-bad-every", [
        f"{C}:17:21: error: every: '12h' is not a repeat interval; write whole days or weeks, e.g. 7d or 2w",
    ], add_to_message("    repeat: {every: 12h, count: 2}\n")),
    Case("repeat-until-and-count", [
        f"{C}:17:51: error: count: give either 'until' or 'count', not both; remove one",
    ], add_to_message("    repeat: {every: 7d, until: 2018-09-09, count: 2}\n")),
    Case("repeat-without-end", [
        f"{C}:17:13: error: repeat: say when the repeats stop: add until: YYYY-MM-DD or count: N",
    ], add_to_message("    repeat: {every: 7d}\n")),
    Case("repeat-count-zero", [
        f"{C}:17:32: error: count: must be at least 1, got 0",
    ], add_to_message("    repeat: {every: 7d, count: 0}\n")),
    # --- config: secrets, publishers, settings, time --------------------------------------
    Case("literal-facebook-token", [
        f"{K}:32:12: error: channel facebook-polisen: token: secrets are never written in YAML: put it in an environment variable and write ${{NAME}} here",
    ], config=conf("token: ${FB_TOKEN_POLISEN}", "token: EAABsbCS1iHgBAKZCZAZBZC")),
    Case("literal-mailer-password", [
        f"{K}:37:15: error: channel press: password: secrets are never written in YAML: put it in an environment variable and write ${{NAME}} here",
    ], config=conf("password: ${SMTP_PASSWORD}", "password: hemligt123")),
    Case("unknown-publisher", [
        f'{K}:23:16: error: channel webb: no publisher named "mastodon"; installed: <installed>',
    ], config=conf("publisher: rss", "publisher: mastodon")),
    Case("missing-channel-setting", [
        f"{K}:30:5: error: channel facebook-polisen: missing key 'page_id'",
    ], config=conf('    page_id: "112386409275163"\n', "")),
    Case("missing-publisher", [
        f"{K}:34:5: error: channel press: missing key 'publisher' (rss, facebook, mailer or an installed plugin)",
    ], config=conf("    publisher: mailer\n", "")),
    Case("bad-channel-setting-value", [
        f"{K}:37:15: error: channel press: security: 'ssl' is not allowed; use one of: 'starttls', 'tls' or 'none'",
    ], config=conf("    recipients: content/presslista.csv\n", "    recipients: content/presslista.csv\n    security: ssl\n")),
    Case("bad-timezone", [
        f"{K}:18:11: error: timezone: unknown time zone 'Europe/Stokholm'; did you mean 'Europe/Stockholm'?",
    ], config=conf("timezone: Europe/Stockholm", "timezone: Europe/Stokholm")),
    Case("bad-catch-up-duration", [
        f"{K}:19:11: error: catch_up: '6 timmar' is not a duration; write e.g. 30m, 6h, 7d or 2w",
    ], config=conf("catch_up: 6h", "catch_up: 6 timmar")),
]


def write_case(root: Path, case: Case) -> None:
    (root / "campaigns").mkdir(parents=True, exist_ok=True)
    (root / "content").mkdir(exist_ok=True)  # the press list CORPUS_CONFIG names must exist
    (root / "content" / "presslista.csv").write_text("name,email,outlet\nLena,lena@tidning.example,Tidningen\n", encoding="utf-8")
    for rel, content in {"config.yaml": case.config, f"campaigns/{case.name}.yaml": case.campaign, **case.extra}.items():
        if content is None:
            continue
        path = root / rel
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")


def loading_problems(root: Path) -> list[str]:
    project = load_project(root)
    return [str(p) for p in sorted(project.problems, key=lambda p: (p.file != "config.yaml", p.file, p.line, p.col, p.message))]


def test_the_base_plan_is_valid(tmp_path: Path) -> None:
    # Every case below differs from this plan by one edit, so its problems are that edit's.
    write_case(tmp_path, Case("base", []))
    assert loading_problems(tmp_path) == []
    assert list(load_project(tmp_path).campaigns) == ["skolstart"]


def test_the_corpus_is_large_enough() -> None:
    assert len(CASES) >= 25
    assert len({c.id for c in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_broken_input(tmp_path: Path, case: Case) -> None:
    from publishers.base import registry

    write_case(tmp_path, case)
    # the publishers installed here: the built-ins and any plugin a developer has installed
    installed = ", ".join(sorted(registry()))
    assert loading_problems(tmp_path) == [e.replace("<installed>", installed) for e in case.expected]


@pytest.mark.parametrize("case", [c for c in CASES if c.config is CORPUS_CONFIG], ids=[c.id for c in CASES if c.config is CORPUS_CONFIG])
def test_a_broken_campaign_is_not_in_the_plan(tmp_path: Path, case: Case) -> None:
    write_case(tmp_path, case)
    project = load_project(tmp_path)
    has_errors = any(" error: " in line for line in case.expected)
    assert (project.campaigns == {}) is has_errors
    assert (case.name in project.broken) is has_errors


# --- checks that go on in a file that fails its schema ---------------------------------


def test_a_campaign_failing_its_schema_still_gets_its_references_and_dates_checked(tmp_path: Path) -> None:
    text = (
        camp("[trafik]", "[trafk]").replace("messages:", "partnrs: [frg]\nmessages:")
        + "  - key: two\n    at: 2018-10-01 07:30\n    title: Två\n    body: Text.\n"
        + "  - key: three\n    titel: Tre\n"
    )
    write_case(tmp_path, Case("salvage", [], text))
    assert loading_problems(tmp_path) == [
        f"{C}:3:18: error: unknown priority area 'trafk'; did you mean 'trafik'? (known: trafik, brand)",
        f"{C}:11:1: error: unknown key 'partnrs'; did you mean 'partners'?",
        f"{C}:19:9: error: at: 2018-10-01 07:30 is outside the campaign's period 2018-08-13 – 2018-09-09",
        f"{C}:22:5: error: missing keys 'at' and 'body'",
        f"{C}:23:5: error: unknown key 'titel'; did you mean 'title'?",
    ]


def test_a_typo_in_config_does_not_hide_the_campaigns_errors(tmp_path: Path) -> None:
    write_case(tmp_path, Case("typo", [], camp("[trafik]", "[trafk]"), config=CORPUS_CONFIG + "catchup: 6h\n"))
    project = load_project(tmp_path)
    assert loading_problems(tmp_path) == [
        f"{K}:40:1: error: unknown key 'catchup'; did you mean 'catch_up'?",
        f"{C}:3:18: error: unknown priority area 'trafk'; did you mean 'trafik'? (known: trafik, brand)",
    ]
    assert project.config is None and project.campaigns == {}


def test_a_misspelt_config_key_is_read_as_meant_when_checking_campaigns(tmp_path: Path) -> None:
    # 'base:' read as 'bases:', else every basis a campaign cites would look unknown.
    write_case(tmp_path, Case("typo", [], config=conf("  bases:\n", "  base:\n")))
    assert loading_problems(tmp_path) == [f"{K}:14:3: error: unknown key 'base'; did you mean 'bases'?"]


def test_campaigns_are_checked_in_the_default_zone_when_the_timezone_is_unknown(tmp_path: Path) -> None:
    write_case(tmp_path, Case("tz", [], camp("at: 2018-08-13 07:30", "at: 2018-09-13 07:30"),
                              config=conf("timezone: Europe/Stockholm", "timezone: Mars/Olympus")))
    assert loading_problems(tmp_path) == [
        f"{K}:18:11: error: timezone: unknown time zone 'Mars/Olympus'; write e.g. Europe/Stockholm",
        f"{C}:13:9: error: at: 2018-09-13 07:30 is outside the campaign's period 2018-08-13 – 2018-09-09",
    ]


def test_a_config_broken_where_campaigns_look_reports_only_the_config(tmp_path: Path) -> None:
    # With the priority areas unreadable, checking the campaign's areas would only mislead.
    write_case(tmp_path, Case("areas", [], camp("[trafik]", "[trafk]"),
                              config=conf("  priority_areas:\n    trafik: Trafiksäkerhet\n    brand: Brandskydd\n",
                                          "  priority_areas: [trafik, brand]\n")))
    assert loading_problems(tmp_path) == [
        f"{K}:11:19: error: priority_areas: expected a mapping of keys and values, got a list",
    ]


def test_errors_of_several_files_are_all_reported_sorted_by_file_and_line(
    make_root: Callable[..., Path],
) -> None:
    root = make_root(
        config=conf("catch_up: 6h", "catch_up: 6 timmar"),
        campaigns={
            "b-vatten": camp("[lupp]", "[lup]") + "partnrs: [frg]\n",
            "a-brand": camp("title: Nu börjar skolan", "title: 'Nu börjar' skolan"),
            "c-jul": camp("[trafik]", "[trafk]"),
            "d-ok": CORPUS_CAMPAIGN,
        },
    )
    assert loading_problems(root) == [
        f"{K}:19:11: error: catch_up: '6 timmar' is not a duration; write e.g. 30m, 6h, 7d or 2w",
        "campaigns/a-brand.yaml:15:24: error: YAML syntax: unexpected text after the value; if the value starts with a quote, quote all of it",
        "campaigns/b-vatten.yaml:4:9: error: unknown basis 'lup'; did you mean 'lupp'? (known: lupp, trygghet)",
        "campaigns/b-vatten.yaml:17:1: error: unknown key 'partnrs'; did you mean 'partners'?",
        "campaigns/c-jul.yaml:3:18: error: unknown priority area 'trafk'; did you mean 'trafik'? (known: trafik, brand)",
    ]


def test_one_broken_campaign_does_not_hide_another(make_root: Callable[..., Path]) -> None:
    root = make_root(config=CORPUS_CONFIG, campaigns={"a": "title: [\n", "b": camp("[lupp]", "[lup]"), "c": CORPUS_CAMPAIGN})
    project = load_project(root)
    assert loading_problems(root) == [
        "campaigns/a.yaml:2:1: error: YAML syntax: the file ends inside a list '[' or a mapping '{'; close it with ']' or '}'",
        "campaigns/b.yaml:4:9: error: unknown basis 'lup'; did you mean 'lupp'? (known: lupp, trygghet)",
    ]
    assert sorted(project.broken) == ["a", "b"]
    assert list(project.campaigns) == ["c"]


def test_wall_times_are_told_apart_as_a_round_trip_through_utc_tells_them() -> None:
    """localize answers most wall times from their two folds' offsets alone; a time the
    clocks skip must still be one whose round trip through UTC changes it, and one they
    pass twice one whose offsets differ, in zones that move by an hour, half an hour or a day."""
    from datetime import datetime, timedelta, timezone
    from zoneinfo import ZoneInfo

    from samverkan.timeutil import WallTime, localize

    seen = set()
    for zone in ("Europe/Stockholm", "Australia/Lord_Howe", "Pacific/Apia"):
        tz = ZoneInfo(zone)
        t, end = datetime(2011, 1, 1), datetime(2012, 1, 1)
        while t < end:
            aware, status = localize(t, tz)
            assert aware == t.replace(tzinfo=tz, fold=0) and aware.fold == 0
            if aware.astimezone(timezone.utc).astimezone(tz).replace(tzinfo=None) != t:
                expected = WallTime.NONEXISTENT
            elif aware.utcoffset() != t.replace(tzinfo=tz, fold=1).utcoffset():
                expected = WallTime.AMBIGUOUS
            else:
                expected = WallTime.OK
            assert status is expected, (zone, t)
            seen.add(status)
            t += timedelta(minutes=30)
    assert seen == set(WallTime)


def test_a_one_digit_hour_is_the_time_people_mean(tmp_path: Path) -> None:
    write_case(tmp_path, Case("one-digit", [], camp("at: 2018-08-13 07:30", "at: 2018-08-13 7:30")))
    message = load_project(tmp_path).campaigns["skolstart"].messages[0]
    assert message.times[0][0].strftime("%H:%M") == "07:30"


@pytest.mark.parametrize(("alt", "why"), [("bild", "only names it as a picture"), ("Image.", "only names it as a picture"),
                                          ("skolstart.png", "is a file name"), ("IMG_2041.JPG", "is a file name")])
def test_an_alt_text_that_says_nothing_of_the_picture_is_a_warning(make_root: Callable[..., Path], alt: str, why: str) -> None:
    from click.testing import CliRunner

    from samverkan.cli import cli

    root = make_root(config=CORPUS_CONFIG, campaigns={"a": CORPUS_CAMPAIGN + f"    image: {{path: content/images/skolstart.png, alt: {alt}}}\n"})
    (root / "content" / "images").mkdir(parents=True, exist_ok=True)
    (root / "content" / "images" / "skolstart.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(64))
    result = CliRunner().invoke(cli, ["validate", "--root", str(root)])
    expected = (f"campaigns/a.yaml:17:54: warning: alt: '{alt}' {why}; say what the picture shows for readers who "
                "cannot see it, e.g. 'Barn vid ett övergångsställe'")
    assert expected in result.output.splitlines(), result.output
