"""The command line: parses options and calls the core. Heavy modules are imported inside
each command, so ``samverkan --help`` and ``validate`` stay quick."""

from __future__ import annotations

import contextlib
import functools
import json
import sqlite3
import sys
from pathlib import Path
from typing import Any, Callable, Iterator

import click

from .i18n import _, language_for, set_language
from .problems import InvalidInput, SamverkanError


class Context:
    """What every command gets: the plan's folder and the clock."""

    def __init__(self, root: str | None, now: str | None):
        import os

        # Not through samverkan.loading: every command makes a Context, and loading brings
        # pydantic and the models, which --help and archive --verify never need.
        self.root: Path = Path(root or os.environ.get("SAMVERKAN_ROOT") or ".").resolve()
        self.now_text = now

    def clock(self, tz: Any) -> Any:
        from .timeutil import parse_now

        return parse_now(self.now_text, tz)


# $SAMVERKAN_ROOT is read by Context, after both places --root may be given.
_root_option = click.option("--root", type=click.Path(file_okay=False),
                            help="Folder holding config.yaml (default: $SAMVERKAN_ROOT or the current folder).")
_now_option = click.option("--now", metavar="ISO-DATETIME",
                           help="Pretend the clock shows this (local time unless an offset is given).")


def _ledger_path(ctx: Context) -> Path:
    """Where the plan's ledger is, as config.yaml says (its default if that does not load)."""
    from .loading import load_project

    config = load_project(ctx.root, campaigns=False).config
    return ctx.root / (config.state if config is not None else "state/samverkan.db")


def common(f: Callable[..., int | None]) -> Callable[..., None]:
    """``--root`` and ``--now`` on every command, and errors turned into exit codes here."""

    @_root_option
    @_now_option
    @functools.wraps(f)
    def wrapper(root: str | None, now: str | None, **kwargs: Any) -> None:
        # Given after the subcommand, an option wins over the same given before it.
        before = click.get_current_context().find_root().params
        root = root if root is not None else before.get("root")
        now = now if now is not None else before.get("now")
        context = Context(root, now)
        set_language(language_for(context.root, before.get("lang")))
        if now is not None:
            from datetime import datetime

            try:
                datetime.fromisoformat(now)
            except ValueError:
                raise click.BadParameter(_("'{now}' is not an ISO date and time, e.g. 2018-08-13T07:30").format(now=now),
                                         param_hint="--now")
        try:
            code = f(context, **kwargs)
        except InvalidInput as exc:
            for p in exc.problems:
                click.echo(str(p), err=True)
            code = 1
        except SamverkanError as exc:
            problem = getattr(exc, "problem", None)  # an error with a place says FILE:LINE:COL itself
            click.echo(str(problem()) if callable(problem) else _("error: {message}").format(message=exc), err=True)
            code = 1
        except sqlite3.Error as exc:  # the ledger went bad under a command: said, never a traceback
            from .ledger import ledger_trouble

            click.echo(_("error: {message}").format(message=ledger_trouble(exc, _ledger_path(context))), err=True)
            code = 1
        sys.exit(code or 0)

    return wrapper


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="samverkan")
@_root_option
@_now_option
@click.option("--lang", type=click.Choice(["sv", "en"]),
              help="The language of messages (default: $SAMVERKAN_LANG, else the plan's locale, else sv).")
def cli(root: str | None, now: str | None, lang: str | None) -> None:
    """Plan, preview and publish the joint public-safety communication of a municipality
    and the police. --root and --now may be given before the command or after it."""


def main() -> None:
    cli()


@cli.command()
@click.option("--strict", is_flag=True, help="Treat warnings as errors.")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@common
def validate(ctx: Context, strict: bool, fmt: str) -> int:
    """Check config.yaml, every campaign and every rendered message."""
    with _collector_paused():
        return _validate(ctx, strict, fmt)


