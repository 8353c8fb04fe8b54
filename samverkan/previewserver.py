"""``samverkan preview --serve``: a local web page for press staff.

The index lists every upcoming message by date; a message page shows what each of its
channels would publish, side by side, with the LIX figure and the content checks. Each
request loads the plan from disk again, so an edit shows on reload. Bound to 127.0.0.1
only, and answering only requests made for 127.0.0.1 or localhost at its port (421
otherwise, against DNS rebinding): the previews hold unpublished, possibly embargoed text.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from datetime import datetime
from html import escape
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable
from urllib.parse import parse_qs, quote, urlsplit

from .loading import LoadedCampaign, LoadedMessage, Project, load_project
from .problems import Problem

if TYPE_CHECKING:
    from .plan import Delivery

HOST = "127.0.0.1"
MAX_UPCOMING = 1000


# Readable without it: the page is headings, lists and paragraphs; this only lays them out.
STYLE = """
body{font-family:system-ui,Arial,sans-serif;margin:0;color:#1a1a1a;background:#f6f6f6;line-height:1.45}
header,main,nav{max-width:1400px;margin:0 auto;padding:0 16px}
header{padding-top:12px}
a{color:#0b4f8a}
.problems{background:#fdecea;border:2px solid #b3261e;padding:8px 16px;margin:16px 0}
.warnings{background:#fff8e1;border:2px solid #8a6d00;padding:8px 16px;margin:16px 0}
.problems code,.warnings code{font-weight:bold}
.day{margin:0;padding:0;list-style:none}
.day li{background:#fff;border:1px solid #ddd;margin:4px 0;padding:6px 10px}
.channels{display:grid;grid-template-columns:repeat(auto-fit,minmax(380px,1fr));gap:16px;align-items:start}
.channel{background:#fff;border:1px solid #ccc;padding:8px 16px 16px}
.channel iframe{width:100%;height:900px;border:1px solid #ccc;background:#fff}
.fb-post{border:1px solid #dadde1;border-radius:8px;padding:12px;max-width:500px;background:#fff;font-family:Helvetica,Arial,sans-serif}
.fb-post .text{white-space:pre-wrap;margin:8px 0}
.fb-post img{width:100%;height:auto}
.rss-item{border-left:4px solid #f26522;padding:4px 12px}
pre{white-space:pre-wrap;background:#f3f3f3;padding:8px;overflow:auto}
.lix{font-weight:bold}
.approvals{background:#fff;border:1px dashed #888;padding:8px 16px;margin:16px 0}
"""


def _page(title: str, body: str) -> str:
    return (
        '<!DOCTYPE html>\n<html lang="sv">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{escape(title)} – samverkan</title>\n<style>{STYLE}</style>\n</head>\n"
        f"<body>\n{body}\n</body>\n</html>\n"
    )


def _problem_list(problems: list[Problem]) -> str:
    items = "".join(
        f"<li><code>{escape(p.file)}:{p.line}:{p.col}</code>: {escape(p.severity)}: {escape(p.message)}</li>"
        for p in problems
    )
    return f"<ul>{items}</ul>"


def _problems_panel(problems: list[Problem], title: str, intro: str, ident: str) -> str:
    errors = [p for p in problems if p.severity == "error"]
    warnings = [p for p in problems if p.severity != "error"]
    out = ""
    if errors:
        out += (f'<section class="problems" role="alert" aria-labelledby="{ident}">'
                f'<h2 id="{ident}">{escape(title)}</h2><p>{escape(intro)}</p>{_problem_list(errors)}</section>')
    if warnings:
        out += (f'<section class="warnings" aria-labelledby="{ident}-w"><h2 id="{ident}-w">Varningar</h2>'
                f"{_problem_list(warnings)}</section>")
    return out


def upcoming_list(project: Project, rows: list[tuple[str, str, datetime, list[str]]],
                  extra: Callable[[str, str], str] = lambda campaign, message: "") -> str:
    """The upcoming messages by day, each with its time, title, campaign and channels, and
    ``extra(campaign, message)`` after them (the desk adds the approvals' state)."""
    from .rendering import format_date, format_time

    if not rows:
        return "<p>Inga kommande meddelanden.</p>"
    out, day = [], None
    for ckey, mkey, at, channels in rows:
        local = at.astimezone(project.tz)
        if local.date() != day:
            if day is not None:
                out.append("</ul>")
            day = local.date()
            out.append(f'<h3>{escape(format_date(project, local).capitalize())}</h3><ul class="day">')
        campaign = project.campaigns[ckey]
        message = campaign.message(mkey)
        title = message.model.title if message else mkey
        href = f"/m/{quote(ckey)}/{quote(mkey)}?at={quote(at.isoformat())}"
        out.append(
            f'<li><time datetime="{at.isoformat()}">{escape(format_time(project, local))}</time> '
            f'<a href="{escape(href)}">{escape(title)}</a> '
            f"<span>– {escape(campaign.model.title)}; kanaler: {escape(', '.join(channels))}</span>"
            f"{extra(ckey, mkey)}</li>"
        )
    out.append("</ul>")
    return "".join(out)


def message_facts(project: Project, campaign: Any, message: Any, when: datetime) -> str:
    """The paragraph under a message's title: its campaign and file, when it goes out, its
    embargo and how often it repeats (the preview page's and the desk's)."""
    from .rendering import format_datetime

    out = [f"<p>Kampanj: {escape(campaign.model.title)} ({escape(campaign.file)})<br>"
           f'Publiceras: <time datetime="{when.isoformat()}">{escape(format_datetime(project, when))}</time>']
    if message.embargo and message.embargo > when:
        out.append(f"<br><strong>Embargo till {escape(format_datetime(project, message.embargo))}</strong>")
    if len(message.times) > 1:
        out.append(f"<br>Upprepas: {len(message.times)} gånger")
    out.append("</p>")
    return "".join(out)


@dataclass
class App:
    """The pages, each built from a fresh load of the plan."""

    root: Path
    now_text: str | None = None

    def load(self) -> tuple[Project, datetime]:
        from .timeutil import parse_now

        project = load_project(self.root)
        return project, parse_now(self.now_text, project.tz)()

    # --- index ---------------------------------------------------------------------------

    def index(self) -> tuple[int, str]:
        from .plan import deliveries

        from .contentchecks import check_content

        project, now = self.load()
        # validate's errors, the content checks' too (an alt text missing, a personal
        # identity number): each of them holds its campaign
        found = [*project.problems, *check_content(project)]
        errors = sorted({p for p in found if p.severity == "error"})
        body = ["<header><h1>Kommande meddelanden</h1>"]
        if project.config is not None:
            body.append(f"<p>{escape(project.config.agreement.title)}</p>")
        body.append(f"<p>Nu: <time datetime=\"{now.isoformat()}\">{escape(now.strftime('%Y-%m-%d %H:%M'))}</time>. "
                    "Sidan visar planen som den ser ut på disk; ladda om efter en ändring.</p></header><main>")
        from .period import outside_note

        note = outside_note(project, now)
        if note:  # with the real clock the sample agreement shows nothing: say why
            body.append(f'<p role="note"><strong>{escape(note)}</strong> (samverkan preview --serve --now …)</p>')
        if errors:
            body.append(_problems_panel(
                errors, "Fel i planen",
                "Kampanjerna med fel publiceras inte förrän felen är rättade (kör samverkan validate).", "problems"))
        if project.config is None:
            body.append("</main>")
            return HTTPStatus.OK, _page("Kommande meddelanden", "\n".join(body))
        # one row per message and time, with its channels
        rows: dict[tuple[str, str, datetime], list[str]] = {}
        for d in deliveries(project, start=now):
            rows.setdefault((d.campaign, d.message, d.at), []).append(d.channel)
        body.append('<section aria-labelledby="upcoming"><h2 id="upcoming">Per datum</h2>')
        shown = [(ckey, mkey, at, channels) for (ckey, mkey, at), channels in rows.items()][:MAX_UPCOMING]
        body.append(upcoming_list(project, shown))
        if len(rows) > MAX_UPCOMING:
            body.append(f"<p>… och {len(rows) - MAX_UPCOMING} till.</p>")
        body.append("</section></main>")
        return HTTPStatus.OK, _page("Kommande meddelanden", "\n".join(body))

    # --- one message ---------------------------------------------------------------------

    def message(self, ckey: str, mkey: str, at_text: str | None) -> tuple[int, str]:
        from .contentchecks import check_message
        from .plan import occurrence_deliveries
        from .preview import occurrence

        project, now = self.load()
        back = '<nav><p><a href="/">← Alla kommande meddelanden</a></p></nav>'
        if ckey in project.broken:
            file = project.broken[ckey]
            problems = [p for p in project.problems.sorted() if p.file == file]
            broken = back + "<main><h1>Kampanjen har fel</h1>" + _problems_panel(
                problems, f"Fel i {file}", "Rätta felen och ladda om sidan.", "problems") + "</main>"
            return HTTPStatus.OK, _page("Kampanjen har fel", broken)
        campaign = project.campaigns.get(ckey)
        message = campaign.message(mkey) if campaign else None
        if campaign is None or message is None:
            return HTTPStatus.NOT_FOUND, _page("Hittades inte", back + f"<main><h1>Inget meddelande {escape(ckey)}/{escape(mkey)}</h1></main>")
        picked = occurrence(message, now)
        if picked is None:  # not in a valid plan: the loader reports a message with no times
            return HTTPStatus.NOT_FOUND, _page("Hittades inte", back + f"<main><h1>{escape(ckey)}/{escape(mkey)} skickas aldrig</h1></main>")
        if at_text:
            try:
                wanted = datetime.fromisoformat(at_text)
            except ValueError:
                wanted = None
            # The index links each delivery's own time: an embargoed message's public
            # channels are listed at the embargo.
            picked = next((ts for ts in message.times
                           if wanted in {ts[0], *(message.due(ts[0], c) for c in message.channels)}), picked)
        when, suffix = picked
        body = [back, f"<header><h1>{escape(message.model.title)}</h1>", message_facts(project, campaign, message, when),
                "</header><main>"]
        body.append(_problems_panel(check_message(project, campaign, message), "Fel som stoppar publiceringen",
                                    "Rätta felen i filen och ladda om sidan.", "problems"))
        body.append('<div class="channels">')
        for delivery in occurrence_deliveries(campaign, message, when, suffix):
            body.append(self.channel(project, delivery, when))
        body.append("</div>")
        body.append(approvals_section(project, campaign, message))
        body.append("</main>")
        return HTTPStatus.OK, _page(message.model.title, "\n".join(body))

    def channel(self, project: Project, delivery: Delivery, when: datetime) -> str:
        """One channel's preview of ``delivery``; ``when`` is the time the page is about."""
        from .contentchecks import lix
        from .preview import build
        from .problems import SamverkanError
        from .rendering import RenderError, format_datetime

        channel = delivery.channel
        settings = project.channel_settings.get(channel)
        kind = settings.publisher if settings is not None else "?"
        ident = f"ch-{escape(channel)}"
        head = (f'<section class="channel" aria-labelledby="{ident}">'
                f'<h2 id="{ident}">{escape(channel)} <small>({escape(_label(kind))})</small></h2>')
        try:
            rendered, payload = build(project, delivery)
        except RenderError as exc:
            return head + _problems_panel([exc.problem()], "Kan inte visas", "Mallen eller texten har fel:", f"{ident}-err") + "</section>"
        except SamverkanError as exc:
            return head + f'<div class="problems" role="alert"><p>{escape(str(exc))}</p></div></section>'
        figure = lix(f"{rendered.title}\n{rendered.body_text}")
        assert project.config is not None  # a message is only found in a plan whose config validates
        limit = project.config.checks.lix_max
        out = [head]
        if delivery.at != when:
            out.append(f'<p>Publiceras här: <time datetime="{delivery.at.isoformat()}">'
                       f"{escape(format_datetime(project, delivery.at))}</time> (när embargot upphör)</p>")
        out.append(f'<p>LIX <span class="lix">{figure:.0f}</span> (gräns {limit:g}; under 40 är lättläst)</p>')
        out.append(self.show(rendered, channel))
        out.append("<details><summary>Det som skickas (payload)</summary>"
                   f"<pre>{escape(json.dumps(payload.fields, ensure_ascii=False, indent=2, default=str))}</pre></details>")
        out.append("</section>")
        return "".join(out)

    def show(self, r: Any, channel: str) -> str:
        """Each channel as its readers see it, told apart by the parts its publisher renders:
        a subject and an HTML body is an e-mail, a text alone a post, HTML alone a page."""
        from .rendering import inline_images

        parts = set(r.parts)
        if {"subject", "html"} <= parts:
            page = inline_images(r.parts.get("html", ""), r)
            return (f"<p><strong>Ämne:</strong> {escape(r.parts.get('subject', r.title))}</p>"
                    f'<iframe title="Pressmeddelandet som e-post ({escape(channel)})" srcdoc="{escape(page, quote=True)}"></iframe>'
                    f"<details><summary>Textversionen</summary><pre>{escape(r.parts.get('text', ''))}</pre></details>")
        if parts == {"text"}:
            text = r.parts.get("text", "")
            image = ""
            if r.image is not None:
                src = inline_images(f"cid:{r.image.cid}", r)
                image = f'<img src="{escape(src, quote=True)}" alt="{escape(r.image.alt, quote=True)}">'
            link = f'<p>Länk: <a href="{escape(r.link, quote=True)}">{escape(r.link)}</a></p>' if r.link else ""
            return (f'<article class="fb-post" aria-label="Facebookinlägget"><p><strong>{escape(channel)}</strong></p>'
                    f'<div class="text">{escape(text)}</div>{image}{link}</article>'
                    f"<p>{len(text)} tecken.</p>")
        if parts == {"html"}:
            link = f'<p>Länk: <a href="{escape(r.link, quote=True)}">{escape(r.link)}</a></p>' if r.link else ""
            # In a frame of its own, as a feed reader shows it: its headings and styles
            # stay out of this page's outline.
            item = _page(r.title, f"<h1>{escape(r.title)}</h1>{r.parts.get('html', '')}")
            return (f'<article class="rss-item" aria-label="RSS-posten">{link}'
                    f'<iframe title="RSS-posten ({escape(channel)})" srcdoc="{escape(item, quote=True)}"></iframe></article>')
        return "".join(f"<h3>{escape(name)}</h3><pre>{escape(text)}</pre>" for name, text in r.parts.items())


def approvals_section(project: Project, campaign: LoadedCampaign, message: LoadedMessage) -> str:
    """Who has approved this text, who has not, and the command each party runs."""
    from .approvals import approval_of, required_parties
    from .ledger import Ledger

    head = '<section class="approvals" id="approvals" aria-labelledby="approvals-h"><h2 id="approvals-h">Godkännanden</h2>'
    if not required_parties(project, campaign):
        return head + "<p>Godkännande krävs inte (config.yaml: <code>approval: []</code>).</p></section>"
    assert project.config is not None
    names = {k: p.name for k, p in project.config.agreement.parties.items()}
    state = project.root / project.config.state
    if state.exists():
        with Ledger(state) as ledger:
            a = approval_of(project, ledger, campaign, message)
            history = ledger.approvals(a.message_id)
        approved, missing = a.approved, a.missing
    else:
        history, approved, missing = [], [], required_parties(project, campaign)
    out = [head, "<ul>"]
    for party in approved:
        who = next((h for h in reversed(history) if h["party"] == party), None)
        by = f" av {escape(who['approved_by'])} {escape(who['at'][:16].replace('T', ' '))} UTC" if who else ""
        out.append(f"<li>{escape(names.get(party, party))}: godkänt{by}</li>")
    for party in missing:
        cmd = f'samverkan approve {campaign.key}/{message.key} --party {party} --by "Ditt namn"'
        out.append(f"<li>{escape(names.get(party, party))}: <strong>väntar</strong> – godkänn med "
                   f"<code>{escape(cmd)}</code></li>")
    out.append("</ul>")
    if missing:
        out.append("<p>Meddelandet hålls inne tills alla parter har godkänt den här texten. "
                   "Ändras texten efter ett godkännande måste den godkännas igen.</p>")
    return "".join(out) + "</section>"


def _label(kind: str) -> str:
    from publishers.base import get

    try:
        return str(getattr(get(kind), "label", kind))
    except KeyError:
        return kind


class _Handler(BaseHTTPRequestHandler):
    server: Any
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:  # noqa: N802 (the standard library's name)
        self._respond(send_body=True)

    def do_HEAD(self) -> None:  # noqa: N802
        self._respond(send_body=False)

    def _respond(self, *, send_body: bool) -> None:
        app: App = self.server.app
        if not self._host_is_ours():
            # A page elsewhere can point a name of its own at 127.0.0.1 (DNS rebinding) and
            # read what it gets back: only requests made for this address get previews.
            ours = " eller ".join(f"http://{h}/" for h in allowed_hosts(self.server))
            self._send(HTTPStatus.MISDIRECTED_REQUEST, _page("Fel adress", (
                "<main><h1>Fel adress</h1><p>Förhandsvisningen svarar bara på "
                f"{escape(ours)}.</p></main>")), send_body)
            return
        url = urlsplit(self.path)
        parts = [p for p in url.path.split("/") if p]
        try:
            if not parts:
                status, page = app.index()
            elif parts[0] == "m" and len(parts) == 3:
                from urllib.parse import unquote

                at = parse_qs(url.query).get("at", [None])[0]
                status, page = app.message(unquote(parts[1]), unquote(parts[2]), at)
            else:
                status, page = HTTPStatus.NOT_FOUND, _page("Hittades inte", '<main><h1>Hittades inte</h1><p><a href="/">Till listan</a></p></main>')
        except Exception as exc:  # a preview must say what broke, not drop the connection
            status = HTTPStatus.INTERNAL_SERVER_ERROR
            page = _page("Fel", f'<main><h1>Förhandsvisningen misslyckades</h1><div class="problems" role="alert"><p>{escape(type(exc).__name__)}: {escape(str(exc))}</p></div></main>')
        self._send(status, page, send_body)

    def _host_is_ours(self) -> bool:
        host = self.headers.get("Host")
        return host is not None and host.strip().lower() in allowed_hosts(self.server)

    def _send(self, status: int, page: str, send_body: bool) -> None:
        data = page.encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        if send_body:
            self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # the URL is printed once at start; per-request lines would drown it


def make_server(root: Path, port: int = 8000, now: str | None = None) -> ThreadingHTTPServer:
    """A preview server on 127.0.0.1:``port`` (0: a free port), not yet serving."""
    server = ThreadingHTTPServer((HOST, port), _Handler)
    server.daemon_threads = True
    server.app = App(Path(root), now)  # type: ignore[attr-defined]
    return server


def allowed_hosts(server: ThreadingHTTPServer) -> list[str]:
    """The Host headers the server answers: the address it is bound to and ``localhost``,
    with the port (and without it on port 80)."""
    address, port = server.server_address[:2]
    host = address.decode() if isinstance(address, (bytes, bytearray)) else str(address)
    bound = f"[{host}]" if ":" in host else host
    names: list[str] = [bound, "localhost"]
    return [f"{n}:{port}" for n in names] + (names if port == 80 else [])


def url_of(server: ThreadingHTTPServer) -> str:
    return f"http://{HOST}:{server.server_address[1]}/"


def serve(root: Path, port: int = 8000, now: str | None = None, echo: Callable[[str], Any] = print,
          ready: threading.Event | None = None) -> None:
    """Serve until interrupted (Ctrl+C)."""
    from .problems import SamverkanError

    try:
        server = make_server(root, port, now)
    except OSError as exc:
        raise SamverkanError(f"cannot listen on {HOST}:{port}: {exc.strerror}; try another --port") from None
    echo(f"serving previews at {url_of(server)} (Ctrl+C stops)")
    if ready is not None:
        ready.set()
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
