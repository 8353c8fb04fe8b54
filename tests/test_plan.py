from __future__ import annotations

from datetime import datetime

from samverkan.loading import load_project
from samverkan.plan import deliveries
from samverkan.selection import select
from tests.helpers.plans import TZ, with_channels

PRESS = """\
  press:
    publisher: mailer
    from: Trygghet <trygghet@kommun.example>
    recipients: content/presslista.csv
"""

EMBARGO = """\
title: Gängbrott
summary: Information till företagare.
priority_areas: [trafik]
period: {start: 2018-10-01, end: 2018-10-31}
messages:
  - key: start
    at: 2018-10-01 08:00
    embargo: 2018-10-02 10:00
    channels: [press, webb]
    title: Nytt samarbete mot gängbrott
    body: Kommunen och polisen startar ett samarbete.
"""


def test_embargo_holds_public_channels_until_it_ends(make_root) -> None:
    root = make_root(config=with_channels(PRESS), campaigns={"gang": EMBARGO})
    (root / "presslista.csv").write_text("name,email,outlet\nA,a@x.example,X\n")
    project = load_project(root)
    assert not project.problems.errors, project.problems
    when = {d.channel: d.at for d in deliveries(project)}
    assert when == {"press": datetime(2018, 10, 1, 8, 0, tzinfo=TZ), "webb": datetime(2018, 10, 2, 10, 0, tzinfo=TZ)}
    # the message names one occurrence across both times
    chosen = select(project, "gang/start", datetime(2018, 10, 1, 9, 0, tzinfo=TZ))
    assert sorted(d.id for d in chosen) == ["gang/start/press", "gang/start/webb"]


def test_repeated_message_with_embargo_is_an_error(make_root) -> None:
    text = EMBARGO.replace("    embargo:", "    repeat: {every: 7d, count: 2}\n    embargo:")
    root = make_root(config=with_channels(PRESS), campaigns={"gang": text})
    (root / "presslista.csv").write_text("name,email,outlet\nA,a@x.example,X\n")
    errors = [str(p) for p in load_project(root).problems.errors]
    assert errors == ["campaigns/gang.yaml:9:14: error: embargo: a repeated message cannot have an embargo; give the embargoed press release a message of its own"]


def test_alert_channel_must_be_a_mailer(make_root) -> None:
    config = with_channels(PRESS, "alerts:\n  mail: {channel: webb, to: [jour@kommun.example]}\n")
    root = make_root(config=config)
    errors = [str(p) for p in load_project(root).problems.errors]
    assert errors == ["config.yaml:33:19: error: alerts: channel 'webb' uses publisher rss, which cannot send e-mail; "
                      "name a channel with publisher: mailer"]
    root = make_root(config=config.replace("channel: webb", "channel: pres"))
    errors = [str(p) for p in load_project(root).problems.errors]
    assert errors == ["config.yaml:33:19: error: alerts: unknown channel 'pres'; did you mean 'press'?; "
                      "name a channel with publisher: mailer"]


WEEKLY = """\
title: Höst
summary: Varje vecka.
priority_areas: [trafik]
period: {start: 2018-10-01, end: 2018-11-30}
messages:
  - key: vecka
    at: 2018-10-21 12:00
    repeat: {every: 7d, count: 3}
    title: Veckans tips
    body: Kör lugnt.
  - key: natt
    at: 2018-10-27 02:30
    repeat: {every: 1d, count: 3}
    title: Nattens tips
    body: Sov gott.
"""


def test_repeats_keep_wall_time_across_dst_and_the_repeated_hour_is_sent_once(make_root) -> None:
    root = make_root(campaigns={"host": WEEKLY})
    project = load_project(root)
    assert [str(p) for p in project.problems] == [
        "campaigns/host.yaml:13:13: warning: repeat on 2018-10-28: 2018-10-28 02:30 happens twice in Europe/Stockholm "
        "(the clocks go back that night); the earlier one is used"
    ]
    weekly = [d.at for d in deliveries(project) if d.message == "vecka"]
    assert [(t.strftime("%Y-%m-%d %H:%M"), str(t.utcoffset())) for t in weekly] == [
        ("2018-10-21 12:00", "2:00:00"), ("2018-10-28 12:00", "1:00:00"), ("2018-11-04 12:00", "1:00:00")]
    nightly = [d for d in deliveries(project) if d.message == "natt"]
    assert [d.id for d in nightly] == ["host/natt/webb@2018-10-27", "host/natt/webb@2018-10-28", "host/natt/webb@2018-10-29"]
    assert str(nightly[1].at.utcoffset()) == "2:00:00"  # the earlier 02:30, once


def test_load_cache_rereads_only_what_changed(make_root) -> None:
    import os

    from samverkan.loading import LoadCache

    root = make_root(campaigns={"a": WEEKLY, "b": WEEKLY})
    cache = LoadCache()
    first = load_project(root, cache)
    (root / "campaigns/b.yaml").write_text(WEEKLY.replace("Höst", "Vinter"), encoding="utf-8")
    second = load_project(root, cache)
    assert second.campaigns["a"] is first.campaigns["a"]  # not read again
    assert second.campaigns["b"].model.title == "Vinter"
    (root / "campaigns/a.yaml").unlink()
    assert "a" not in load_project(root, cache).campaigns
    assert root / "campaigns/a.yaml" not in cache.files  # a removed file is not kept
    config = root / "config.yaml"
    config.write_text(config.read_text() + "\n", encoding="utf-8")
    os.utime(config)
    assert load_project(root, cache).campaigns["b"] is not second.campaigns["b"]  # config changed: all again


def test_load_cache_reports_a_cached_files_errors_again(make_root) -> None:
    from samverkan.loading import LoadCache

    root = make_root(campaigns={"a": WEEKLY, "b": WEEKLY.replace("priority_areas: [trafik]", "priority_areas: [trafk]")})
    cache = LoadCache()
    first = load_project(root, cache)
    assert [p.file for p in first.problems.errors] == ["campaigns/b.yaml"]
    entry = cache.files[root / "campaigns/b.yaml"]
    again = load_project(root, cache)
    assert cache.files[root / "campaigns/b.yaml"] is entry  # nothing changed: not read again
    assert [str(p) for p in again.problems] == [str(p) for p in first.problems]
    assert again.broken == {"b": "campaigns/b.yaml"} and "b" not in again.campaigns