@contextlib.contextmanager
def _collector_paused() -> Iterator[None]:
    """The cyclic collector paused for a command that ends when its work does: it would
    scan the libraries being imported and the plan being loaded again and again, and a
    plan and its checks make no reference cycles."""
    import gc

    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _validate(ctx: Context, strict: bool, fmt: str) -> int:
    from .validation import validate as run

    from .approvals import awaiting, summary_line

    report = run(ctx.root, strict=strict, clock=ctx.clock)
    waiting = awaiting(report.project, ctx.clock(report.project.tz)()) if report.ok else []
    if fmt == "json":
        data = report.as_dict()
        data["awaiting_approval"] = [{"message": a.message_id, "missing": a.missing} for a in waiting]
        click.echo(json.dumps(data, ensure_ascii=False, indent=2))
    else:
        for p in report.problems:  # one stream, so the order by file and line holds in a log
            click.echo(str(p), err=True)
        held = len(report.project.unchecked)
        line = _("{valid} campaign file(s) valid, {broken} with errors").format(
            valid=report.valid_files, broken=len(report.with_errors))
        if held:
            line += _(", {held} held back until config.yaml validates").format(held=held)
        counts = _("{errors} error(s), {warnings} warning(s)").format(errors=len(report.errors), warnings=len(report.warnings))
        if report.with_errors:
            click.echo(_("held, nothing of them published until they validate: {files}").format(
                files=", ".join(report.with_errors)), err=True)
        click.echo(f"{line}; {counts}", err=not report.ok)
        if waiting:
            click.echo(summary_line(waiting))
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
        try:
            Path(out).write_text(text, encoding="utf-8")
        except OSError as exc:
            raise SamverkanError(_("cannot write {file}: {why}").format(file=out, why=exc.strerror)) from None
        click.echo(_("wrote {file}").format(file=out))
    else:
        click.echo(text, nl=not text.endswith("\n"))
    return 0


@cli.command()
@click.option("--out", type=click.Path(file_okay=False), help="Write config.schema.json and campaign.schema.json here.")
@common
def schema(ctx: Context, out: str | None) -> int:
    """JSON Schema of config.yaml and of campaign files, for editors' completion: fitted
    to the plan's config (its channels, areas, bases and parties) when it loads."""
    from .schemas import plan_config, schemas, write_schemas

    config = plan_config(ctx.root)
    if config is None:
        click.echo(_("note: config.yaml did not load: the schemas are not fitted to its keys "
                     "(run samverkan validate)"), err=True)
    if out:
        for path in write_schemas(Path(out), config):
            click.echo(_("wrote {file}").format(file=path))
    else:
        click.echo(json.dumps(schemas(config), ensure_ascii=False, indent=2))
    return 0


def _date_range(from_: str, to: str) -> tuple[Any, Any]:
    """``--from`` and ``--to`` as dates, the last not before the first (else a usage error)."""
    from datetime import date

    try:
        first, last = date.fromisoformat(from_), date.fromisoformat(to)
    except ValueError as exc:
        raise click.BadParameter(f"{exc}; write dates as YYYY-MM-DD") from None
    if last < first:
        raise click.BadParameter(f"--to is before --from ({to} < {from_})", param_hint="--to")
    return first, last


def _day_bounds(first: Any, last: Any, tz: Any) -> tuple[Any, Any]:
    """From the start of day ``first`` to the end of day ``last`` in ``tz``."""
    from datetime import datetime, timedelta

    return (datetime.combine(first, datetime.min.time(), tz),
            datetime.combine(last + timedelta(days=1), datetime.min.time(), tz))


def _open(ctx: Context) -> tuple[Any, Any, Any]:
    """(project, ledger, clock) for the commands that touch the ledger."""
    from .ledger import Ledger
    from .loading import load_configured
    from .publishing import idempotent_publishers

    project = load_configured(ctx.root)
    assert project.config is not None
    clock = ctx.clock(project.tz)
    ledger = Ledger(ctx.root / project.config.state)
    ledger.reap(clock(), redo_publishers=idempotent_publishers(project))
    return project, ledger, clock


@cli.command()
@click.argument("target", metavar="DELIVERY-OR-MESSAGE")
@click.option("--channel", help="Only this channel (with a message).")
@click.option("--dry-run", is_flag=True, help="Render and show what would be sent; send nothing.")
@click.option("--force", is_flag=True,
              help="Publish even what the ledger says is already published, or what is under embargo.")
