"""The press desk over real HTTP: sign-in by mailed link, CSRF, sessions, sign-off bound to
the text seen and to the person's own party, pauses; mail caught by aiosmtpd."""

from __future__ import annotations

import logging
from datetime import timedelta
from pathlib import Path

import pytest
import requests

from samverkan.ledger import Ledger
from tests.helpers.daemon import Clock
from tests.helpers.desk import Visitor, desk_plan, link_in, mails_to, running_desk
from tests.helpers.smtp import smtp_server  # noqa: F401 (fixture)

KIM, PAT, OLLE, VERA = "kim@kommun.example", "pat@polisen.example", "olle@kommun.example", "vera@polisen.example"
PAGE = "/m/skola/start"


@pytest.fixture
def smtp(smtp_server):
    return smtp_server()


@pytest.fixture
def clock() -> Clock:
    return Clock("2018-08-10T09:00")


@pytest.fixture
def root(make_root, smtp, plugin_env) -> Path:
    return desk_plan(make_root, smtp)


def ledger_of(root: Path) -> Ledger:
    return Ledger(root / "state/samverkan.db")


def test_a_sign_in_link_works_once(root, smtp, clock) -> None:
    with running_desk(root, clock) as desk:
        kim = Visitor(desk.url)
        assert kim.get("/").url.endswith("/login?next=/")  # not signed in: to the sign-in page
        assert kim.ask_link(KIM).status_code == 200
        [mail] = mails_to(smtp, KIM)
        assert mail["Subject"] == "Inloggning till pressdesken"
        link = link_in(mail)
        # looking at the link (as a mail scanner does) does not use it up
        assert kim.get(link.split(str(desk.port), 1)[1]).status_code == 200
        r = kim.use_link(link)
        assert r.status_code == 200 and "Inloggad som Kim Kommun (Kommunen, godkännare)" in r.text
        other = Visitor(desk.url)
        again = other.use_link(link)
        assert again.status_code == 400 and "Länken har redan använts" in again.text
        assert "Inloggad som" not in other.get("/login").text
        # signing out ends the session for good
        kim.get("/")
        assert kim.post("/logout").url.endswith("/login")
        assert kim.get("/").url.endswith("/login?next=/")


def test_a_sign_in_link_runs_out_after_15_minutes(root, smtp, clock) -> None:
    with running_desk(root, clock) as desk:
        kim = Visitor(desk.url)
        kim.ask_link(KIM)
        link = link_in(mails_to(smtp, KIM)[-1])
        clock.now += timedelta(minutes=15)
        r = kim.use_link(link)
        assert r.status_code == 400 and "Länken har gått ut" in r.text
        kim.ask_link(KIM)
        clock.now += timedelta(minutes=14, seconds=59)
        assert "Inloggad som Kim" in kim.use_link(link_in(mails_to(smtp, KIM)[-1])).text


def test_sign_in_links_are_rate_limited_and_tell_nobody_who_is_known(root, smtp, clock) -> None:
    with running_desk(root, clock) as desk:
        v = Visitor(desk.url)
        unknown = v.ask_link("nobody@kommun.example")
        known = v.ask_link(KIM)
        assert unknown.status_code == known.status_code == 200
        assert "Om adressen hör till någon av pressdeskens användare" in unknown.text
        assert mails_to(smtp, "nobody@kommun.example") == []
        v.ask_link(KIM)
        v.ask_link(KIM)
        limited = v.ask_link(KIM)
        assert limited.status_code == 429 and "För många inloggningslänkar" in limited.text
        assert len(mails_to(smtp, KIM)) == 3
        clock.now += timedelta(minutes=16)
        assert v.ask_link(KIM).status_code == 200 and len(mails_to(smtp, KIM)) == 4


