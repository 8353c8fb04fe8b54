"""The press desk for tests: a plan with people and a desk, the desk served by waitress on
a free port of 127.0.0.1 (real HTTP), and a browser-like client that signs in through the
link the desk mailed to the local SMTP server.

    from tests.helpers.desk import desk_plan, running_desk, Visitor

    root = desk_plan(make_root, smtp)              # smtp: an SmtpServer, or None (outbox)
    with running_desk(root, clock) as desk:
        kim = Visitor(desk.url)
        kim.sign_in("kim@kommun.example", smtp)
"""

from __future__ import annotations

import email
import re
from contextlib import contextmanager
from email import policy
from pathlib import Path
from typing import Any, Callable, Iterator

import requests

from tests.helpers.plans import MINIMAL_CONFIG, NOTEBOOK_CHANNEL, PNG, campaign, message, with_channels
from tests.helpers.smtp import SmtpServer

PEOPLE = """\
people:
  kommunen:
    - {name: Kim Kommun, email: kim@kommun.example, role: approver}
    - {name: Olle Operatör, email: olle@kommun.example, role: operator}
  polisen:
    - {name: Pat Polis, email: pat@polisen.example, role: approver}
    - {name: Vera Visare, email: vera@polisen.example, role: viewer}
desk: {base_url: http://127.0.0.1, channel: brev}
"""


def mail_channel(smtp: SmtpServer | None) -> str:
    """The mailer channel ``brev`` that sends the desk's mail: to ``smtp``, or the outbox."""
    server = f"    host: 127.0.0.1\n    port: {smtp.port}\n    security: none\n    timeout: 5\n" if smtp else ""
    return ("  brev:\n    publisher: mailer\n" + server
            + '    from: "Pressdesken <desk@kommun.example>"\n    recipients: content/press.csv\n    outbox: outbox/brev\n')


def desk_plan(make_root: Callable[..., Path], smtp: SmtpServer | None, *, at: str = "2018-08-13 07:30",
              extra: str = "", campaigns: dict[str, str] | None = None, channels: str = "[notes]") -> Path:
    """A plan both parties must approve, with the people above, the notebook channel (the
    message skola/start at ``at``), the mailer channel ``brev`` and ``extra`` config."""
    config = with_channels(NOTEBOOK_CHANNEL, mail_channel(smtp),
                           config=MINIMAL_CONFIG.replace("approval: []", "approval: [kommunen, polisen]"))
    config += PEOPLE + extra
    text = campaign(message(at=at, channels=channels), period=("2018-08-01", "2018-09-09"))
    root = make_root(config=config, campaigns=campaigns if campaigns is not None else {"skola": text})
    (root / "content").mkdir(exist_ok=True)
    (root / "content" / "press.csv").write_text("name,email,outlet\nLena,lena@tidning.example,Tidningen\n", encoding="utf-8")
    (root / "content" / "bild.png").write_bytes(PNG)
    return root


@contextmanager
def running_desk(root: Path, clock: Callable[[], Any], env: dict[str, str] | None = None) -> Iterator[Any]:
    """The desk on a free port, its base_url that port's (links in mails point at it)."""
    import socket

    from samverkan.desk.server import DeskServer

    with socket.socket() as s:  # a free port, to put into base_url before the desk starts
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = DeskServer(root, clock=clock, port=port, base_url=f"http://127.0.0.1:{port}", env=env).start()
    try:
        yield server
    finally:
        server.stop()


_LINK = re.compile(r"(http://127\.0\.0\.1:\d+/login/[A-Za-z0-9_\-]+(?:\?next=\S+)?)")
_CSRF = re.compile(r'name="csrf" value="([0-9a-f]+)"')
_HASH = re.compile(r'name="hash" value="([0-9a-f]+)"')


def mails_to(smtp: SmtpServer, address: str) -> list[Any]:
    """The messages ``smtp`` received for ``address``, parsed."""
    return [email.message_from_bytes(m.data, policy=policy.default) for m in smtp.messages if address in m.rcpt_tos]


def link_in(mail: Any) -> str:
    body = mail.get_body(("plain",)).get_content()
    m = _LINK.search(body)
    assert m, body
    return m.group(1)


class Visitor:
    """One person's browser: cookies kept, forms posted with their CSRF token."""

    def __init__(self, url: str):
        self.url = url.rstrip("/")
        self.http = requests.Session()
        self.last = ""

    def get(self, path: str, **kw: Any) -> requests.Response:
        r = self.http.get(self.url + path, timeout=30, **kw)
        self.last = r.text
        return r

    def csrf(self) -> str:
        m = _CSRF.search(self.last)
        assert m, self.last
        return m.group(1)

    def content_hash(self) -> str:
        m = _HASH.search(self.last)
        assert m, self.last
        return m.group(1)

    def post(self, path: str, data: dict[str, str] | None = None, *, csrf: bool = True, **kw: Any) -> requests.Response:
        form = dict(data or {})
        if csrf:
            form.setdefault("csrf", self.csrf())
        r = self.http.post(self.url + path, data=form, timeout=30, **kw)
        self.last = r.text
        return r

    def ask_link(self, address: str) -> requests.Response:
        self.get("/login")
        return self.post("/login", {"email": address})

    def use_link(self, link: str) -> requests.Response:
        path = link.split("127.0.0.1", 1)[1].split("/", 1)[1]
        shown = self.get("/" + path)
        if 'name="csrf"' not in shown.text:  # the page says the link is no good: no form to send
            return shown
        return self.post("/" + path.split("?")[0], {"next": "/"})

    def sign_in(self, address: str, smtp: SmtpServer) -> None:
        before = len(mails_to(smtp, address))
        assert self.ask_link(address).status_code == 200
        mails = mails_to(smtp, address)
        assert len(mails) == before + 1, [m["Subject"] for m in mails]
        r = self.use_link(link_in(mails[-1]))
        assert r.status_code == 200 and "Inloggad som" in r.text, r.text

    def close(self) -> None:
        self.http.close()
