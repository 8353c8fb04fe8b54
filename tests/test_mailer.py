"""The mailer against a real SMTP server on 127.0.0.1 (aiosmtpd)."""

from __future__ import annotations

import io
import re
import socket
from datetime import datetime
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path
from typing import Any, Callable
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError

from publishers.base import Channel, MemoryJournal, PermanentError, TransientError, UnsettledError
from publishers.mailer import BadLine, MailerPublisher, MailerSettings, Recipient, read_recipients
from samverkan.rendering import Contact, ImageRef, Logo, RenderedMessage
from tests.helpers.smtp import SmtpServer, drop_after_data, drop_at_data, late, reply, smtp_server  # noqa: F401  (the fixture)

# aiosmtpd warns about its own use of a deprecated attribute on every login.
pytestmark = pytest.mark.filterwarnings("ignore:Session.login_data is deprecated")

TZ = ZoneInfo("Europe/Stockholm")
FROM = "Trygg i Hultsfred <trygghet@hultsfred.example>"
PRESS = ["lena@tidning.example", "johan@radio.example", "sara@tv.example"]
PASSWORD = "s3cret-Pa55word"
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256))


def message(**changes: Any) -> RenderedMessage:
    root = changes.pop("root")
    (root / "logo-kommunen.png").write_bytes(PNG)
    (root / "logo-polisen.png").write_bytes(PNG[:8] + PNG[:7:-1])  # (another picture)
    (root / "skolstart.jpg").write_bytes(b"\xff\xd8\xff" + b"jpeg" * 50)
    values: dict[str, Any] = dict(
        delivery_id="skolstart/start/press",
        campaign="skolstart",
        message="start",
        channel="press",
        publisher="mailer",
        at=datetime(2018, 8, 13, 7, 30, tzinfo=TZ),
        embargo=None,
        title="Nu börjar skolan – sänk farten",
        parts={
            "subject": "Nu börjar skolan – sänk farten",
            "text": "Polisen och kommunen påminner om trafiken.\n\n.En rad som börjar med punkt.\n",
            "html": (
                '<html><body><img src="cid:logo-kommunen" alt="Kommunen">'
                '<img src="cid:logo-polisen" alt="Polisen">'
                "<h1>Nu börjar skolan – sänk farten</h1>"
                '<p>Polisen och kommunen påminner om trafiken.</p><img src="cid:image" alt="Barn">'
                "</body></html>"
            ),
        },
        link="https://www.hultsfred.example/skolstart",
        image=ImageRef(root / "skolstart.jpg", "Barn vid ett övergångsställe"),
        logos=(Logo("kommunen", root / "logo-kommunen.png", "Kommunen"),
               Logo("polisen", root / "logo-polisen.png", "Polisen")),
        contacts=(Contact("Testkommun", "Kim Kommun", "Presschef", "+46 1", "press@kommun.example"),
                  Contact("Polisen", "Pat Polis", "Kommunpolis", "+46 2", "press@polisen.example")),
        parties=("Testkommun", "Polisen"),
    )
    values.update(changes)
    return RenderedMessage(**values)