def test_every_post_needs_its_csrf_token(root, smtp, clock, caplog) -> None:
    caplog.set_level(logging.INFO, logger="samverkan")
    with running_desk(root, clock) as desk:
        kim = Visitor(desk.url)
        kim.sign_in(KIM, smtp)
        kim.get(PAGE)
        h = kim.content_hash()
        bare = kim.post(PAGE + "/approve", {"hash": h}, csrf=False)
        assert bare.status_code == 403 and "Formuläret är för gammalt" in bare.text
        wrong = kim.post(PAGE + "/approve", {"hash": h, "csrf": "0" * 64}, csrf=False)
        assert wrong.status_code == 403
        # another visitor's token is not this session's
        stranger = Visitor(desk.url)
        stranger.get("/login")
        assert kim.post(PAGE + "/approve", {"hash": h, "csrf": stranger.csrf()}, csrf=False).status_code == 403
        assert Visitor(desk.url).post("/login", {"email": KIM}, csrf=False).status_code == 403
    with ledger_of(root) as ledger:
        assert ledger.approvals() == []
    assert len(mails_to(smtp, KIM)) == 1
    assert f"desk refused POST /m/skola/start/approve ({KIM}): no valid CSRF token" in caplog.text


def test_an_approver_signs_for_their_own_party_only(make_root, smtp, clock, plugin_env) -> None:
    kommunen_only = ("title: Kommunens egen\nsummary: x\npriority_areas: [trafik]\nparties: [kommunen]\n"
                     "period: {start: 2018-08-01, end: 2018-09-09}\nmessages:\n"
                     "  - key: start\n    at: 2018-08-13 07:30\n    channels: [notes]\n    title: Bara kommunen\n    body: Hej.\n")
    root = desk_plan(make_root, smtp, campaigns={"egen": kommunen_only})
    with running_desk(root, clock) as desk:
        pat = Visitor(desk.url)
        pat.sign_in(PAT, smtp)
        page = pat.get("/m/egen/start")
        assert "Polisen behöver inte godkänna det här meddelandet" in page.text
        assert 'name="hash"' not in page.text
        pat.get("/m/egen/start?at=x")
        # a hand-made form, naming the municipality, is refused all the same
        r = pat.post("/m/egen/start/approve", {"hash": "0" * 64, "party": "kommunen"})
        assert r.status_code == 403 and "du kan bara svara för din egen part" in r.text
        vera = Visitor(desk.url)
        vera.sign_in(VERA, smtp)
        vera.get("/m/egen/start")
        assert vera.post("/m/egen/start/approve", {"hash": "0" * 64}).status_code == 403
    with ledger_of(root) as ledger:
        assert ledger.approvals() == []


def test_an_approval_of_a_text_changed_since_the_page_loaded_is_refused(root, smtp, clock) -> None:
    with running_desk(root, clock) as desk:
        kim = Visitor(desk.url)
        kim.sign_in(KIM, smtp)
        kim.get(PAGE)
        seen = kim.content_hash()
        path = root / "campaigns/skola.yaml"
        path.write_text(path.read_text(encoding="utf-8").replace("Sänk farten", "Sänk farten nu"), encoding="utf-8")
        r = kim.post(PAGE + "/approve", {"hash": seen})
        assert r.status_code == 409 and "Texten har ändrats sedan sidan visades: titta igen" in r.text
        with ledger_of(root) as ledger:
            assert ledger.approvals() == []
        # the page shown with the refusal carries the new text's hash: asking for changes and
        # then approving it works, and the request stays on the page once the text changes
        asked = kim.post(PAGE + "/changes", {"hash": kim.content_hash(), "comment": "Lägg till en länk"})
        assert asked.status_code == 200
        path.write_text(path.read_text(encoding="utf-8").replace("farten nu", "farten nu!"), encoding="utf-8")
        kim.get(PAGE)
        assert "Tidigare begärda ändringar" in kim.last and "Lägg till en länk" in kim.last
        assert kim.content_hash() != seen
        ok = kim.post(PAGE + "/approve", {"hash": kim.content_hash()})
        assert ok.status_code == 200 and "Du har godkänt texten." in ok.text
    with ledger_of(root) as ledger:
        _, a = ledger.approvals()
    assert (a["party"], a["approved_by"], a["person"], a["way"], a["verdict"]) == (
        "kommunen", "Kim Kommun", KIM, "desk", "approve")


