"""Replayed template output (samverkan/snippetcache.py) is always what rendering would
write: the same values give the same text, other values a new rendering, and templates
whose rendering does more than write are never replayed."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import jinja2
import pytest
from markupsafe import Markup

from samverkan import rendering, snippetcache
from samverkan.loading import load_project
from samverkan.plan import deliveries
from samverkan.rendering import environment, render
from tests.helpers.plans import full_root

TEMPLATES = {
    "snippets/who.txt.j2": "{{ who }} {{ when }}",
    "snippets/who.html.j2": "<b>{{ who }}</b>",
    "t.txt.j2": "[{% include 'snippets/who.txt.j2' %}]",
    "t.html.j2": "{% include 'snippets/who.html.j2' %}",
    "loop.txt.j2": "{% for who in people %}{% include 'snippets/who.txt.j2' %};{% endfor %}",
    "snippets/macros.txt.j2": "{% macro greet(name) %}Hej {{ name }}{% endmacro %}",
    "uses-macro.txt.j2": "{% from 'snippets/macros.txt.j2' import greet %}{{ greet(who) }}",
    "snippets/base.txt.j2": "<{% block inner %}bas{% endblock %}>",
    "child-a.txt.j2": "{% extends 'snippets/base.txt.j2' %}{% block inner %}a {{ who }}{% endblock %}",
    "child-b.txt.j2": "{% extends 'snippets/base.txt.j2' %}{% block inner %}b {{ who }}{% endblock %}",
    "snippets/dice.txt.j2": "{{ range(1000)|list|random }}",
    "snippets/nested.txt.j2": "{% include 'snippets/who.txt.j2' %}/{{ extra }}",
    "snippets/dynamic.txt.j2": "{% include name %}",
    "imports-plain.txt.j2": "{% import 'snippets/who.txt.j2' as w with context %}({{ w }})",
    "obj.txt.j2": "{% include 'snippets/who.txt.j2' %}|{{ obj.x }}",
}


@pytest.fixture
def env(make_root) -> jinja2.Environment:
    return environment(load_project(full_root(make_root, templates=TEMPLATES)))


def test_the_same_values_replay_and_other_values_render_anew(env, monkeypatch) -> None:
    made: list[int] = []  # the snippet's renderings: its context is only made when it runs
    real = snippetcache._real
    monkeypatch.setattr(snippetcache, "_real", lambda context: (made.append(1), real(context))[1])
    t = env.get_template("t.txt.j2")
    when = datetime(2018, 8, 13, 7, 30, tzinfo=ZoneInfo("Europe/Stockholm"))
    assert t.render(who="Kim", when=when) == "[Kim 2018-08-13 07:30:00+02:00]"
    rendered = len(made)
    assert rendered > 0
    assert t.render(who="Kim", when=when) == "[Kim 2018-08-13 07:30:00+02:00]"
    assert len(made) == rendered  # replayed
    assert t.render(who="Pat", when=when) == "[Pat 2018-08-13 07:30:00+02:00]"
    assert len(made) > rendered  # rendered anew
    # the same instant in another zone is written differently
    assert t.render(who="Pat", when=when.astimezone(timezone.utc)) == "[Pat 2018-08-13 05:30:00+00:00]"
    # equal in Python, not in the output: 1 and True, a list and a tuple
    assert t.render(who=1, when=None) == "[1 None]"
    assert t.render(who=True, when=None) == "[True None]"
    assert t.render(who=[1], when=None) == "[[1] None]"
    assert t.render(who=(1,), when=None) == "[(1,) None]"


def test_a_markup_string_is_not_taken_for_the_same_plain_string(env) -> None:
    t = env.get_template("t.html.j2")
    assert t.render(who="<i>x</i>") == "<b>&lt;i&gt;x&lt;/i&gt;</b>"
    assert t.render(who=Markup("<i>x</i>")) == "<b><i>x</i></b>"
    assert t.render(who="<i>x</i>") == "<b>&lt;i&gt;x&lt;/i&gt;</b>"


def test_dicts_count_by_their_items_in_order(env) -> None:
    t = env.get_template("t.txt.j2")
    assert t.render(who={"a": 1, "b": 2}, when=None) == "[{'a': 1, 'b': 2} None]"
    assert t.render(who={"b": 2, "a": 1}, when=None) == "[{'b': 2, 'a': 1} None]"
    assert t.render(who={"a": 1, "b": 3}, when=None) == "[{'a': 1, 'b': 3} None]"


def test_an_include_inside_a_loop_sees_each_loop_value(env) -> None:
    t = env.get_template("loop.txt.j2")
    assert t.render(people=["a", "b", "a"], when=1) == "a 1;b 1;a 1;"


def test_an_error_is_raised_every_time_and_nothing_is_kept(env) -> None:
    t = env.get_template("t.txt.j2")
    for _ in range(3):
        with pytest.raises(jinja2.UndefinedError):
            t.render(who="Kim")  # no 'when'
    assert t.render(who="Kim", when=2) == "[Kim 2]"


def test_macros_imports_and_inheritance_work_as_without_replay(env) -> None:
    t = env.get_template("uses-macro.txt.j2")
    assert [t.render(who=w) for w in ("Kim", "Pat", "Kim")] == ["Hej Kim", "Hej Pat", "Hej Kim"]
    assert env.get_template("child-a.txt.j2").render(who="x") == "<a x>"
    assert env.get_template("child-b.txt.j2").render(who="x") == "<b x>"
    assert env.get_template("child-a.txt.j2").render(who="y") == "<a y>"
    assert env.get_template("snippets/base.txt.j2").render() == "<bas>"


def test_what_a_template_reads_includes_what_its_snippets_read(env) -> None:
    assert snippetcache.template_names(env, "snippets/nested.txt.j2") == {"who", "when", "extra"}
    t = env.get_template("snippets/nested.txt.j2")
    assert t.render(who="a", when=1, extra="x") == "a 1/x"
    assert t.render(who="a", when=1, extra="y") == "a 1/y"
    assert t.render(who="b", when=1, extra="y") == "b 1/y"


def test_templates_whose_output_cannot_be_known_from_their_values_are_not_replayed(env) -> None:
    assert snippetcache.template_names(env, "snippets/dice.txt.j2") is None  # |random
    assert snippetcache.template_names(env, "snippets/dynamic.txt.j2") is None  # include by variable
    dice = env.get_template("snippets/dice.txt.j2")
    assert len({dice.render() for _ in range(20)}) > 1


def test_every_sample_rendering_is_the_same_with_and_without_replay(sample_root: Path, monkeypatch) -> None:
    def render_all() -> dict[str, dict[str, str]]:
        rendering._build_environment.cache_clear()  # a fresh environment, prepared anew
        project = load_project(sample_root)
        out = {}
        for d in deliveries(project):
            out[d.id] = render(project, d).parts
        return out

    replayed = render_all()
    monkeypatch.setattr(snippetcache, "memoize", lambda env, template: None)
    plain = render_all()
    rendering._build_environment.cache_clear()
    assert len(replayed) > 100
    assert replayed == plain


def test_a_replayed_template_can_still_be_imported(env) -> None:
    t = env.get_template("imports-plain.txt.j2")
    assert [t.render(who=w, when=1) for w in ("a", "b", "a")] == ["(a 1)", "(b 1)", "(a 1)"]


def test_a_template_given_up_on_still_renders_each_time(env) -> None:
    class Obj:
        def __init__(self, x: int) -> None:
            self.x = x

    t = env.get_template("obj.txt.j2")
    outs = [t.render(obj=Obj(i), who=i % 2, when=None) for i in range(snippetcache.GIVE_UP_AFTER + 5)]
    assert outs == [f"{i % 2} None|{i}" for i in range(snippetcache.GIVE_UP_AFTER + 5)]


def test_a_given_up_template_makes_its_contexts_at_once_again(env) -> None:
    class Obj:
        x = 1

    t = env.get_template("obj.txt.j2")
    for _ in range(snippetcache.GIVE_UP_AFTER):
        assert t.render(obj=Obj(), who=1, when=None) == "1 None|1"
    assert t.new_context.__func__ is jinja2.Template.new_context  # no stand-in context any more
    assert t.render(obj=Obj(), who=2, when=None) == "2 None|1"


def test_lists_at_the_address_of_a_freed_one_count_by_their_items(env) -> None:
    """A list freed after its rendering leaves its address to the next one: replay must go
    by what a list holds, never by where it lives."""
    t = env.get_template("t.txt.j2")
    for i in range(300):  # fresh lists, each freed after its rendering
        assert t.render(who=[i, {"n": i}], when=None) == f"[[{i}, {{'n': {i}}}] None]"
    same = [1, {"n": 1}]
    assert t.render(who=same, when=None) == t.render(who=same, when=None) == "[[1, {'n': 1}] None]"


def test_a_shared_list_replays_as_a_list_of_its_items_and_is_frozen_once(env, monkeypatch) -> None:
    t = env.get_template("t.txt.j2")
    shared = snippetcache.SharedList([1, {"n": "a"}])
    assert t.render(who=[1, {"n": "a"}], when=None) == "[[1, {'n': 'a'}] None]"
    made: list[int] = []
    real = snippetcache._real
    monkeypatch.setattr(snippetcache, "_real", lambda context: (made.append(1), real(context))[1])
    assert t.render(who=shared, when=None) == "[[1, {'n': 'a'}] None]"
    assert made == []  # replayed: the same as the plain list of the same items
    frozen = shared._frozen
    assert frozen == snippetcache._freeze([1, {"n": "a"}])
    assert t.render(who=shared, when=None) == "[[1, {'n': 'a'}] None]"
    assert shared._frozen is frozen  # worked out once
    assert t.render(who=snippetcache.SharedList([2]), when=None) == "[[2] None]"
    assert made  # other items: rendered


def test_a_template_is_parsed_once_to_compile_it_and_to_know_what_it_reads(make_root, monkeypatch) -> None:
    env = environment(load_project(full_root(make_root, templates=TEMPLATES)))
    parsed: list[str | None] = []
    real = jinja2.Environment._parse

    def counting(self, source, name, filename):
        parsed.append(name)
        return real(self, source, name, filename)

    monkeypatch.setattr(jinja2.Environment, "_parse", counting)
    t = env.get_template("t.txt.j2")
    # t itself once; the snippet it includes is read to know what t reads (not compiled yet)
    assert sorted(parsed) == ["snippets/who.txt.j2", "t.txt.j2"]
    assert t.render(who="Kim", when=None) == "[Kim None]"
    assert t.render(who="Pat", when=None) == "[Pat None]"
    assert parsed.count("t.txt.j2") == 1 and parsed.count("snippets/who.txt.j2") == 2  # (compiled when first included)
    assert snippetcache.template_names(env, "t.txt.j2") == {"who", "when"}


def test_a_shared_list_is_a_list_to_templates_and_their_errors(env) -> None:
    """Officers read the errors of their templates: a shared list is named a list there,
    and it has nothing of its own a template can read."""
    shared, plain = snippetcache.SharedList(), []
    for template in ["{{ events[0].title }}", "{{ events.frozen }}", "{{ events.append(1) }}"]:
        messages = []
        for events in (shared, plain):
            with pytest.raises(jinja2.TemplateError) as caught:
                env.from_string(template).render(events=events)
            messages.append(str(caught.value))
        assert messages[0] == messages[1], template
    with pytest.raises(jinja2.exceptions.SecurityError):
        env.from_string("{{ events._frozen }}").render(events=shared)
    assert env.from_string("{{ events }} {{ events is sequence }} {{ events|tojson }}").render(events=snippetcache.SharedList([1])) \
        == "[1] True [1]"