@common
def publish(ctx: Context, target: str, channel: str | None, dry_run: bool, force: bool) -> int:
    """Publish a message (all its channels) or one delivery now, by hand. A message that
    lacks an approval is held; public channels wait for an embargo to end."""
    from .publishing import Publishing
    from .selection import select

    from .approvals import checker
    from .publishing import Outcome

    project, ledger, clock = _open(ctx)
    with ledger:
        # By hand, nothing tells what went out before but the ledger: a damaged one could
        # hide a publication and send it twice, so it is checked whole first.
        ledger.check()
        now = clock()
        chosen = select(project, target, now, channel)
        publishing = Publishing(project, ledger, clock, approvals=checker(project, ledger))
        results = []
        for d in chosen:
            message = project.campaigns[d.campaign].message(d.message)
            due = message.due(now, d.channel) if message is not None else now  # later under embargo
            if due > now and not force and not dry_run:
                until = due.astimezone(project.tz)
                results.append(Outcome(d.id, "refused", f"under embargo until {until:%Y-%m-%d %H:%M}: the daemon "
                                       "publishes it then; --force lifts the embargo"))
                continue
            results.append(publishing.publish(d, force=force, dry_run=dry_run))
    for r in results:
        click.echo(str(r))
        if dry_run:
            for k, v in r.fields.items():
                click.echo(f"    {k}: {str(v)[:200]}")
    bad = [r for r in results if r.result not in ("published", "dry-run", "skipped")]
    return 1 if bad else 0


@cli.command()
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@common
def status(ctx: Context, fmt: str) -> int:
    """Upcoming, published, failed, unknown, missed and held deliveries."""
    from .status import format_text, status as build

    from .period import outside_note

    project, ledger, clock = _open(ctx)
    with ledger:
        s = build(project, ledger, clock())
    note = outside_note(project, s.now)
    if fmt == "json":
        data = s.as_dict()
        data["outside_period"] = note
        click.echo(json.dumps(data, ensure_ascii=False, indent=2))
    else:
        if note:
            click.echo(_("Note: {note}").format(note=note) + "\n")
        click.echo(format_text(s, project.tz), nl=False)
    return 0


@cli.command()
@click.argument("delivery")
@click.option("--as", "as_", type=click.Choice(["published", "failed"]),
              help="What you found out: it went out (published) or it did not (failed); with --recipient, "
                   "for that recipient of a press release.")
@click.option("--recipient", "recipients", multiple=True, metavar="ADDRESS",
              help="Settle only this uncertain recipient of a press release (may be given more than once).")
@click.option("--send-untried", is_flag=True,
              help="Send the press release now to everyone on the list not sent it yet; never to an uncertain one.")
@common
def resolve(ctx: Context, delivery: str, as_: str | None, recipients: tuple[str, ...], send_untried: bool) -> int:
    """Settle a delivery left unknown by a crash or a server that did not answer: as a whole,
    one recipient at a time, or by sending it on to those never tried."""
    from .settling import settle, send_untried as send_on, where_it_stands

    if as_ is None and not send_untried:
        raise click.UsageError(_("say what you found out with --as published|failed, or send on with --send-untried"))
    if recipients and as_ is None:
        raise click.UsageError("--recipient needs --as published|failed: did that recipient get it?")
    project, ledger, clock = _open(ctx)
    code = 0
    with ledger:
        if as_ is not None:
            for line in settle(ledger, delivery, as_, recipients, clock()):
                click.echo(line)
        if send_untried:
            outcome = send_on(project, ledger, clock, delivery)
            click.echo(str(outcome))
            for line in where_it_stands(ledger, delivery):
                click.echo(line)
            # unknown: the rest went out, and what is left is a person's word on the uncertain ones
            code = 0 if outcome.result in ("published", "unknown") else 1
    return code


@cli.command()
@click.argument("target", metavar="CAMPAIGN[/MESSAGE]")
@click.option("--party", required=True, help="The approving party's key in config.yaml (e.g. polisen).")
@click.option("--by", "by", required=True, metavar="NAME", help="Who approves, for the record.")
@click.option("--note", help="A note kept with the approval.")
@common
def approve(ctx: Context, target: str, party: str, by: str, note: str | None) -> int:
    """Record one party's approval of a message's current text (every message of a campaign
    without /MESSAGE). Editing the text afterwards voids it."""
    from .approvals import approve as record

    project, ledger, clock = _open(ctx)
    user = _os_user()
    with ledger:
        done = record(project, ledger, target, party, by, note, clock(), os_user=user)
    for a in done:
        rest = (_("still awaiting {parties}").format(parties=", ".join(a.missing)) if a.missing
                else _("approved by every party: it may be published"))
        click.echo(_("{message}: approved by {party} ({person}); {rest}").format(
            message=a.message_id, party=party, person=by, rest=rest))
    click.echo(_("recorded with the operating-system user {user}").format(user=user))
    return 0