def test_nothing_in_the_ledger_lets_its_reader_sign_in(root, smtp, clock, caplog) -> None:
    caplog.set_level(logging.INFO, logger="samverkan")
    with running_desk(root, clock) as desk:
        kim = Visitor(desk.url)
        kim.sign_in(KIM, smtp)
        link = link_in(mails_to(smtp, KIM)[-1])
        token = link.rsplit("/", 1)[1]
        session = kim.http.cookies.get("samverkan_session")
        assert session
        kim.get("/")
        kim.post("/logout")
        # a refused use of a link (no CSRF token) is logged without the link
        Visitor(desk.url).ask_link(KIM)
        unused = link_in(mails_to(smtp, KIM)[-1])
        assert unused != link
        assert requests.post(unused.split("?")[0], timeout=10).status_code == 403
    state = b"".join(p.read_bytes() for p in (root / "state").iterdir() if p.is_file())
    assert token.encode() not in state and session.encode() not in state
    assert unused.rsplit("/", 1)[1] not in caplog.text and "desk refused POST /login/… (not signed in)" in caplog.text
    said = caplog.text
    assert token not in said and session not in said
    assert f"desk: {KIM} (kommunen, approver) signed in" in said and f"desk: {KIM} signed out" in said


def test_cookies_are_httponly_samesite_and_secure_behind_tls(root, smtp, clock) -> None:
    from samverkan.desk.server import DeskServer

    with running_desk(root, clock) as desk:
        r = requests.get(desk.url + "login", timeout=10)
        cookie = r.headers["Set-Cookie"]
        assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" not in cookie
        assert r.headers["Referrer-Policy"] == "no-referrer" and "frame-ancestors 'none'" in r.headers["Content-Security-Policy"]
    server = DeskServer(root, clock=clock, port=0, base_url="https://desk.kommun.example").start()
    try:
        r = requests.get(server.url + "login", headers={"Host": "desk.kommun.example"}, timeout=10)
        assert "Secure" in r.headers["Set-Cookie"]
    finally:
        server.stop()


def test_the_desk_answers_only_for_its_own_host_names(root, smtp, clock) -> None:
    with running_desk(root, clock) as desk:
        r = requests.get(desk.url + "login", headers={"Host": f"evil.example:{desk.port}"}, timeout=10)
        assert r.status_code == 421
        assert requests.get(f"http://localhost:{desk.port}/login", timeout=10).status_code == 200


def test_without_a_mail_host_the_link_goes_to_the_outbox(make_root, clock, plugin_env, caplog) -> None:
    caplog.set_level(logging.INFO, logger="samverkan")
    root = desk_plan(make_root, None)
    with running_desk(root, clock) as desk:
        v = Visitor(desk.url)
        assert v.ask_link(KIM).status_code == 200
        [file] = (root / "outbox/brev").iterdir()
        assert f"desk sign-in link for {KIM}: written to outbox/brev/{file.name} (no SMTP host configured)" in caplog.text
        import email as email_lib

        mail = email_lib.message_from_bytes(file.read_bytes(), policy=email_lib.policy.default)
        assert "Inloggad som Kim" in v.use_link(link_in(mail)).text


def test_an_operator_pauses_and_every_page_says_so(root, smtp, clock) -> None:
    with running_desk(root, clock) as desk:
        olle = Visitor(desk.url)
        olle.sign_in(OLLE, smtp)
        olle.get("/")
        r = olle.post("/pause", {"channel": "notes", "reason": "Fel bild"})
        assert r.status_code == 200 and "Publiceringen är pausad" in r.text
        vera = Visitor(desk.url)
        vera.sign_in(VERA, smtp)
        for path in ("/", PAGE):
            assert "notes</strong> pausad" in vera.get(path).text and "av Olle Operatör (pressdesken): Fel bild" in vera.last
        assert 'action="/pause"' not in vera.get("/").text
        assert "pausad" not in Visitor(desk.url).get("/login").text  # not to strangers
        assert vera.post("/resume", {"channel": "notes"}).status_code == 403
        with ledger_of(root) as ledger:
            from samverkan.pauses import active

            [p] = active(ledger)
            assert (p.channel, p.by, p.person, p.way) == ("notes", "Olle Operatör", OLLE, "desk")
        olle.get("/")
        assert "Återuppta notes" in olle.last
        olle.post("/resume", {"channel": "notes"})
        assert "Publiceringen är återupptagen" in olle.last and "pausad" not in olle.last


