"""Rendering: templates per channel, Markdown bodies, Swedish dates, overrides, and template
errors reported at the template's own file and line."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from samverkan.loading import load_project
from samverkan.plan import deliveries
from samverkan.rendering import (
    RenderError,
    environment,
    format_datetime,
    logo_cid,
    markdown_html,
    markdown_text,
    render,
    render_message,
)
from tests.helpers.cli import validate
from tests.helpers.plans import FULL_CAMPAIGN, TZ, dedent, full_root, message, with_message_keys

# --- the sample plan -----------------------------------------------------------------------


def test_every_sample_message_renders_for_every_channel(sample_root: Path) -> None:
    project = load_project(sample_root)
    assert not project.problems.errors, project.problems.errors
    assert project.campaigns, "the sample plan has campaigns"
    seen = set()
    for d in deliveries(project):
        if (d.message_id, d.channel) in seen:
            continue  # repeats share their text
        seen.add((d.message_id, d.channel))
        r = render(project, d)
        assert r.delivery_id == d.id and r.channel == d.channel and r.at == d.at
        assert all(text.strip() for text in r.parts.values()), d.id
        assert r.parties == ("Hultsfreds kommun", "Polisen, lokalpolisområde Hultsfred")
        if r.publisher == "mailer":
            assert set(r.parts) == {"subject", "text", "html"}
            assert "\n" not in r.parts["subject"]
            html = r.parts["html"]
            assert html.startswith("<!DOCTYPE html>") and '<html lang="sv">' in html
            for logo in r.logos:
                assert f'src="cid:{logo_cid(logo.party)}"' in html and logo.path.is_file()
            for contact in r.contacts:
                assert contact.email in html and contact.email in r.parts["text"]
        elif r.publisher == "facebook":
            assert r.title in r.parts["text"]
            assert "**" not in r.parts["text"] and "](" not in r.parts["text"]
        elif r.publisher == "rss":
            assert r.parts["html"].startswith("<p>")
        if r.image is not None:
            assert r.image.path.is_file() and r.image.alt
    assert len(seen) > 50


def test_sample_press_release_carries_the_joint_voice(sample_root: Path) -> None:
    project = load_project(sample_root)
    r = render_message(project, "2018-saker-skolstart", "start", "press")
    text, html = r.parts["text"], r.parts["html"]
    assert r.parts["subject"] == "Nu börjar skolan – sänk farten"
    assert text.startswith("PRESSMEDDELANDE – Hultsfreds kommun och Polisen, lokalpolisområde Hultsfred\nMåndag 13 augusti 2018\n")
    assert "• Föräldraträff om trafiken: onsdag 22 augusti 2018 kl. 18.00–19.30, Aulan, Hultsfreds gymnasium" in text
    assert "• Sänk farten nära skolor och förskolor." in text
    assert "Karin Lindqvist, Kommunikationschef, Hultsfreds kommun" in text
    assert "Mattias Ek, Kommunpolis, Polisen, lokalpolisområde Hultsfred" in text
    # the sample plan's own signature line, from content/templates/snippets/signature.txt.j2
    assert text.endswith("Trygg i Hultsfred – fler tips på https://www.hultsfred.se/trygghet")
    assert '<img src="cid:logo-kommunen" alt="Logotyp: Hultsfreds kommun"' in html
    assert '<img src="cid:logo-polisen" alt="Logotyp: Polisen, lokalpolisområde Hultsfred"' in html
    assert '<img src="cid:image" alt="Ett övergångsställe med vita ränder på en grå väg"' in html
    assert "Onsdag 22 augusti 2018 kl. 18.00–19.30" in html
    assert [c.name for c in r.contacts] == ["Karin Lindqvist", "Mattias Ek"]


# --- Markdown and escaping -----------------------------------------------------------------


def test_markdown_becomes_readable_plain_text() -> None:
    text = markdown_text(dedent("""
        **Så kan du hjälpa till:**

        - Sänk farten
          nära skolor.
        - Läs [mer här](https://kommun.example/mer) eller <https://kommun.example/a>.
            - Fråga <press@kommun.example>.

        1. Ett
        2. Två

        # Rubrik

        Rad ett  
        rad två med `kod <x>` och \\*stjärnor\\*.
    """))
    assert text == dedent("""
        Så kan du hjälpa till:

        • Sänk farten nära skolor.
        • Läs mer här (https://kommun.example/mer) eller https://kommun.example/a.
          • Fråga press@kommun.example.

        1. Ett
        2. Två

        Rubrik

        Rad ett
        rad två med kod <x> och *stjärnor*.""")


def test_raw_html_and_unsafe_links_in_a_body_are_not_markup() -> None:
    html = markdown_html('Tom & Jerry <script>alert("x")</script> [klick](javascript:alert(1))')
    assert html == '<p>Tom &amp; Jerry &lt;script&gt;alert("x")&lt;/script&gt; <a>klick</a></p>'


def test_special_characters_and_braces_in_a_campaign_come_out_literal(make_root) -> None:
    campaign = FULL_CAMPAIGN.replace("title: Nu börjar skolan", "title: Fisk & <b>chips</b> {{ title }}").replace(
        "Sänk farten nära skolor.", "Skriv {{ config }} och {% if x %} och <em>x</em> & \"citat\"."
    )
    project = load_project(full_root(make_root, {"skolstart": campaign}))
    assert not project.problems.errors, project.problems.errors
    rss = render_message(project, "skolstart", "start", "webb").parts["html"]
    assert "<p>Skriv {{ config }} och {% if x %} och &lt;em&gt;x&lt;/em&gt; &amp; \"citat\".</p>" in rss
    press = render_message(project, "skolstart", "start", "press")
    assert "<title>Fisk &amp; &lt;b&gt;chips&lt;/b&gt; {{ title }}</title>" in press.parts["html"]
    assert "Skriv {{ config }} och {% if x %} och &lt;em&gt;x&lt;/em&gt;" in press.parts["html"]
    assert press.parts["subject"] == "Fisk & <b>chips</b> {{ title }}"
    # plain text is plain: the characters as written, neither escaped nor interpreted
    assert 'Skriv {{ config }} och {% if x %} och <em>x</em> & "citat".' in press.parts["text"]
    fb = render_message(project, "skolstart", "start", "fb-kommunen").parts["text"]
    assert fb.startswith("Fisk & <b>chips</b> {{ title }}\n\nSkriv {{ config }}")


# --- dates ---------------------------------------------------------------------------------


def test_swedish_dates_in_the_configured_zone(make_root) -> None:
    project = load_project(full_root(make_root))
    assert format_datetime(project, datetime(2018, 8, 13, 7, 30, tzinfo=TZ)) == "måndag 13 augusti 2018 kl. 07.30"
    # an instant in UTC is shown in local time: 05:30 UTC is 07:30 in Swedish summer time
    assert format_datetime(project, datetime(2018, 8, 13, 5, 30, tzinfo=timezone.utc)) == "måndag 13 augusti 2018 kl. 07.30"
    assert format_datetime(project, datetime(2018, 12, 24, 15, 0, tzinfo=timezone.utc)) == "måndag 24 december 2018 kl. 16.00"
    env = environment(project)
    start, end = datetime(2018, 8, 22, 18, 0, tzinfo=TZ), datetime(2018, 8, 22, 19, 30, tzinfo=TZ)
    assert env.from_string("{{ e|timespan }}").render(e={"start": start, "end": end}) == "onsdag 22 augusti 2018 kl. 18.00–19.30"
    assert env.from_string("{{ e|timespan }}").render(e={"start": start, "end": end.replace(day=23)}) == (
        "onsdag 22 augusti 2018 kl. 18.00 – torsdag 23 augusti 2018 kl. 19.30"
    )
    assert env.from_string("{{ d|date }} / {{ d|time }}").render(d=start) == "onsdag 22 augusti 2018 / 18.00"
    assert env.from_string("{{ names|format_list }}").render(names=["A", "B", "C"]) == "A, B och C"


def test_events_and_embargo_in_the_press_release(make_root) -> None:
    campaign = FULL_CAMPAIGN.replace("    title: Nu börjar skolan\n", "    title: Nu börjar skolan\n    embargo: 2018-08-13 10:00\n")
    project = load_project(full_root(make_root, {"skolstart": campaign}))
    r = render_message(project, "skolstart", "start", "press")
    assert r.parts["subject"] == "EMBARGO till måndag 13 augusti 2018 kl. 10.00: Nu börjar skolan"
    assert "EMBARGO: Får inte publiceras före måndag 13 augusti 2018 kl. 10.00." in r.parts["text"]
    assert "EMBARGO: Får inte publiceras före måndag 13 augusti 2018 kl. 10.00." in r.parts["html"]
    assert r.embargo == datetime(2018, 8, 13, 10, 0, tzinfo=TZ)
    assert "• Föräldraträff om trafiken: onsdag 22 augusti 2018 kl. 18.00–19.30, Aulan" in r.parts["text"]
    # the Facebook post has the event but no embargo (it goes out at its own time)
    fb = render_message(project, "skolstart", "start", "fb-kommunen").parts["text"]
    assert "EMBARGO" not in fb and "Föräldraträff om trafiken: onsdag 22 augusti" in fb


def test_past_events_are_left_out(make_root) -> None:
    campaign = FULL_CAMPAIGN + message("tack", "2018-09-01 10:00", "Tack", "Tack för en säker skolstart.")
    project = load_project(full_root(make_root, {"skolstart": campaign}))
    assert not project.problems.errors, project.problems.errors
    assert "Föräldraträff" not in render_message(project, "skolstart", "tack", "fb-kommunen").parts["text"]


def test_messages_that_see_the_same_events_to_come_share_one_list_of_them(make_root) -> None:
    """The snippets listing a campaign's events are replayed by the list they are given:
    the messages before an event all get one list, those after it another."""
    from samverkan.rendering import _state

    project = load_project(full_root(make_root))
    state = _state(project)
    cview, extras = state.campaign_view(project.campaigns["skolstart"])
    event = cview["events"][0]
    before, after = event["start"] - timedelta(days=3), (event["end"] or event["start"]) + timedelta(minutes=1)
    first = state.upcoming_events(cview, extras, before)
    assert first == cview["events"] and first is state.upcoming_events(cview, extras, before + timedelta(hours=1))
    assert state.upcoming_events(cview, extras, event["end"] or event["start"]) is first  # (it still ends then)
    none = state.upcoming_events(cview, extras, after)
    assert none == [] and none is state.upcoming_events(cview, extras, after + timedelta(days=30))


# --- overrides and plan templates ----------------------------------------------------------


def test_a_message_the_same_on_two_channels_is_seen_through_one_view(make_root) -> None:
    """Checks render a message's channels one after the other, and give each the view of
    the one before: it is used again only while the message is the same (its time, title,
    body and vars), so each channel's text is what rendering it alone gives."""
    from samverkan.rendering import render_parts, resolve

    campaign = FULL_CAMPAIGN.replace("    title: Nu börjar skolan\n", "    title: Nu börjar skolan\n    embargo: 2018-08-13 10:00\n")
    project = load_project(full_root(make_root, {"skolstart": campaign}))
    assert not project.problems.errors, project.problems.errors
    c = project.campaigns["skolstart"]
    m = c.message("start")
    when = m.times[0][0]
    res = resolve(m, "press", "mailer")
    parts, press_view = render_parts(project, c, m, "press", m.due(when, "press"), res)
    assert parts == render_message(project, "skolstart", "start", "press").parts
    # the website waits for the embargo: another time, another view
    web_parts, web_view = render_parts(project, c, m, "webb", m.due(when, "webb"), resolve(m, "webb", "rss"), press_view)
    assert web_view is not press_view and web_view.at == m.embargo
    assert web_parts == render_message(project, "skolstart", "start", "webb").parts
    # the two Facebook pages at the same time, with the same fields: one view
    fb = resolve(m, "fb-kommunen", "facebook")
    _, first = render_parts(project, c, m, "fb-kommunen", m.due(when, "fb-kommunen"), fb)
    other_parts, again = render_parts(project, c, m, "fb-polisen", m.due(when, "fb-polisen"), fb, first)
    assert again is first
    assert other_parts == render_message(project, "skolstart", "start", "fb-polisen").parts
    # another body or title (an override) at the same time, the rest the same: a view of its own
    import dataclasses

    for field, value in (("body", "En annan text."), ("title", "En annan rubrik")):
        changed = dataclasses.replace(fb, **{field: value})
        assert changed.vars is fb.vars
        _, own = render_parts(project, c, m, "fb-kommunen", m.due(when, "fb-kommunen"), changed, first)
        assert own is not first and getattr(own, field) == value


def test_overrides_by_publisher_then_channel_and_vars(make_root) -> None:
    campaign = with_message_keys("""
        vars: {hashtags: [skolstart, trafik], lokal: Hultsby}
        overrides:
          facebook:
            body: Kort text för {{ Facebook }}.
            vars: {hashtags: [kort]}
          fb-polisen:
            title: Polisens rubrik
    """)
    root = full_root(make_root, {"skolstart": campaign}, templates={
        "rss/item.html.j2": "<p>{{ lokal }} {{ vars.hashtags|join(',') }}</p>{{ message.body_html }}",
    })
    project = load_project(root)
    assert not project.problems.errors, project.problems.errors
    kommunen = render_message(project, "skolstart", "start", "fb-kommunen")
    polisen = render_message(project, "skolstart", "start", "fb-polisen")
    assert kommunen.parts["text"].startswith("Nu börjar skolan\n\nKort text för {{ Facebook }}.\n")
    assert kommunen.parts["text"].endswith("#kort")
    assert polisen.title == "Polisens rubrik"
    assert polisen.parts["text"].startswith("Polisens rubrik\n\nKort text för {{ Facebook }}.")
    assert kommunen.extra["hashtags"] == ["kort"] and kommunen.body_text == "Kort text för {{ Facebook }}."
    rss = render_message(project, "skolstart", "start", "webb").parts["html"]
    assert rss.startswith("<p>Hultsby skolstart,trafik</p><p>Sänk farten nära skolor.</p>")


def test_template_override_replaces_the_main_part(make_root) -> None:
    campaign = with_message_keys("""
        overrides:
          press: {template: press/kort.html.j2}
          facebook: {template: facebook/kort.txt.j2}
    """)
    root = full_root(make_root, {"skolstart": campaign}, templates={
        "press/kort.html.j2": "<p>KORT {{ message.title }}</p>",
        "facebook/kort.txt.j2": "KORT {{ message.title }}",
    })
    project = load_project(root)
    press = render_message(project, "skolstart", "start", "press")
    assert press.parts["html"] == "<p>KORT Nu börjar skolan</p>"
    assert press.parts["text"].startswith("PRESSMEDDELANDE")  # the text alternative stays
    assert render_message(project, "skolstart", "start", "fb-kommunen").parts["text"] == "KORT Nu börjar skolan"


def test_template_override_that_fits_no_part_is_blamed_on_the_campaign(make_root) -> None:
    campaign = FULL_CAMPAIGN + "    overrides:\n      webb: {template: rss/kort.txt.j2}\n      fb-kommunen: {template: facebook/saknas.txt.j2}\n"
    code, lines = validate(full_root(make_root, {"skolstart": campaign}))
    assert code == 1
    assert ("campaigns/skolstart.yaml:22:24: error: template: 'rss/kort.txt.j2' fits none of this channel's parts; "
            "name a .html.j2 file") in lines
    assert ("campaigns/skolstart.yaml:23:31: error: template: no template 'facebook/saknas.txt.j2' in "
            "content/templates/ or the built-in defaults") in lines


def test_a_plan_template_replaces_the_default_and_can_include_it(make_root) -> None:
    root = full_root(make_root, templates={
        "snippets/signature.txt.j2": '{% include "builtin/snippets/signature.txt.j2" %}\n\nEGEN RAD',
    })
    project = load_project(root)
    text = render_message(project, "skolstart", "start", "press").parts["text"]
    assert "Presskontakter:\nKim Kommun, Presschef, Testkommun" in text
    assert text.endswith("EGEN RAD")


def test_environment_is_built_once_and_anew_after_a_template_edit(make_root) -> None:
    root = full_root(make_root, templates={"facebook/post.txt.j2": "ETT {{ message.title }}"})
    project = load_project(root)
    assert environment(project) is environment(project)
    assert render_message(project, "skolstart", "start", "fb-kommunen").parts["text"] == "ETT Nu börjar skolan"
    path = root / "content/templates/facebook/post.txt.j2"
    path.write_text("TVÅ {{ message.title }}", encoding="utf-8")
    import os

    os.utime(path, ns=(1, 1))  # a different mtime, whatever the clock's resolution
    again = load_project(root)
    assert render_message(again, "skolstart", "start", "fb-kommunen").parts["text"] == "TVÅ Nu börjar skolan"


# --- template errors: at the template's file and line, through validate ---------------------


def test_missing_variable_fails_validate_at_the_template_line(make_root) -> None:
    second = FULL_CAMPAIGN.replace("key: start", "key: andra")
    root = full_root(make_root, {"a": FULL_CAMPAIGN, "b": second}, templates={
        "facebook/post.txt.j2": """\
            {{ message.title }}

            {{ hashtags }}
        """,
    })
    code, lines = validate(root)
    assert code == 1
    errors = [line for line in lines if "post.txt.j2" in line]
    # once per template, not once per message and channel
    assert errors == [
        "content/templates/facebook/post.txt.j2:3:1: error: 'hashtags' is undefined; give it in the message's "
        "vars or test it with 'is defined' (rendering a/start for fb-kommunen)"
    ]


def test_syntax_error_fails_validate_at_the_template_line(make_root) -> None:
    root = full_root(make_root, templates={"rss/item.html.j2": "<p>\n{% if message.link %}\n{{ message.title }\n"})
    code, lines = validate(root)
    assert code == 1
    assert "content/templates/rss/item.html.j2:3:1: error: template syntax: unexpected '}'" in lines


def test_unsafe_construct_fails_validate_at_the_template_line(make_root) -> None:
    root = full_root(make_root, templates={"facebook/post.txt.j2": "{{ message.title }}\n{{ ''.__class__.__mro__ }}\n"})
    code, lines = validate(root)
    assert code == 1
    assert ("content/templates/facebook/post.txt.j2:2:1: error: not allowed in a template: access to attribute "
            "'__class__' of 'str' object is unsafe. (rendering skolstart/start for fb-kommunen)") in lines


def test_error_in_an_included_snippet_is_blamed_on_the_snippet(make_root) -> None:
    root = full_root(make_root, templates={
        "snippets/events.txt.j2": "{% for e in events %}\n{{ e.nosuch }}\n{% endfor %}\n",
        "snippets/events.html.j2": "{% include 'snippets/saknas.html.j2' %}",
    })
    code, lines = validate(root)
    assert code == 1
    assert ("content/templates/snippets/events.txt.j2:2:1: error: 'dict object' has no attribute 'nosuch'; give it in "
            "the message's vars or test it with 'is defined' (rendering skolstart/start for fb-kommunen)") in lines
    assert ("content/templates/snippets/events.html.j2:1:1: error: no template 'snippets/saknas.html.j2' in "
            "content/templates/ or the built-in defaults (rendering skolstart/start for webb)") in lines


def test_render_error_carries_file_and_line(make_root) -> None:
    root = full_root(make_root, templates={"facebook/post.txt.j2": "ok\n{{ nope }}"})
    project = load_project(root)
    with pytest.raises(RenderError) as info:
        render_message(project, "skolstart", "start", "fb-polisen")
    assert (info.value.file, info.value.line) == ("content/templates/facebook/post.txt.j2", 2)


@pytest.mark.parametrize(("template", "said"), [
    ("{% for i in range(100000) %}{% for j in range(100000) %}x{% endfor %}{% endfor %}",
     "range() of 100000 items, over the 1000 a template may loop over"),
    ("{% for i in range(999) %}{% for j in range(999) %}{% for k in range(999) %}{% endfor %}{% endfor %}{% endfor %}",
     "the template's loops run over more than 100,000 items in all; look for loops in loops"),
    ("{% for i in range(999) %}{% for j in range(200) %}x{% endfor %}{% endfor %}",
     "the template's loops run over more than 100,000 items in all"),
])
def test_a_template_that_would_run_for_ever_is_refused_quickly(make_root, template: str, said: str) -> None:
    """A template is the plan's code: loops in loops must not hold up every other campaign
    (the daemon renders them all) nor fill the memory."""
    import time

    root = full_root(make_root, templates={"facebook/post.txt.j2": template})
    start = time.monotonic()
    code, lines = validate(root)
    assert time.monotonic() - start < 20
    assert code == 1
    assert any(line.startswith("content/templates/facebook/post.txt.j2:1:1: error: not allowed in a template: ")
               and said in line for line in lines), lines


def test_a_body_cannot_put_a_picture_from_a_file_or_data_address_in_what_is_published(make_root) -> None:
    body = "Se ![x](file:///etc/passwd) och ![d](data:image/png;base64,AAAA) och ![w](https://kommun.example/a.png)"
    root = full_root(make_root, {"skolstart": FULL_CAMPAIGN.replace("body: |", "body: |\n      " + body + "\n", 1)})
    project = load_project(root)
    html = render_message(project, "skolstart", "start", "webb").parts["html"]
    assert "file:" not in html and "data:image" not in html
    assert 'src="https://kommun.example/a.png"' in html
