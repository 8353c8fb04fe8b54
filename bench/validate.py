"""How fast is ``samverkan validate`` on a large plan, next to a bare YAML load?

Generates N campaigns (default 1,000, each with 10 messages on 3 channels, an event and a
weekly repeat; each message with a title and body of its own, as in a real plan) and a
config.yaml in a temporary folder, then prints:

- a bare ``yaml.load(..., Loader=yaml.CSafeLoader)`` of the same files: the floor;
- ``samverkan.loading.load_project`` (YAML, models, references, times; the positions of
  values are read only where a problem is reported);
- ``samverkan.validation.validate`` in-process (adds the agreement and content checks);
- ``samverkan validate`` as a subprocess (adds interpreter start and imports), next to
  the bare load as a subprocess of its own (``python -c``: interpreter, ``import yaml``,
  the load), so that both sides of that ratio pay for starting a process;
- the same command on the same plan with one text for all messages (``--same-texts``
  measures only that), where every Markdown conversion but the first is found in a cache;
- ``samverkan --help`` as a subprocess (target < 0.25 s);
- which heavy publishing libraries are imported after validate (target: none).

The package is byte-compiled first, as an install leaves it (``make`` does it too).

Usage: ``.venv/bin/python bench/validate.py [--n 1000] [--repeat 3] [--same-texts] [--profile]``
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Callable, TypeVar

import yaml

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

HEAVY = ("feedgen", "facebook", "apscheduler", "requests", "lxml", "aiosmtpd", "feedparser")
AREAS = ["narkotika", "gang", "trafik", "stold", "vardagssakerhet"]
BASES = ["trygghetsundersokning", "kriminalunderrattelserapport", "lupp", "raddningstjanst", "tillbud", "lagesbild"]

CONFIG = """\
agreement:
  title: Överenskommelse om samverkan (benchmark)
  period: {start: 2017-01-01, end: 2019-12-31}
  parties:
    kommunen:
      name: Hultsfreds kommun
      short_name: Kommunen
      press_contact: {name: Karin Lindqvist, title: Kommunikationschef, phone: "+46 495 24 05 10", email: karin@example.se}
    polisen:
      name: Polisen, lokalpolisområde Hultsfred
      short_name: Polisen
      press_contact: {name: Mattias Ek, title: Kommunpolis, phone: "+46 10 564 21 30", email: mattias@example.se}
  priority_areas:
    narkotika: Narkotika, alkohol och doping
    gang: Kriminella strukturer
    trafik: Trafiksäkerhet
    stold: Stöldbrott
    vardagssakerhet: Vardagssäkerhet
  bases:
    trygghetsundersokning: Polisens trygghetsundersökning
    kriminalunderrattelserapport: Kriminalunderrättelserapport
    lupp: LUPP
    raddningstjanst: Räddningstjänstens statistik
    tillbud: Tillbud och incidenter
    lagesbild: Lägesbild
  min_campaigns_per_year: 4
  briefing_interval_days: 14
timezone: Europe/Stockholm
approval: []
channels:
  webb:
    publisher: rss
    output: public/nyheter.xml
    title: Trygg i Hultsfred
    link: https://www.hultsfred.se/trygghet
    self_url: https://www.hultsfred.se/trygghet/nyheter.xml
    description: Gemensamma nyheter från kommunen och polisen.
  facebook-kommunen:
    publisher: facebook
    page_id: "104718532690417"
    token: ${FB_TOKEN_KOMMUNEN}
  press:
    publisher: mailer
    from: "Trygg i Hultsfred <trygghet@hultsfred.se>"
    recipients: content/presslista.csv
defaults:
  channels: [webb, facebook-kommunen, press]