def test_both_parties_approving_on_the_desk_lets_the_daemon_publish(make_root, smtp, plugin_env) -> None:
    import time

    from tests.helpers.daemon import DaemonProcess, wait_until
    from tests.helpers.plugin import read_notebook

    root = desk_plan(make_root, smtp, at="2018-08-13 07:30:01")
    daemon = DaemonProcess(root, now="2018-08-13T07:30:00", env=plugin_env)
    try:
        daemon.wait_event("held", "skola/start/notes")
        with running_desk(root, Clock("2018-08-13T07:30")) as desk:
            kim, pat = Visitor(desk.url), Visitor(desk.url)
            kim.sign_in(KIM, smtp)
            pat.sign_in(PAT, smtp)
            kim.get(PAGE)
            assert "Du har godkänt texten." in kim.post(PAGE + "/approve", {"hash": kim.content_hash()}).text
            pat.get(PAGE)
            asked = pat.post(PAGE + "/changes", {"hash": pat.content_hash(), "comment": "Lägg till telefonnumret"})
            assert "Din begäran om ändringar är sparad" in asked.text
            assert "ändringar begärda</span> av Pat Polis" in kim.get(PAGE).text
            assert "ändringar begärda" in kim.get("/").text
            time.sleep(1.0)  # several of the daemon's polls: the request for changes keeps it held
            with ledger_of(root) as ledger:
                row = ledger.get("skola/start/notes")
                assert (row.state, row.note) == ("held", "awaiting approval by polisen")
            assert read_notebook(root / "out/notes.jsonl") == []
            pat.get(PAGE)
            done = pat.post(PAGE + "/approve", {"hash": pat.content_hash()})
            assert "Alla parter har godkänt" in done.text
            daemon.wait_event("published", "skola/start/notes")
        assert wait_until(lambda: len(read_notebook(root / "out/notes.jsonl")) == 1, 5)
    finally:
        daemon.stop()
    with ledger_of(root) as ledger:
        said = [(a["party"], a["verdict"], a["way"], a["person"]) for a in ledger.approvals("skola/start")]
    assert said == [("kommunen", "approve", "desk", KIM), ("polisen", "changes", "desk", PAT), ("polisen", "approve", "desk", PAT)]


def test_samverkan_desk_serves_until_stopped(root) -> None:
    import signal
    import subprocess
    import sys

    from tests.helpers.daemon import REPO

    proc = subprocess.Popen([sys.executable, "-m", "samverkan", "desk", "--root", str(root), "--port", "0"], cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert "the press desk listens on http://127.0.0.1:" in line and "links to http://127.0.0.1/" in line, line
        url = line.split("listens on ")[1].split()[0]
        r = requests.get(url + "login", timeout=10)
        assert r.status_code == 200 and "<h1>Logga in</h1>" in r.text and r.headers["Server"] == "samverkan-desk"
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(10)


def test_after_sign_in_only_a_page_of_the_desk_is_next(root, smtp, clock) -> None:
    with running_desk(root, clock) as desk:
        v = Visitor(desk.url)
        v.get("/login?next=" + PAGE)
        v.post("/login", {"email": KIM, "next": PAGE})
        link = link_in(mails_to(smtp, KIM)[-1])
        assert link.endswith("?next=/m/skola/start")
        path = link.split(str(desk.port), 1)[1]
        v.get(path)
        r = v.post(path.split("?")[0], {"next": PAGE}, allow_redirects=False)
        assert r.status_code == 303 and r.headers["Location"] == PAGE
        v.ask_link(KIM)
        path = link_in(mails_to(smtp, KIM)[-1]).split(str(desk.port), 1)[1]
        v.get(path)
        r = v.post(path, {"next": "//evil.example/"}, allow_redirects=False)
        assert r.headers["Location"] == "/"