def _os_user() -> str:
    """Who runs this command, for the record beside --by."""
    import getpass
    import os

    try:
        return getpass.getuser()
    except (OSError, KeyError):  # no login name and no password entry (a bare container)
        return f"uid {os.getuid()}"


@cli.command()
@click.option("--channel", help="Only this channel (default: every channel).")
@click.option("--reason", required=True, metavar="TEXT", help="Why: shown on status and the desk, kept in the ledger.")
@click.option("--by", "by", metavar="NAME", help="Who pauses, for the record (default: the operating-system user).")
@common
def pause(ctx: Context, channel: str | None, reason: str, by: str | None) -> int:
    """Stop publishing on one channel or all of them; what falls due meanwhile is held."""
    from .pauses import describe, pause as record

    project, ledger, clock = _open(ctx)
    user = _os_user()
    with ledger:
        p = record(ledger, channel, reason, by=by or user, way="cli", os_user=user, now=clock(),
                   channels=list(project.config.channels))
    click.echo(f"{describe(p, project.tz)}; a running daemon publishes nothing more there. "
               f"Start again with: samverkan resume{f' --channel {channel}' if channel else ''}")
    return 0


@cli.command()
@click.option("--channel", help="Only this channel's pause (default: every pause).")
@click.option("--by", "by", metavar="NAME", help="Who resumes, for the record (default: the operating-system user).")
@common
def resume(ctx: Context, channel: str | None, by: str | None) -> int:
    """Start publishing again: what fell due meanwhile goes out if within catch_up, else is missed."""
    from .pauses import resume as record

    project, ledger, clock = _open(ctx)
    user = _os_user()
    with ledger:
        ended = record(ledger, channel, by=by or user, way="cli", os_user=user, now=clock())
    for p in ended:
        click.echo(f"resumed {p.what} (paused by {p.by}: {p.reason}); held deliveries due within "
                   f"catch_up ({project.config.catch_up}) go out now, older ones are missed")
    return 0


@cli.command()
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.option("--all", "all_", is_flag=True, help="Also messages whose time has passed.")
@common
def approvals(ctx: Context, fmt: str, all_: bool) -> int:
    """Which upcoming messages wait for whose approval."""
    from datetime import datetime

    from .approvals import pending
    from .period import outside_note
    from .status import next_deliveries

    project, ledger, clock = _open(ctx)
    now = clock()
    with ledger:
        items = pending(project, ledger, None if all_ else now)
        history = ledger.approvals()
    # a repeated message at its next time, as status shows it
    upcoming = {} if all_ else next_deliveries(project, [a.message_id for a in items], now)
    note = outside_note(project, now)
    if fmt == "json":
        click.echo(json.dumps({"messages": [a.as_dict() for a in items], "approvals": history,
                               "outside_period": note}, ensure_ascii=False, indent=2))
        return 0
    if not project.config or not project.config.approving_parties:
        click.echo(_("approval is turned off (config.yaml approval: [])"))
    elif not any(a.missing or a.error for a in items):
        click.echo(_("nothing waits for approval"))
    if note:
        click.echo(_("Note: {note}").format(note=note))

    def local(at: str) -> str:
        return datetime.fromisoformat(at).astimezone(project.tz).strftime("%Y-%m-%d %H:%M")

    from .timeutil import utc

    for a in sorted(items, key=lambda a: (utc(upcoming.get(a.message_id, a.first_at)), a.message_id)):
        when = upcoming.get(a.message_id, a.first_at).astimezone(project.tz).strftime("%Y-%m-%d %H:%M")
        if a.error:
            click.echo(f"{when}  {a.message_id}  " + _("cannot be rendered, so not approved: {error}").format(error=a.error))
        elif a.missing:
            desk_only = project.config.approval_settings.desk_only if project.config else []
            cmds = "; ".join(_("{party} on the press desk").format(party=p) if p in desk_only else
                             f"samverkan approve {a.message_id} --party {p} --by NAME" for p in a.missing)
            awaiting = _("awaiting {parties}").format(parties=", ".join(a.missing))
            click.echo(f"{when}  {a.message_id}  {awaiting}\n      {cmds}")
            for p, c in a.changes.items():
                click.echo("      " + _("changes requested by {party} ({person}, {when}): {note}").format(
                    party=p, person=c["approved_by"], when=local(c["at"]), note=c["note"]))
        else:
            click.echo(f"{when}  {a.message_id}  " + _("approved"))
        for p, v in a.approvals.items():
            how = (_("desk") if v["way"] == "desk"
                   else _("cli, user {user}").format(user=v["os_user"] or _("not known")))
            click.echo("      " + _("approved by {party}: {person} ({how}), {when}").format(
                party=p, person=v["approved_by"], how=how, when=local(v["at"])))
    return 0