"""

BODY = """\
      Polisen och kommunen påminner om att **hastigheten** runt skolorna ska vara låg.
      Många barn går och cyklar till skolan för första gången, och de ser inte alltid bilarna.

      - Sänk farten till 30 km/h vid skolorna.
      - Stanna för barn vid övergångsställen.
      - Parkera inte på skolans hämtplats.

      Vi finns på plats under skolstarten och svarar gärna på frågor. Läs mer på
      [kommunens webbplats](https://www.hultsfred.se/skolstart).
"""


ROUTINE = """\
kind: routine
title: Lägesbild
summary: Polisen och kommunen delar lägesbilden var fjortonde dag.
priority_areas: [gang]
bases: [lagesbild]
period: {start: 2017-01-01, end: 2019-12-31}
messages:
  - key: lagesbild
    at: 2017-01-09 10:00
    repeat: {every: 14d, until: 2019-12-31}
    channels: [webb]
    title: Lägesbild från polisen och kommunen
    body: Så här ser läget ut i kommunen just nu.
"""


def campaign_text(n: int, messages: int, distinct: bool) -> str:
    """Campaign ``n``; with ``distinct``, each message's title and body its own, as in a
    real plan (otherwise every message converts the same Markdown, found in a cache)."""
    year = 2017 + n % 3
    start = date(year, 1, 1) + timedelta(days=(n * 7) % 300)
    end = start + timedelta(days=60)
    area = AREAS[n % len(AREAS)]
    basis = BASES[n % len(BASES)]
    out = [
        f"title: Kampanj {n} – trygg och säker vardag",
        "summary: Polisen och kommunen påminner om trafiken runt skolorna när terminen börjar.",
        f"priority_areas: [{area}]",
        f"bases: [{basis}, lupp]",
        f"period: {{start: {start}, end: {end}}}",
        "parties: [kommunen, polisen]",
        "partners: [grannsamverkan, frg]",
        "events:",
        "  - title: Föräldraträff om trafiken",
        f"    start: {start + timedelta(days=9)} 18:00",
        f"    end: {start + timedelta(days=9)} 19:30",
        "    location: Aulan, Hultsfreds gymnasium",
        "messages:",
    ]
    for m in range(messages):
        day = start + timedelta(days=m * 5)
        tag = f"{n}.{m}" if distinct else f"{m}"
        out += [
            f"  - key: meddelande-{m}",
            f"    at: {day} 07:30",
            "    channels: [webb, facebook-kommunen, press]",
            f"    title: Nu börjar skolan – sänk farten ({tag})",
            "    body: |",
            *([f"      Meddelande {m + 1} av {messages} i kampanj {n}, att läsa och dela.", ""] if distinct else []),
            BODY.rstrip("\n"),
            "    link: https://www.hultsfred.se/skolstart",
        ]
        if m == messages - 1:
            out.append("    repeat: {every: 7d, count: 3}")
        if m == 0:
            out += ["    overrides:", "      facebook: {body: Sänk farten vid skolorna!}"]
    return "\n".join(out) + "\n"


def generate(root: Path, n: int, messages: int, distinct: bool = True) -> list[Path]:
    (root / "campaigns").mkdir(parents=True, exist_ok=True)
    (root / "content").mkdir(exist_ok=True)
    (root / "content" / "presslista.csv").write_text("name,email,outlet\nA,a@example.se,X\n", encoding="utf-8")
    (root / "config.yaml").write_text(CONFIG, encoding="utf-8")
    files = [root / "config.yaml"]
    # The 14-day situation briefing, as every real plan has one (the agreement asks for it).
    routine = root / "campaigns" / "lagesbild.yaml"
    routine.write_text(ROUTINE, encoding="utf-8")
    files.append(routine)
    for i in range(n):
        path = root / "campaigns" / f"kampanj-{i:05d}.yaml"
        path.write_text(campaign_text(i, messages, distinct), encoding="utf-8")
        files.append(path)
    return files


T = TypeVar("T")


def best(f: Callable[[], T], repeat: int, setup: Callable[[], object] | None = None) -> tuple[float, T]:
    """The fastest of ``repeat`` runs (the others lost time to the machine, not to us), and
    the last run's result. ``setup`` runs before each run, untimed."""
    times: list[float] = []
    for _ in range(max(repeat, 1)):
        if setup is not None:
            setup()
        t = time.perf_counter()
        result = f()
        times.append(time.perf_counter() - t)
    return min(times), result


def bare_load(files: list[Path]) -> int:
    for path in files:
        yaml.load(path.read_text(encoding="utf-8"), Loader=yaml.CSafeLoader)
    return len(files)


BARE_COMMAND = (
    "import pathlib, sys, yaml\n"
    "for f in sys.argv[1:]:\n"
    "    yaml.load(pathlib.Path(f).read_text(encoding='utf-8'), Loader=yaml.CSafeLoader)\n"
)


def subprocess_time(args: list[str], repeat: int = 1) -> float:
    times: list[float] = []
    for _ in range(repeat):
        t = time.perf_counter()
        done = subprocess.run(args, capture_output=True, check=False, cwd=REPO)
        times.append(time.perf_counter() - t)
        assert done.returncode == 0, f"{' '.join(args[:3])} ...: exit {done.returncode}\n{done.stderr.decode()[-2000:]}"
    return min(times)


def cold() -> None:
    """Empty what an earlier run in this process left behind, so that each in-process run
    starts as a command does: the tags of YAML values resolved, the caches of texts
    converted, figures counted and dates written, and the template environment with its
    replayed outputs."""
    from samverkan import contentchecks, rendering, yamlpos

    yamlpos._tags.clear()
    for cached in (rendering._convert, rendering._babel_date, rendering._babel_time, rendering._format_list,
                   rendering._build_environment, contentchecks.lix):
        cached.cache_clear()


def samverkan_command() -> list[str]:
    exe = Path(sys.executable).parent / "samverkan"
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "samverkan"]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=1000, help="campaigns to generate (default 1000)")
    ap.add_argument("--messages", type=int, default=10, help="messages per campaign (default 10)")
    ap.add_argument("--repeat", type=int, default=3, help="runs per in-process timing; the best counts")
    ap.add_argument("--profile", action="store_true", help="print the top of a cProfile of validate")
    ap.add_argument("--keep", metavar="DIR", help="generate into DIR and keep it")
    ap.add_argument("--same-texts", action="store_true",
                    help="one title and body for every message (Markdown converted once, then cached)")
    args = ap.parse_args()

    # The package byte-compiled, as an install leaves it (make does it; this machine may
    # set PYTHONDONTWRITEBYTECODE, and the bare load's yaml is compiled by pip).
    # The same command as the Makefile's bytecode target.
    subprocess.run([sys.executable, "-m", "compileall", "-q", "samverkan", "publishers", "scheduler.py"],
                   cwd=REPO, check=True)

    tmp = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="samverkan-bench-"))
    try:
        files = generate(tmp, args.n, args.messages, distinct=not args.same_texts)
        size = sum(p.stat().st_size for p in files) / 1e6
        texts = "one text for all messages" if args.same_texts else "each message its own text"
        print(f"{args.n} campaigns x {args.messages} messages x 3 channels (+ a routine), {texts}, "
              f"{len(files)} files, {size:.1f} MB in {tmp}")

        # Imports first, so they count in none of the in-process timings (the subprocess
        # timing below has them).
        t = time.perf_counter()
        from samverkan.loading import load_project
        from samverkan.validation import validate
        import_time = time.perf_counter() - t

        bare, _ = best(lambda: bare_load(files), args.repeat)
        loading, project = best(lambda: load_project(tmp), args.repeat, setup=cold)
        full, report = best(lambda: validate(tmp), args.repeat, setup=cold)
        cli = subprocess_time([*samverkan_command(), "validate", "--root", str(tmp)], repeat=args.repeat)
        # The same floor as a command of its own: interpreter, import of yaml, the load.
        bare_cli = subprocess_time([sys.executable, "-c", BARE_COMMAND, *map(str, files)], repeat=args.repeat)
        helptime = subprocess_time([*samverkan_command(), "--help"], repeat=5)
        same = None
        if not args.same_texts:  # for comparison: what a cache of conversions makes of it
            other = Path(tempfile.mkdtemp(prefix="samverkan-bench-same-"))
            try:
                generate(other, args.n, args.messages, distinct=False)
                same = subprocess_time([*samverkan_command(), "validate", "--root", str(other)], repeat=args.repeat)
            finally:
                shutil.rmtree(other, ignore_errors=True)
        heavy = sorted({m.split(".")[0] for m in sys.modules} & set(HEAVY))

        assert report.ok, "\n".join(str(p) for p in report.errors[:10])
        deliveries = sum(len(m.times) * len(m.channels) for c in project.campaigns.values() for m in c.messages)
        print(f"  {len(project.campaigns)} campaigns valid, {deliveries} deliveries, {len(report.problems)} problems")
        print()
        print(f"bare yaml.load (CSafeLoader)     {bare:7.3f} s")
        print(f"load_project (loading only)      {loading:7.3f} s   {loading / bare:5.2f}x bare   (target within 3x)")
        print(f"validate, in-process             {full:7.3f} s   {full / bare:5.2f}x bare   (target within 3x)")
        print(f"bare load, subprocess            {bare_cli:7.3f} s   (python -c: interpreter, import yaml, the load)")
        print(f"samverkan validate, subprocess   {cli:7.3f} s   {cli / bare:5.2f}x bare in-process, "
              f"{cli / bare_cli:4.2f}x bare as a subprocess   (best of {args.repeat})")
        if same is not None:
            print(f"  one text for all messages      {same:7.3f} s   {same / bare:5.2f}x bare in-process, "
                  f"{same / bare_cli:4.2f}x bare as a subprocess   (Markdown converted once: --same-texts)")
        print(f"import samverkan.validation      {import_time:7.3f} s")
        print(f"samverkan --help, subprocess     {helptime:7.3f} s   (target < 0.25 s; best of 5)")
        print(f"heavy modules after validate     {', '.join(heavy) or 'none'}   (target: none of {', '.join(HEAVY)})")

        if args.profile:
            cold()
            prof = cProfile.Profile()
            prof.enable()
            validate(tmp)
            prof.disable()
            out = io.StringIO()
            pstats.Stats(prof, stream=out).sort_stats("cumulative").print_stats(30)
            print(out.getvalue())
            out = io.StringIO()
            pstats.Stats(prof, stream=out).sort_stats("tottime").print_stats(20)
            print(out.getvalue())
        return 0
    finally:
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
