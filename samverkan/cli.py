"""The command line: parses options and calls the core. Heavy modules are imported inside
each command, so ``samverkan --help`` and ``validate`` stay quick."""

from __future__ import annotations

import functools
import json
import sys
from pathlib import Path
from typing import Any, Callable

import click

from .problems import InvalidInput, SamverkanError


class Context:
    """What every command gets: the plan's folder and the clock."""

    def __init__(self, root: str | None, now: str | None):
        from .loading import find_root

        self.root: Path = find_root(root)
        self.now_text = now

    def clock(self, tz: Any) -> Any:
        from .timeutil import parse_now

        return parse_now(self.now_text, tz)


def common(f: Callable[..., int | None]) -> Callable[..., None]:
    """``--root`` and ``--now`` on every command, and errors turned into exit codes here."""

    @click.option("--root", type=click.Path(file_okay=False), envvar="SAMVERKAN_ROOT",
                  help="Folder holding config.yaml (default: $SAMVERKAN_ROOT or the current folder).")
    @click.option("--now", metavar="ISO-DATETIME", help="Pretend the clock shows this (local time unless an offset is given).")
    @functools.wraps(f)
    def wrapper(root: str | None, now: str | None, **kwargs: Any) -> None:
        if now is not None:
            from datetime import datetime

            try:
                datetime.fromisoformat(now)
            except ValueError:
                raise click.BadParameter(f"'{now}' is not an ISO date and time, e.g. 2018-08-13T07:30", param_hint="--now")
        try:
            code = f(Context(root, now), **kwargs)
        except InvalidInput as exc:
            for p in exc.problems:
                click.echo(str(p), err=True)
            code = 1
        except SamverkanError as exc:
            click.echo(f"error: {exc}", err=True)
            code = 1
        sys.exit(code or 0)

    return wrapper


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="samverkan")
def cli() -> None:
    """Plan, preview and publish the joint public-safety communication of a municipality
    and the police."""


def main() -> None:
    cli()


@cli.command()
@click.option("--strict", is_flag=True, help="Treat warnings as errors.")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@common
def validate(ctx: Context, strict: bool, fmt: str) -> int:
    """Check config.yaml, every campaign and every rendered message."""
    from .validation import validate as run

    report = run(ctx.root, strict=strict)
    if fmt == "json":
        click.echo(json.dumps(report.as_dict(), ensure_ascii=False, indent=2))
    else:
        for p in report.problems:
            click.echo(str(p), err=p.severity == "error")
        n_ok = len(report.project.campaigns)
        click.echo(
            f"{n_ok} campaign file(s) valid, {len(report.project.broken)} with errors; "
            f"{len(report.errors)} error(s), {len(report.warnings)} warning(s)",
            err=not report.ok,
        )
    return 0 if report.ok else 1


@cli.command()
@click.option("--year", type=int, help="The year to show (default: the current year, within the agreement).")
@click.option("--format", "fmt", type=click.Choice(["table", "json", "ics", "html"]), default="table", show_default=True)
@click.option("--out", type=click.Path(dir_okay=False), help="Write to this file instead of standard output.")
@common
def plan(ctx: Context, year: int | None, fmt: str, out: str | None) -> int:
    """The year's plan: campaigns, deliveries by date, coverage and the agreement's checks."""
    from . import planview

    text = planview.render(ctx.root, year=year, fmt=fmt, clock=ctx.clock)
    if out:
        Path(out).write_text(text, encoding="utf-8")
        click.echo(f"wrote {out}")
    else:
        click.echo(text, nl=not text.endswith("\n"))
    return 0


@cli.command()
@click.option("--out", type=click.Path(file_okay=False), help="Write config.schema.json and campaign.schema.json here.")
@common
def schema(ctx: Context, out: str | None) -> int:
    """JSON Schema of config.yaml and of campaign files, for editors' completion."""
    from .schemas import schemas, write_schemas

    if out:
        for path in write_schemas(Path(out)):
            click.echo(f"wrote {path}")
    else:
        click.echo(json.dumps(schemas(), ensure_ascii=False, indent=2))
    return 0