@cli.command()
@click.option("--once", is_flag=True, help="Publish what is due now, then exit.")
@click.option("--log-format", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.option("--poll", type=click.FloatRange(min=0.05), default=1.0, show_default=True,
              help="Seconds between looks for changed files and ledger changes.")
@common
def run(ctx: Context, once: bool, log_format: str, poll: float) -> int:
    """The daemon: publishes every delivery at its time (stop with SIGTERM or Ctrl-C)."""
    from datetime import datetime

    import scheduler

    from . import logs

    logs.setup(log_format)
    now = datetime.fromisoformat(ctx.now_text) if ctx.now_text else None
    return scheduler.main(ctx.root, once=once, now=now, poll=poll)


@cli.command()
@click.option("--from", "from_", required=True, metavar="DATE", help="First day (YYYY-MM-DD).")
@click.option("--to", "to", required=True, metavar="DATE", help="Last day, inclusive (YYYY-MM-DD).")
@click.option("--out", required=True, type=click.Path(file_okay=False), help="Folder for the feed, .eml files, Facebook JSON and the ledger.")
@click.option("--assume-approved", is_flag=True, help="Let messages that lack an approval through (and say how many).")
@common
def rehearse(ctx: Context, from_: str, to: str, out: str, assume_approved: bool) -> int:
    """Run the whole pipeline over a period with a simulated clock, into files."""
    from .loading import load_configured
    from .rehearsal import rehearse as run_rehearsal

    first, last = _date_range(from_, to)
    project = load_configured(ctx.root)
    for p in project.problems.errors:
        click.echo(str(p), err=True)
    tz = project.tz
    start, end = _day_bounds(first, last, tz)
    summary = run_rehearsal(project, start, end, Path(out), assume_approved=assume_approved)
    click.echo(summary.table(), nl=False)
    return 0 if all(o.result == "published" for o in summary.outcomes) else 1


@cli.command()
@click.argument("target", metavar="CAMPAIGN[/MESSAGE]", required=False)
@click.option("--channel", help="Only this channel.")
@click.option("--out", type=click.Path(file_okay=False), default="preview", show_default=True,
              help="Folder to write into (as OUT/CAMPAIGN/MESSAGE/CHANNEL/).")
@click.option("--open", "open_", is_flag=True, help="Open the first page written in the browser.")
@click.option("--serve", is_flag=True, help="Run a local web page of every upcoming message instead.")
@click.option("--port", type=click.IntRange(0, 65535), default=8000, show_default=True,
              help="Port for --serve on 127.0.0.1 (0: any free port).")
@common
def preview(ctx: Context, target: str | None, channel: str | None, out: str, open_: bool, serve: bool, port: int) -> int:
    """Write exactly what would be published (through the publishers' own code), or serve
    previews of every upcoming message with --serve."""
    from .loading import load_configured

    if serve:
        if target:
            raise click.UsageError(_("give either CAMPAIGN[/MESSAGE] or --serve, not both"))
        from .previewserver import serve as run_server

        run_server(ctx.root, port=port, now=ctx.now_text, echo=click.echo)
        return 0
    if not target:
        raise click.UsageError(_("name what to preview: CAMPAIGN or CAMPAIGN/MESSAGE (or use --serve)"))
    from .preview import preview as run

    project = load_configured(ctx.root)
    paths = run(project, target, channel=channel, out=Path(out), clock=ctx.clock(project.tz))
    for path in paths:
        click.echo(str(path))
    if open_ and paths:
        pages = [p for p in paths if p.suffix == ".html"] or paths
        click.launch(str(pages[0].resolve()))
    return 0


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on (keep it local behind a TLS proxy).")
@click.option("--port", type=click.IntRange(0, 65535), default=8080, show_default=True, help="Port to listen on (0: any free port).")
@click.option("--base-url", metavar="URL", help="Where people reach the desk (default: config.yaml desk.base_url).")
@common
def desk(ctx: Context, host: str, port: int, base_url: str | None) -> int:
    """The press desk: people sign in, preview, approve or ask for changes; operators pause."""
    from . import logs
    from .desk.server import serve

    logs.setup("text")
    serve(ctx.root, host=host, port=port, now=ctx.now_text, base_url=base_url, echo=click.echo)
    return 0


@cli.command()
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@common
def doctor(ctx: Context, fmt: str) -> int:
    """Check every channel (token, SMTP login, feed folder), the state folder and the alerts,
    without publishing anything; exit 1 if anything would fail."""
    from .doctor import doctor as run, load

    project = load(ctx.root)
    report = run(project, clock=ctx.clock(project.tz))
    if fmt == "json":
        click.echo(json.dumps(report.as_dict(), ensure_ascii=False, indent=2))
    else:
        click.echo(report.text(), nl=False)
    return 0 if report.ok else 1


@cli.command()
@click.option("--from", "from_", metavar="DATE", help="First day published (YYYY-MM-DD).")
@click.option("--to", "to", metavar="DATE", help="Last day published, inclusive (YYYY-MM-DD).")
@click.option("--out", type=click.Path(file_okay=False), help="A new or empty folder for the package.")
@click.option("--ledger", "ledger_path", type=click.Path(dir_okay=False),
              help="Export from this ledger file (e.g. a rehearsal's) instead of the plan's state.")
@click.option("--verify", "verify_dir", type=click.Path(file_okay=False), metavar="DIR",
              help="Check a package against its MANIFEST.sha256 instead of making one.")
@common
def archive(ctx: Context, from_: str | None, to: str | None, out: str | None, ledger_path: str | None,
            verify_dir: str | None) -> int:
    """Export everything published in a period, exactly as sent, with a SHA-256 manifest;
    or check such a package with --verify. Nothing is deleted from the ledger."""

    from . import archive as archiving

    if verify_dir:
        if from_ or to or out or ledger_path:
            raise click.UsageError("--verify DIR takes no --from, --to, --out or --ledger")
        problems = archiving.verify(Path(verify_dir))
        for p in problems:
            click.echo(p, err=True)
        if problems:
            click.echo(f"{verify_dir}: {len(problems)} problem(s); the package is not as it was exported", err=True)
            return 1
        click.echo(f"{verify_dir}: every file is as it was exported")
        return 0
    if not (from_ and to and out):
        raise click.UsageError(_("give --from DATE --to DATE --out DIR (or --verify DIR)"))
    first, last = _date_range(from_, to)
    from zoneinfo import ZoneInfo

    from .ledger import Ledger
    from .loading import CONFIG_FILE, load_config
    from .problems import Problems

    config = None
    if (ctx.root / CONFIG_FILE).exists() or not ledger_path:
        problems = Problems()
        config, _located, _raw = load_config(ctx.root, problems)
        if config is None:
            raise InvalidInput(problems.sorted())
    tz = ZoneInfo(config.timezone if config else "Europe/Stockholm")
    path = Path(ledger_path) if ledger_path else ctx.root / config.state  # type: ignore[union-attr]
    if not path.is_file():
        raise SamverkanError(_("no ledger at {path}").format(path=path))
    start, end = _day_bounds(first, last, tz)
    with Ledger(path) as ledger:
        done = archiving.export(ledger, start, end, Path(out), source=str(path))
    click.echo(_("archived {count} published deliveries ({files} files) into {out}; "
                 "check it with: samverkan archive --verify {out}").format(count=len(done.deliveries), files=done.files, out=out))
    return 0
