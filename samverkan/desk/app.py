"""The desk's web application (Flask): routes, sign-in, CSRF, the host check.

Every request loads the plan again (only what changed is read: a
:class:`~samverkan.loading.LoadCache`), so the desk shows the files as they are on disk, as
the daemon publishes them. Who may do what is read from config.yaml on every request too:
a person removed from ``people:`` is signed out at once.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from datetime import datetime
from html import escape
from pathlib import Path
from typing import Any, Callable, Mapping
from urllib.parse import quote, urlsplit

from flask import Flask, Response, g, redirect, request
from werkzeug.wrappers import Response as AnyResponse  # what redirect() gives, too

from ..ledger import Ledger
from ..loading import LoadCache, LoadedCampaign, LoadedMessage, Project, load_project
from ..people import Member, find
from ..problems import SamverkanError
from . import auth, pages

log = logging.getLogger("samverkan")

SESSION_COOKIE = "samverkan_session"
CSRF_COOKIE = "samverkan_csrf"
LOOPBACK = {"127.0.0.1", "localhost", "::1"}
MAX_UPCOMING = 1000


def _event(kind: str, text: str, level: int = logging.INFO) -> None:
    """One log line per sign-in, sign-out, refusal and act; never a token."""
    log.log(level, "%s", text, extra={"event": kind, "delivery": "", "detail": text})


@dataclass
class Desk:
    """What the application keeps between requests."""

    root: Path
    clock: Callable[[], datetime]
    base_url: str
    env: Mapping[str, str] | None = None
    bind_host: str = "127.0.0.1"
    cache: LoadCache = field(default_factory=LoadCache)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    ledger: Ledger | None = None

    def load(self) -> Project:
        with self._lock:  # the cache is one reader's
            project = load_project(self.root, self.cache)
        if self.ledger is None and project.config is not None:
            self.ledger = Ledger(self.root / project.config.state)
        return project

    @property
    def secure(self) -> bool:
        """Cookies only over TLS when the desk is reached over TLS (its base_url)."""
        return self.base_url.startswith("https:")

    def allowed_hosts(self) -> set[str]:
        """The host names the desk answers for: its base_url's, and the loopback names
        when it listens there (a DNS name pointed at it by someone else is refused)."""
        hosts = {(urlsplit(self.base_url).hostname or "").lower()}
        if self.bind_host in LOOPBACK:
            hosts |= LOOPBACK
        return hosts

    def close(self) -> None:
        if self.ledger is not None:
            self.ledger.close()


def _host_name(header: str) -> str:
    if header.startswith("["):  # [::1]:8080
        return header[1:].split("]", 1)[0].lower()
    return header.rsplit(":", 1)[0].lower() if header.count(":") == 1 else header.lower()


def _safe_next(value: str | None) -> str:
    """Only a path on this site (never //elsewhere or https://elsewhere)."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return "/"
    return value


def create_app(root: Path, *, clock: Callable[[], datetime], base_url: str | None = None,
               env: Mapping[str, str] | None = None, bind_host: str = "127.0.0.1") -> Flask:
    """The desk for the plan in ``root``. ``base_url`` overrides config.yaml's desk.base_url."""
    from ..loading import load_configured

    project = load_configured(root)
    assert project.config is not None
    if project.config.desk is None and base_url is None:
        raise SamverkanError("config.yaml has no desk: section; add desk: {base_url: https://..., channel: "
                             "A-MAILER-CHANNEL} (the address people reach the desk at, and the channel that mails them)")
    url = (base_url or project.config.desk.base_url).rstrip("/")  # type: ignore[union-attr]
    desk = Desk(Path(root), clock, url, env, bind_host)
    desk.load()
    app = Flask("samverkan.desk")
    app.config.update(MAX_CONTENT_LENGTH=64 * 1024)
    app.extensions["samverkan_desk"] = desk
    # One request at a time: the loaded plan and the renderer's caches are shared, and the
    # core is written for one thread. A page takes milliseconds; the desk has a few users.
    # waitress's threads still read requests and write answers in parallel.
    serial = threading.Lock()
    inner = app.wsgi_app

    def one_at_a_time(environ: Any, start_response: Any) -> Any:
        with serial:
            return inner(environ, start_response)

    app.wsgi_app = one_at_a_time  # type: ignore[method-assign]

    def now() -> datetime:
        return desk.clock()

    def names(project: Project) -> dict[str, str]:
        assert project.config is not None
        return {k: p.short_name for k, p in project.config.agreement.parties.items()}

    def render(title: str, main: str, status: int = 200) -> Response:
        from ..pauses import active

        project: Project = g.project
        assert desk.ledger is not None
        # The pauses to the signed-in only: a reason may say more than a stranger should read.
        shown = active(desk.ledger) if g.member is not None else []
        html = pages.page(title, main, member=g.member, csrf=g.csrf, pauses=shown, tz=project.tz,
                          party_names=names(project) if project.config else {})
        return Response(html, status=status, mimetype="text/html")

    def refuse(status: int, why: str, shown: str) -> Response:
        who = g.member.email if getattr(g, "member", None) else "not signed in"
        # a sign-in link's path is its token: never in the log, where it would let its reader in
        path = "/login/…" if request.path.startswith("/login/") else request.path
        _event("desk_refused", f"desk refused {request.method} {path} ({who}): {why}", logging.WARNING)
        return render("Nekad", f'<h1>Det gick inte</h1>{pages.message_note(None, shown)}<p><a href="/">Till startsidan</a></p>', status)

    @app.before_request
    def guard() -> Response | None:
        g.member, g.csrf, g.new_secret = None, "", None
        host = _host_name(request.host or "")
        if host not in desk.allowed_hosts():
            _event("desk_refused", f"desk refused a request for the host '{host[:100]}' (not {urlsplit(desk.base_url).hostname})",
                   logging.WARNING)
            return Response("Unknown host: this desk answers only for its own address.\n", status=421, mimetype="text/plain")
        g.project = desk.load()
        if g.project.config is None:
            return Response("config.yaml does not validate; run samverkan validate\n", status=503, mimetype="text/plain")
        assert desk.ledger is not None
        g.session = request.cookies.get(SESSION_COOKIE)
        if g.session:
            email = auth.session_email(desk.ledger, g.session, now())
            g.member = find(g.project.config, email) if email else None
        secret = g.session if g.member is not None else request.cookies.get(CSRF_COOKIE)
        if request.method == "POST" and not auth.csrf_ok(secret, request.form.get("csrf")):
            g.csrf = auth.csrf_token(secret) if secret else ""
            if not secret:
                g.new_secret = auth.new_secret()
                g.csrf = auth.csrf_token(g.new_secret)
            return refuse(403, "no valid CSRF token", "Formuläret är för gammalt eller kom från en annan webbplats. "
                          "Ladda om sidan och försök igen.")
        if not secret:
            g.new_secret = secret = auth.new_secret()
        g.csrf = auth.csrf_token(secret)
        return None

    @app.after_request
    def headers(resp: Response) -> Response:
        if getattr(g, "new_secret", None):
            resp.set_cookie(CSRF_COOKIE, g.new_secret, httponly=True, samesite="Lax", secure=desk.secure, path="/")
        resp.headers["Cache-Control"] = "no-store"
        resp.headers["Referrer-Policy"] = "no-referrer"  # a sign-in link's token never leaves in a Referer
        resp.headers["X-Content-Type-Options"] = "nosniff"
        resp.headers["X-Frame-Options"] = "DENY"
        resp.headers["Content-Security-Policy"] = (
            "default-src 'none'; style-src 'unsafe-inline'; img-src data: https:; frame-src 'self'; "
            "form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
        return resp

    def signed_in() -> AnyResponse | None:
        if g.member is None:
            return redirect("/login?next=" + quote(request.full_path.rstrip("?")), 303)
        return None

    # --- signing in and out -----------------------------------------------------------

    @app.get("/login")
    def login_form() -> AnyResponse:
        return render("Logga in", pages.login(g.csrf, _safe_next(request.args.get("next"))))

    @app.post("/login")
    def login_request() -> AnyResponse:
        project: Project = g.project
        assert project.config is not None and desk.ledger is not None
        email = (request.form.get("email") or "").strip().lower()
        next_path = _safe_next(request.form.get("next"))
        if "@" not in email or len(email) > 254:
            return render("Logga in", pages.login(g.csrf, next_path, error="Skriv en e-postadress, till exempel namn@kommun.se."), 400)
        person = find(project.config, email)
        try:
            token = auth.request_link(desk.ledger, email, now(), known=person is not None)
        except auth.RateLimited:
            _event("desk_refused", f"desk refused a sign-in link for {email}: too many asked for within 15 minutes", logging.WARNING)
            return render("Logga in", pages.login(g.csrf, next_path, error="För många inloggningslänkar har begärts för "
                                                  "den adressen. Vänta en kvart och försök igen."), 429)
        if person is None or token is None:
            _event("desk_refused", f"desk: no sign-in link for {email}: not among config.yaml's people", logging.WARNING)
        else:
            link = f"{desk.base_url}/login/{token}" + (f"?next={quote(next_path)}" if next_path != "/" else "")
            try:
                where = _mail_link(project, person, link, desk.env)
            except Exception as exc:  # the mail server's trouble: say so, keep the desk up
                _event("desk_mail_failed", f"desk could not mail a sign-in link to {email}: {exc}", logging.ERROR)
                return render("Logga in", pages.login(g.csrf, next_path, error="Länken kunde inte skickas just nu. "
                                                      "Försök igen om en stund."), 503)
            _event("desk_link", f"desk sign-in link for {email}: {where}")
        return render("Kolla din e-post", pages.login(
            g.csrf, next_path, notice="Om adressen hör till någon av pressdeskens användare har vi skickat en "
            "inloggningslänk dit. Den gäller i 15 minuter och kan användas en gång."))

    @app.get("/login/<token>")
    def login_link(token: str) -> AnyResponse:
        assert desk.ledger is not None
        # Not used up by looking: mail scanners open links before people do.
        why = auth.check_link(desk.ledger, token, now())
        return render("Logga in", pages.confirm_link(g.csrf, token, _safe_next(request.args.get("next")), why),
                      200 if why is None else 400)

    @app.post("/login/<token>")
    def login_use(token: str) -> AnyResponse:
        project: Project = g.project
        assert project.config is not None and desk.ledger is not None
        email, why = auth.use_link(desk.ledger, token, now())
        person = find(project.config, email) if email else None
        if person is None:
            _event("desk_refused", f"desk refused a sign-in link: {why or 'the person is no longer in config.yaml'}", logging.WARNING)
            return render("Länken gäller inte", pages.confirm_link(g.csrf, token, "/", why or "unknown"), 400)
        session = auth.open_session(desk.ledger, person.email, now())
        _event("desk_signin", f"desk: {person.email} ({person.party}, {person.role}) signed in")
        resp = redirect(_safe_next(request.form.get("next")), 303)
        resp.set_cookie(SESSION_COOKIE, session, httponly=True, samesite="Lax", secure=desk.secure, path="/")
        return resp

    @app.post("/logout")
    def logout() -> AnyResponse:
        assert desk.ledger is not None
        if g.session:
            auth.close_session(desk.ledger, g.session, now())
        if g.member is not None:
            _event("desk_signout", f"desk: {g.member.email} signed out")
        resp = redirect("/login", 303)
        resp.delete_cookie(SESSION_COOKIE, path="/", secure=desk.secure, httponly=True, samesite="Lax")
        return resp

    # --- the pages ----------------------------------------------------------------------

    @app.get("/")
    def index() -> AnyResponse:
        if (away := signed_in()) is not None:
            return away
        from ..approvals import pending
        from ..pauses import active
        from ..plan import deliveries
        from ..previewserver import _problems_panel

        project: Project = g.project
        assert project.config is not None and desk.ledger is not None
        at = now()
        body = [f"<h1>Kommande meddelanden</h1><p>{escape(project.config.agreement.title)}</p>",
                f'<p>Nu: <time datetime="{at.isoformat()}">{escape(at.astimezone(project.tz).strftime("%Y-%m-%d %H:%M"))}</time>.</p>',
                pages.message_note(request.args.get("notice"), None)]
        from ..period import outside_note

        if note := outside_note(project, at):
            body.append(f'<p role="note"><strong>{escape(note)}</strong></p>')
        errors = [p for p in project.problems.sorted() if p.severity == "error"]
        if errors:
            body.append(_problems_panel(errors, "Fel i planen", "Kampanjerna med fel publiceras inte förrän felen är rättade.", "problems"))
        if g.member.operates:
            body.append(pages.pause_forms(g.csrf, list(project.config.channels), active(desk.ledger)))
        rows: dict[tuple[str, str, datetime], list[str]] = {}
        for d in deliveries(project, start=at):
            if len(rows) >= MAX_UPCOMING and (d.campaign, d.message, d.at) not in rows:
                break
            rows.setdefault((d.campaign, d.message, d.at), []).append(d.channel)
        approvals = {a.message_id: a for a in pending(project, desk.ledger, at)} if project.config.approving_parties else {}
        body.append('<section aria-labelledby="upcoming"><h2 id="upcoming">Per datum</h2>')
        body.append(pages.upcoming_list(project, [(c, m, t, ch) for (c, m, t), ch in rows.items()], approvals, names(project)))
        body.append("</section>")
        return render("Kommande meddelanden", "".join(body))

    def found(ckey: str, mkey: str) -> tuple[LoadedCampaign, LoadedMessage] | None:
        campaign = g.project.campaigns.get(ckey)
        message = campaign.message(mkey) if campaign else None
        return (campaign, message) if campaign is not None and message is not None else None

    @app.get("/m/<ckey>/<mkey>")
    def message_page(ckey: str, mkey: str) -> AnyResponse:
        if (away := signed_in()) is not None:
            return away
        return _message(ckey, mkey, request.args.get("at"))

    def _message(ckey: str, mkey: str, at_text: str | None, *, notice: str | None = None, error: str | None = None,
                 status: int = 200) -> Response:
        from ..approvals import approval_of
        from ..contentchecks import check_message
        from ..plan import occurrence_deliveries
        from ..preview import occurrence
        from ..previewserver import App as Preview, _problems_panel
        from ..previewserver import message_facts

        project: Project = g.project
        assert desk.ledger is not None
        back = '<p><a href="/">← Alla kommande meddelanden</a></p>'
        if ckey in project.broken:
            file = project.broken[ckey]
            problems = [p for p in project.problems.sorted() if p.file == file]
            return render("Kampanjen har fel", back + "<h1>Kampanjen har fel</h1>" + _problems_panel(
                problems, f"Fel i {file}", "Rätta felen och ladda om sidan.", "problems"))
        pair = found(ckey, mkey)
        if pair is None:
            return render("Hittades inte", back + f"<h1>Inget meddelande {escape(ckey)}/{escape(mkey)}</h1>", 404)
        campaign, message = pair
        # The hash first, from the plan this page shows: what is signed is never newer
        # than what was seen.
        approval = approval_of(project, desk.ledger, campaign, message)
        picked = occurrence(message, now())
        if picked is None:
            return render("Hittades inte", back + f"<h1>{escape(ckey)}/{escape(mkey)} skickas aldrig</h1>", 404)
        if at_text:
            try:
                wanted: datetime | None = datetime.fromisoformat(at_text)
            except ValueError:
                wanted = None
            picked = next((ts for ts in message.times
                           if wanted in {ts[0], *(message.due(ts[0], c) for c in message.channels)}), picked)
        when, suffix = picked
        first = not message.times or picked == message.times[0]
        base = f"/m/{quote(ckey)}/{quote(mkey)}"
        body = [back, pages.message_note(notice, error), f"<h1>{escape(message.model.title)}</h1>",
                message_facts(project, campaign, message, when)]
        body.append(pages.signoff(project, approval, names(project), desk.ledger.approvals(approval.message_id), g.member,
                                  g.csrf, base, first, f"{base}?at={quote(message.times[0][0].isoformat())}" if message.times else base))
        body.append(_problems_panel(check_message(project, campaign, message), "Fel som stoppar publiceringen",
                                    "Rätta felen i filen och ladda om sidan.", "problems"))
        body.append('<div class="channels">')
        preview = Preview(desk.root)
        for delivery in occurrence_deliveries(campaign, message, when, suffix):
            body.append(preview.channel(project, delivery, when))
        body.append("</div>")
        return render(message.model.title, "".join(body), status)

    def _verdict(ckey: str, mkey: str, verdict: str) -> AnyResponse:
        from ..approvals import TextChanged, sign

        if (away := signed_in()) is not None:
            return away
        member: Member = g.member
        assert desk.ledger is not None
        pair = found(ckey, mkey)
        if pair is None:
            return refuse(404, f"no message {ckey}/{mkey}", "Meddelandet finns inte (längre).")
        campaign, message = pair
        if not member.approves:
            return refuse(403, f"{member.email} is a {member.role}, not an approver", "Du kan inte godkänna: din roll är "
                          f"{pages.ROLE_NAMES.get(member.role, member.role)}.")
        try:
            a = sign(g.project, desk.ledger, campaign, message, party=member.party, name=member.name, email=member.email,
                     verdict=verdict, seen_hash=request.form.get("hash", ""), comment=request.form.get("comment"), now=now())
        except TextChanged:
            _event("desk_refused", f"desk refused {member.email}'s {verdict} of {ckey}/{mkey}: the text has changed: look again",
                   logging.WARNING)
            return _message(ckey, mkey, None, error="Texten har ändrats sedan sidan visades: titta igen. "
                            "Ditt svar sparades inte.", status=409)
        except SamverkanError as exc:
            _event("desk_refused", f"desk refused {member.email}'s {verdict} of {ckey}/{mkey}: {exc}", logging.WARNING)
            return _message(ckey, mkey, None, error=_refusal_text(str(exc)), status=403 if "need not" in str(exc) else 400)
        what = "approved" if verdict == "approve" else "asked for changes of"
        _event(f"desk_{verdict}", f"desk: {member.email} ({member.party}) {what} {a.message_id}")
        notice = ("Du har godkänt texten." if verdict == "approve" else "Din begäran om ändringar är sparad; meddelandet hålls inne.")
        if verdict == "approve" and not a.missing:
            notice += " Alla parter har godkänt: meddelandet publiceras på sin tid."
        return _message(ckey, mkey, None, notice=notice)

    @app.post("/m/<ckey>/<mkey>/approve")
    def approve(ckey: str, mkey: str) -> AnyResponse:
        return _verdict(ckey, mkey, "approve")

    @app.post("/m/<ckey>/<mkey>/changes")
    def changes(ckey: str, mkey: str) -> AnyResponse:
        return _verdict(ckey, mkey, "changes")

    # --- pause and resume ------------------------------------------------------------------

    def _operator() -> AnyResponse | None:
        if (away := signed_in()) is not None:
            return away
        if not g.member.operates:
            return refuse(403, f"{g.member.email} is a {g.member.role}, not an operator",
                          "Bara operatörer kan pausa och återuppta publiceringen.")
        return None

    @app.post("/pause")
    def pause() -> AnyResponse:
        from ..pauses import describe, pause as record

        if (away := _operator()) is not None:
            return away
        member: Member = g.member
        channel = request.form.get("channel") or None
        try:
            p = record(desk.ledger, channel, request.form.get("reason", ""), by=member.name, person=member.email,  # type: ignore[arg-type]
                       way="desk", now=now(), channels=list(g.project.config.channels))
        except SamverkanError as exc:
            return refuse(400, str(exc), "Skriv varför du pausar (det visas för alla)." if "why" in str(exc) else str(exc))
        _event("desk_paused", f"desk: {member.email} paused: {describe(p, g.project.tz)}")
        return redirect("/?notice=" + quote("Publiceringen är pausad."), 303)

    @app.post("/resume")
    def resume() -> AnyResponse:
        from ..pauses import resume as record

        if (away := _operator()) is not None:
            return away
        member: Member = g.member
        channel = request.form.get("channel") or None
        try:
            ended = record(desk.ledger, channel, by=member.name, person=member.email, way="desk", now=now())  # type: ignore[arg-type]
        except SamverkanError as exc:
            return refuse(400, str(exc), str(exc))
        _event("desk_resumed", f"desk: {member.email} resumed {', '.join(p.what for p in ended)}")
        return redirect("/?notice=" + quote("Publiceringen är återupptagen."), 303)

    return app


def _refusal_text(why: str) -> str:
    if "need not" in why:
        return "Din part behöver inte godkänna det här meddelandet; du kan bara svara för din egen part."
    if "say what" in why:
        return "Skriv vad som behöver ändras."
    return why


def _mail_link(project: Project, person: Member, link: str, env: Mapping[str, str] | None) -> str:
    from ..people import send_mail

    text = (f"Hej {person.name}!\n\nHär är din länk för att logga in på pressdesken. Den gäller i 15 minuter "
            f"och kan användas en gång:\n\n{link}\n\nHar du inte bett om den kan du bortse från det här brevet.\n")
    return send_mail(project, [person.email], "Inloggning till pressdesken", text, env)