@pytest.fixture
def root(tmp_path: Path) -> Path:
    lines = ["name,email,outlet"] + [f"Journalist {i},{a},Tidning {i}" for i, a in enumerate(PRESS)]
    (tmp_path / "presslista.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return tmp_path


@pytest.fixture
def mailer(root: Path) -> Callable[..., MailerPublisher]:
    """``mailer(server, **settings)``: a press channel pointed at ``server`` (or at none)."""

    def make(server: SmtpServer | None = None, env: dict[str, str] | None = None, **settings: Any) -> MailerPublisher:
        values: dict[str, Any] = {"publisher": "mailer", "from": FROM, "recipients": "presslista.csv",
                                  "security": "none", "timeout": 5}
        if server:
            values.update(host=server.host, port=server.port)
            values.update({"security": "starttls", "ca_file": server.cafile} if server.tls == "starttls"
                          else {"security": "tls", "ca_file": server.cafile} if server.tls == "implicit" else {})
        values.update(settings)
        channel = Channel("press", MailerSettings.model_validate(values), root,
                          env={"SMTP_USER": "pressbot", "SMTP_PASSWORD": PASSWORD, **(env or {})})
        return MailerPublisher(channel)

    return make


def parse(data: bytes) -> EmailMessage:
    return BytesParser(policy=policy.default).parsebytes(data)


def body(mail: EmailMessage, kind: str) -> str:
    """The decoded text of the plain or html part, with the wire's CRLFs as ``\\n``."""
    part = mail.get_body((kind,))
    assert part is not None, f"no {kind} part"
    return str(part.get_content()).replace("\r\n", "\n")


# -- the payload ------------------------------------------------------------------------


def test_headers_parts_and_inline_images(root: Path, mailer: Callable[..., MailerPublisher]) -> None:
    payload = mailer().payload(message(root=root))
    data = payload.files["press.eml"]
    mail = parse(data)

    assert mail["From"] == FROM
    assert mail["To"] == "Pressmeddelande <trygghet@hultsfred.example>"
    assert mail["Reply-To"] == "Kim Kommun <press@kommun.example>, Pat Polis <press@polisen.example>"
    assert mail["Subject"] == "Nu börjar skolan – sänk farten"
    assert mail["Date"] == "Mon, 13 Aug 2018 07:30:00 +0200"
    assert re.fullmatch(r"<[0-9a-f]{32}@hultsfred\.example>", mail["Message-ID"])
    assert mail["List-Unsubscribe"] == "<mailto:trygghet@hultsfred.example?subject=unsubscribe>"
    assert "Bcc" not in mail and "Cc" not in mail

    assert mail.get_content_type() == "multipart/alternative"
    assert body(mail, "plain") == "Polisen och kommunen påminner om trafiken.\n\n.En rad som börjar med punkt.\n"
    assert "<h1>Nu börjar skolan – sänk farten</h1>" in body(mail, "html")
    inline = {p["Content-ID"]: p for p in mail.walk() if p["Content-ID"]}
    # RFC 2392: Content-IDs are <id@domain>, the domain of the sender
    assert set(inline) == {"<logo-kommunen@hultsfred.example>", "<logo-polisen@hultsfred.example>", "<image@hultsfred.example>"}
    assert inline["<logo-kommunen@hultsfred.example>"].get_content() == PNG
    assert inline["<logo-polisen@hultsfred.example>"].get_content_type() == "image/png"
    assert inline["<image@hultsfred.example>"].get_content_type() == "image/jpeg"
    assert all(p.get_content_disposition() == "inline" for p in inline.values())

    # As sent over SMTP: CRLF only, short lines, 7-bit.
    assert b"\n" not in data.replace(b"\r\n", b"")
    assert max(len(line) for line in data.split(b"\r\n")) <= 78
    assert data.isascii()
    assert payload.fields == {
        "subject": "Nu börjar skolan – sänk farten",
        "from": FROM,
        "reply_to": ["Kim Kommun <press@kommun.example>", "Pat Polis <press@polisen.example>"],
        "message_id": mail["Message-ID"],
        "recipients": 3,
        "embargo": None,
    }


def test_the_content_ids_the_renderer_gives_are_used(root: Path, mailer: Callable[..., MailerPublisher]) -> None:
    msg = message(root=root)
    msg = message(root=root, logos=(Logo("kommunen", root / "logo-kommunen.png", "Kommunen", cid="kommunvapen"),),
                  image=None, parts={**msg.parts, "html": '<p><img src="cid:kommunvapen"></p>'})
    mail = parse(mailer().payload(msg).files["press.eml"])
    assert [p["Content-ID"] for p in mail.walk() if p["Content-ID"]] == ["<kommunvapen@hultsfred.example>"]
    assert 'src="cid:kommunvapen@hultsfred.example"' in mail.get_body(("html",)).get_content()


def test_the_same_message_gives_the_same_bytes(root: Path, mailer: Callable[..., MailerPublisher]) -> None:
    first = mailer().payload(message(root=root))
    again = mailer().payload(message(root=root))
    other = mailer().payload(message(root=root, delivery_id="skolstart/start/press@2018-08-20"))
    assert first.files == again.files
    assert parse(other.files["press.eml"])["Message-ID"] != first.fields["message_id"]


def test_a_corrected_release_gets_a_new_message_id(root: Path, mailer: Callable[..., MailerPublisher]) -> None:
    """Mail stores drop a Message-ID they have seen: a correction must not reuse one."""
    first = mailer().payload(message(root=root))
    msg = message(root=root)
    corrected_text = mailer().payload(message(root=root, parts={**msg.parts, "text": msg.parts["text"] + "\nRättelse."}))
    corrected_title = mailer().payload(message(root=root, parts={**msg.parts, "subject": "Nu börjar skolan – rättad"}))
    with_new_logo = message(root=root)
    (root / "logo-kommunen.png").write_bytes((root / "logo-kommunen.png").read_bytes() + b"\0")
    new_logo = mailer().payload(with_new_logo)
    ids = [p.fields["message_id"] for p in (first, corrected_text, corrected_title, new_logo)]
    assert len(set(ids)) == 4
    assert all(i == parse(p.files["press.eml"])["Message-ID"] for i, p in
               zip(ids, (first, corrected_text, corrected_title, new_logo), strict=True))


def test_the_release_names_its_list(root: Path, mailer: Callable[..., MailerPublisher]) -> None:
    mail = parse(mailer().payload(message(root=root)).files["press.eml"])
    assert mail["List-Id"] == "Trygg i Hultsfred <press.hultsfred.example>"


def test_unreferenced_images_are_not_attached(root: Path, mailer: Callable[..., MailerPublisher]) -> None:
    msg = message(root=root)
    plain = message(root=root, parts={**msg.parts, "html": "<p>Utan bilder</p>"})
    mail = parse(mailer().payload(plain).files["press.eml"])
    assert [p.get_content_type() for p in mail.walk()] == ["multipart/alternative", "text/plain", "text/html"]


def test_preview_page_shows_the_images(root: Path, mailer: Callable[..., MailerPublisher]) -> None:
    page = mailer().payload(message(root=root)).files["press.html"].decode()
    assert "cid:" not in page
    assert page.count("data:image/png;base64,") == 2 and page.count("data:image/jpeg;base64,") == 1
    assert "<h1>Nu börjar skolan – sänk farten</h1>" in page


def test_embargo_is_in_the_subject_and_both_bodies(root: Path, mailer: Callable[..., MailerPublisher]) -> None:
    embargo = datetime(2018, 8, 13, 7, 30, tzinfo=TZ)
    payload = mailer().payload(message(root=root, embargo=embargo, at=datetime(2018, 8, 12, 9, 0, tzinfo=TZ)))
    mail = parse(payload.files["press.eml"])
    assert mail["Subject"] == "EMBARGO 13 augusti 2018 kl. 07.30: Nu börjar skolan – sänk farten"
    assert body(mail, "plain").startswith("EMBARGO: får inte publiceras före 13 augusti 2018 kl. 07.30.\n\nPolisen")
    assert "<strong>EMBARGO: får inte publiceras före 13 augusti 2018 kl. 07.30.</strong>" in body(mail, "html")
    assert payload.fields["embargo"] == "2018-08-13T07:30:00+02:00"


def test_embargo_already_in_the_templates_is_not_repeated(root: Path, mailer: Callable[..., MailerPublisher]) -> None:
    msg = message(root=root, embargo=datetime(2018, 8, 13, 7, 30, tzinfo=TZ))
    msg = message(root=root, embargo=msg.embargo, parts={
        "subject": "EMBARGO 13/8 07.30: Skolstart",
        "text": "Embargo till 13 augusti kl. 07.30.\n",
        "html": "<p>Embargo till 13 augusti kl. 07.30.</p>",
    })
    mail = parse(mailer().payload(msg).files["press.eml"])
    assert mail["Subject"] == "EMBARGO 13/8 07.30: Skolstart"
    assert body(mail, "plain") == "Embargo till 13 augusti kl. 07.30.\n"
    assert body(mail, "html") == "<p>Embargo till 13 augusti kl. 07.30.</p>\n"


def test_no_header_injection_through_campaign_text(root: Path, mailer: Callable[..., MailerPublisher],
                                                   smtp_server: Callable[..., SmtpServer]) -> None:
    evil = "Nytt\r\nBcc: spy@evil.example\nX-Evil: 1"
    msg = message(root=root)
    msg = message(root=root, title=evil, parts={**msg.parts, "subject": evil},
                  contacts=(Contact("Kommunen", "Kim\nBcc: spy@evil.example", None, None, "press@kommun.example"),))
    server = smtp_server()
    pub = mailer(server)
    payload = pub.payload(msg)
    mail = parse(payload.files["press.eml"])
    assert "Bcc" not in mail and "X-Evil" not in mail
    assert mail["Subject"] == "Nytt Bcc: spy@evil.example X-Evil: 1"
    assert mail["Reply-To"].addresses[0].addr_spec == "press@kommun.example"
    pub.publish(payload, msg.delivery_id, MemoryJournal())
    assert sorted(server.recipients) == sorted(PRESS)  # and nobody else


def test_a_from_address_with_a_line_break_is_refused(root: Path, mailer: Callable[..., MailerPublisher]) -> None:
    evil = "a@b.example\r\nBcc: c@d.example"
    with pytest.raises(ValidationError, match="is not one e-mail address: it has a line break"):
        mailer(**{"from": evil})  # validate says so
    # and the publisher, where validation was skipped
    pub = mailer()
    pub.settings = pub.settings.model_copy(update={"from_": evil})
    with pytest.raises(PermanentError, match="is not an e-mail address"):
        pub.payload(message(root=root))


# -- sending ----------------------------------------------------------------------------


def test_each_journalist_gets_the_same_bytes_in_an_own_envelope_over_one_connection(
        root: Path, mailer: Callable[..., MailerPublisher], smtp_server: Callable[..., SmtpServer]) -> None:
    server = smtp_server()
    pub = mailer(server)
    payload = pub.payload(message(root=root))
    journal = MemoryJournal()

    receipt = pub.publish(payload, "skolstart/start/press", journal)

    assert server.connections == 1
    assert [m.rcpt_tos for m in server.messages] == [[a] for a in PRESS]
    assert {m.connection for m in server.messages} == {1}
    assert {m.mail_from for m in server.messages} == {"trygghet@hultsfred.example"}
    assert all(m.data == payload.files["press.eml"] for m in server.messages)
    assert receipt.external_id == payload.fields["message_id"]
    assert receipt.note == "sent to 3 of 3"
    assert {p: s for p, (s, _) in journal.parts.items()} == {a: "sent" for a in PRESS}


def test_publishing_again_with_the_same_journal_sends_nothing(
        root: Path, mailer: Callable[..., MailerPublisher], smtp_server: Callable[..., SmtpServer]) -> None:
    server = smtp_server()
    pub = mailer(server)
    payload = pub.payload(message(root=root))
    journal = MemoryJournal()
    pub.publish(payload, "d", journal)
    pub.publish(payload, "d", journal)
    assert len(server.messages) == 3 and server.connections == 1


def test_a_refused_address_is_recorded_and_the_others_get_it(
        root: Path, mailer: Callable[..., MailerPublisher], smtp_server: Callable[..., SmtpServer]) -> None:
    server = smtp_server(refuse={PRESS[0]: 550})
    pub = mailer(server)
    journal = MemoryJournal()
    receipt = pub.publish(pub.payload(message(root=root)), "d", journal)
    assert server.recipients == PRESS[1:]
    assert receipt.note == f"sent to 2 of 3; 1 refused: {PRESS[0]}"
    state, detail = journal.parts[PRESS[0]]
    assert state == "refused" and detail is not None and detail.startswith("550 ")


def test_a_deferred_address_is_retried_alone(
        root: Path, mailer: Callable[..., MailerPublisher], smtp_server: Callable[..., SmtpServer]) -> None:
    server = smtp_server(refuse={PRESS[1]: 450})
    pub = mailer(server)
    payload = pub.payload(message(root=root))
    journal = MemoryJournal()
    with pytest.raises(TransientError, match="^1 of 3 recipients deferred; will retry$"):
        pub.publish(payload, "d", journal)
    assert server.recipients == [PRESS[0], PRESS[2]]
    assert journal.part_state(PRESS[1]) == "deferred"

    server.refuse.clear()
    receipt = pub.publish(payload, "d", journal)
    assert server.recipients == [PRESS[0], PRESS[2], PRESS[1]]
    assert server.connections == 2
    assert receipt.note == "sent to 3 of 3"


def six_journalists(root: Path) -> list[str]:
    (root / "presslista.csv").write_text(
        "name,email,outlet\n" + "".join(f"J{i},j{i}@press.example,T\n" for i in range(6)), encoding="utf-8")
    return [f"j{i}@press.example" for i in range(6)]


def test_a_connection_dropped_before_the_message_went_is_retried_without_a_duplicate(
        root: Path, mailer: Callable[..., MailerPublisher], smtp_server: Callable[..., SmtpServer]) -> None:
    everyone = six_journalists(root)
    server = smtp_server()
    server.script(None, None, drop_at_data())  # the third: gone at DATA, before any of the message
    pub = mailer(server)
    payload = pub.payload(message(root=root))
    journal = MemoryJournal()

    with pytest.raises(TransientError, match="^connection lost after 2 of 6 recipients; will retry the rest$"):
        pub.publish(payload, "d", journal)
    assert server.recipients == everyone[:2]
    assert [journal.part_state(a) for a in everyone] == ["sent", "sent", "deferred", "queued", "queued", "queued"]

    receipt = pub.publish(payload, "d", journal)
    assert sorted(server.recipients) == sorted(everyone)  # each exactly once
    assert server.connections == 2
    assert receipt.note == "sent to 6 of 6"


def test_a_reply_after_the_timeout_makes_that_recipient_uncertain_and_it_is_never_sent_again(
        root: Path, mailer: Callable[..., MailerPublisher], smtp_server: Callable[..., SmtpServer]) -> None:
    server = smtp_server()
    server.script(None, late(5))  # the second is kept, its 250 comes after the client gave up
    pub = mailer(server, timeout=1)
    payload = pub.payload(message(root=root))
    journal = MemoryJournal()

    with pytest.raises(TransientError) as first:
        pub.publish(payload, "skolstart/start/press", journal)
    assert str(first.value).startswith(f"no answer from the SMTP server after the release was sent to {PRESS[1]}")
    assert str(first.value).endswith("connection lost after 1 of 3 recipients; will retry the rest")
    assert [journal.part_state(a) for a in PRESS] == ["sent", "unknown", "queued"]
    detail = journal.part_detail(PRESS[1])
    assert detail is not None and "the server may have it" in detail

    # The retry reaches the one never tried, and not the uncertain one: a person settles it.
    with pytest.raises(UnsettledError) as second:
        pub.publish(payload, "skolstart/start/press", journal)
    assert server.recipients == PRESS  # each exactly once
    assert str(second.value) == (
        f"sent to 2 of 3; 1 uncertain (the server may have it; not sent again): {PRESS[1]}; ask them or the "
        "server's log, then: samverkan resolve skolstart/start/press --recipient ADDRESS --as published|failed")


def test_a_connection_dropped_after_the_whole_message_went_is_uncertain(
        root: Path, mailer: Callable[..., MailerPublisher], smtp_server: Callable[..., SmtpServer]) -> None:
    server = smtp_server()
    server.script(drop_after_data())  # the server may or may not have kept it: the client cannot know
    pub = mailer(server)
    journal = MemoryJournal()
    with pytest.raises(TransientError, match="will retry the rest$"):
        pub.publish(pub.payload(message(root=root)), "d", journal)
    assert [journal.part_state(a) for a in PRESS] == ["unknown", "queued", "queued"]
    with pytest.raises(UnsettledError, match=f"1 uncertain .*: {PRESS[0]};"):
        pub.publish(pub.payload(message(root=root)), "d", journal)
    assert server.recipients == PRESS[1:]


def test_the_reply_to_the_message_itself_decides_its_recipient(
        root: Path, mailer: Callable[..., MailerPublisher], smtp_server: Callable[..., SmtpServer]) -> None:
    server = smtp_server()
    server.script(reply(451), reply(554))  # "try later" and "never" to the final "."
    pub = mailer(server)
    payload = pub.payload(message(root=root))
    journal = MemoryJournal()
    with pytest.raises(TransientError, match="^1 of 3 recipients deferred; will retry$"):
        pub.publish(payload, "d", journal)
    assert [journal.part_state(a) for a in PRESS] == ["deferred", "refused", "sent"]
    receipt = pub.publish(payload, "d", journal)
    assert server.recipients == [PRESS[2], PRESS[0]]
    assert receipt.note == f"sent to 2 of 3; 1 refused: {PRESS[1]}"


def test_a_recipient_left_in_flight_by_a_crash_is_not_sent_again(
        root: Path, mailer: Callable[..., MailerPublisher], smtp_server: Callable[..., SmtpServer]) -> None:
    server = smtp_server()
    pub = mailer(server)
    journal = MemoryJournal()
    journal.set_part(PRESS[0], "in_flight")
    with pytest.raises(UnsettledError, match=f"^sent to 2 of 3; 1 uncertain .*: {PRESS[0]};"):
        pub.publish(pub.payload(message(root=root)), "d", journal)
    assert server.recipients == PRESS[1:]


def test_a_progress_counter_on_a_terminal(root: Path, mailer: Callable[..., MailerPublisher],
                                          smtp_server: Callable[..., SmtpServer],
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    (root / "presslista.csv").write_text(
        "name,email,outlet\n" + "".join(f"J{i},j{i}@press.example,T\n" for i in range(25)), encoding="utf-8")

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    err = Terminal()
    monkeypatch.setattr("sys.stderr", err)
    pub = mailer(smtp_server())
    pub.publish(pub.payload(message(root=root)), "d", MemoryJournal())
    assert err.getvalue().endswith("\rpress: 25/25\n")


# -- security ---------------------------------------------------------------------------


def test_starttls_and_login(root: Path, mailer: Callable[..., MailerPublisher],
                            smtp_server: Callable[..., SmtpServer]) -> None:
    server = smtp_server(tls="starttls", auth={"pressbot": PASSWORD})
    pub = mailer(server, username="${SMTP_USER}", password="${SMTP_PASSWORD}")
    receipt = pub.publish(pub.payload(message(root=root)), "d", MemoryJournal())
    assert receipt.note == "sent to 3 of 3"
    assert server.logins == [("pressbot", PASSWORD)] and server.connections == 1
    assert {m.login for m in server.messages} == {"pressbot"}


def test_implicit_tls_and_login(root: Path, mailer: Callable[..., MailerPublisher],
                                smtp_server: Callable[..., SmtpServer]) -> None:
    server = smtp_server(tls="implicit", auth={"pressbot": PASSWORD})
    pub = mailer(server, username="${SMTP_USER}", password="${SMTP_PASSWORD}")
    pub.publish(pub.payload(message(root=root)), "d", MemoryJournal())
    assert server.recipients == PRESS and server.logins == [("pressbot", PASSWORD)]


def test_no_password_to_a_server_without_starttls(root: Path, mailer: Callable[..., MailerPublisher],
                                                   smtp_server: Callable[..., SmtpServer]) -> None:
    # The server offers AUTH in clear: a careless client would log in.
    server = smtp_server(auth={"pressbot": PASSWORD}, auth_without_tls=True)
    pub = mailer(server, security="starttls", username="${SMTP_USER}", password="${SMTP_PASSWORD}")
    with pytest.raises(PermanentError, match="does not offer STARTTLS") as failure:
        pub.publish(pub.payload(message(root=root)), "d", MemoryJournal())
    assert PASSWORD not in str(failure.value)
    assert server.auth_commands == [] and server.messages == []


def test_no_password_with_security_none(root: Path, mailer: Callable[..., MailerPublisher],
                                        smtp_server: Callable[..., SmtpServer]) -> None:
    server = smtp_server(auth={"pressbot": PASSWORD}, auth_without_tls=True)
    pub = mailer(server, security="none", username="${SMTP_USER}", password="${SMTP_PASSWORD}")
    with pytest.raises(PermanentError, match="never sent unencrypted"):
        pub.publish(pub.payload(message(root=root)), "d", MemoryJournal())
    assert server.connections == 0 and server.auth_commands == []


def test_an_untrusted_certificate_gets_nothing(root: Path, mailer: Callable[..., MailerPublisher],
                                               smtp_server: Callable[..., SmtpServer]) -> None:
    server = smtp_server(tls="starttls", auth={"pressbot": PASSWORD})
    pub = mailer(server, ca_file=None, username="${SMTP_USER}", password="${SMTP_PASSWORD}")
    with pytest.raises(PermanentError, match="certificate is not trusted"):
        pub.publish(pub.payload(message(root=root)), "d", MemoryJournal())
    assert server.auth_commands == [] and server.messages == []


def test_a_refused_login_names_the_variables_not_the_password(
        root: Path, mailer: Callable[..., MailerPublisher], smtp_server: Callable[..., SmtpServer]) -> None:
    server = smtp_server(tls="starttls", auth={"pressbot": "another"})
    pub = mailer(server, username="${SMTP_USER}", password="${SMTP_PASSWORD}")
    with pytest.raises(PermanentError) as failure:
        pub.publish(pub.payload(message(root=root)), "d", MemoryJournal())
    assert "refused the login" in str(failure.value) and "SMTP_PASSWORD" in str(failure.value)
    assert PASSWORD not in str(failure.value)
    assert server.messages == []


def test_an_unset_password_variable_is_named(root: Path, mailer: Callable[..., MailerPublisher],
                                             smtp_server: Callable[..., SmtpServer]) -> None:
    pub = mailer(smtp_server(tls="starttls"), username="${SMTP_USER}", password="${PRESS_PW}")
    with pytest.raises(PermanentError, match="the environment variable PRESS_PW is not set"):
        pub.publish(pub.payload(message(root=root)), "d", MemoryJournal())


def test_an_unreachable_server_is_transient(root: Path, mailer: Callable[..., MailerPublisher]) -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    pub = mailer(host="127.0.0.1", port=port)
    with pytest.raises(TransientError, match=f"cannot talk to the SMTP server 127.0.0.1:{port}"):
        pub.publish(pub.payload(message(root=root)), "d", MemoryJournal())


# -- outbox and the press list ----------------------------------------------------------


def test_without_a_host_the_release_goes_to_the_outbox(root: Path, mailer: Callable[..., MailerPublisher]) -> None:
    # A host named as ${NAME} but unset is an error, not the outbox: tests/test_outbox_rules.py.
    pub = mailer(host=None)
    assert pub.outbox()
    payload = pub.payload(message(root=root))
    receipt = pub.publish(payload, "skolstart/start/press", MemoryJournal())
    written = root / "outbox" / "press" / "skolstart_start_press.eml"
    assert written.read_bytes() == payload.files["press.eml"]
    assert receipt.note == "written to outbox/press/skolstart_start_press.eml (no SMTP host configured)"
    assert [p.name for p in written.parent.iterdir()] == [written.name]  # no temp file left


def test_a_bad_line_of_the_press_list_is_skipped_and_everyone_else_gets_the_release(
        root: Path, mailer: Callable[..., MailerPublisher], smtp_server: Callable[..., SmtpServer]) -> None:
    (root / "presslista.csv").write_text(
        "name,email,outlet\nA,a@press.example,T\nB,b@press,T\nC,c@press.example,T\nD,,T\n"
        "E,e@räksmörgås.example,T\n", encoding="utf-8")
    server = smtp_server()
    pub = mailer(server)
    payload = pub.payload(message(root=root))
    assert payload.fields["recipients"] == 3
    journal = MemoryJournal()
    receipt = pub.publish(payload, "skolstart/start/press", journal)
    # (an international domain name is sent in its ASCII form)
    assert server.recipients == ["a@press.example", "c@press.example", "e@xn--rksmrgs-5wao1o.example"]
    assert receipt.note == (
        "sent to 3 of 3; 2 line(s) of the press list skipped (presslista.csv:3: 'b@press' is not one e-mail "
        "address (the part after the @-sign is not valid. It should have a period); presslista.csv:5: no e-mail "
        "address); fix or remove them"
    )
    # and the strict reading (doctor) names every bad line
    with pytest.raises(PermanentError) as failure:
        read_recipients(root / "presslista.csv", "presslista.csv")
    assert str(failure.value).splitlines()[1:] == [
        "presslista.csv:5: no e-mail address", "fix or remove these lines of the press list"]


def test_a_press_list_of_bad_lines_only_fails_and_names_them(
        root: Path, mailer: Callable[..., MailerPublisher], smtp_server: Callable[..., SmtpServer]) -> None:
    (root / "presslista.csv").write_text("name,email,outlet\nB,b@press,T\n", encoding="utf-8")
    server = smtp_server()
    pub = mailer(server)
    with pytest.raises(PermanentError, match=r"^presslista.csv: the press list has nobody on it; 1 line\(s\) of "
                                             r"the press list skipped \(presslista.csv:2: 'b@press'"):
        pub.publish(pub.payload(message(root=root)), "d", MemoryJournal())
    assert server.recipients == []


def test_a_yaml_press_list(root: Path, mailer: Callable[..., MailerPublisher],
                           smtp_server: Callable[..., SmtpServer]) -> None:
    (root / "press.yaml").write_text(
        "- {name: A, email: a@press.example, outlet: T}\n"
        "- name: B\n  email: B@Press.example\n  outlet: T\n"
        "- {name: B again, email: b@press.example, outlet: T}\n", encoding="utf-8")
    server = smtp_server()
    pub = mailer(server, recipients="press.yaml")
    payload = pub.payload(message(root=root))
    assert payload.fields["recipients"] == 2
    pub.publish(payload, "d", MemoryJournal())
    assert server.recipients == ["a@press.example", "B@press.example"]  # (a domain's case means nothing)

    (root / "press.yaml").write_text("- {name: A, email: a@press.example}\n- {name: B, email: not-mail}\n- [x]\n")
    press = pub.press_list()
    assert press.recipients == [Recipient("A", "a@press.example", "")]
    assert press.bad == [BadLine(2, 20, "'not-mail' is not one e-mail address (an email address must have an @-sign)"),
                         BadLine(3, 3, "expected {name, email, outlet}")]


def test_an_alert_to_an_international_domain_goes_out_in_its_ascii_form(
        root: Path, mailer: Callable[..., MailerPublisher], smtp_server: Callable[..., SmtpServer]) -> None:
    server = smtp_server()
    assert mailer(server).notify(["jour@växjö.example"], "Larm", "Text") == "sent to 1"
    assert server.recipients == ["jour@xn--vxj-qla6g.example"]
