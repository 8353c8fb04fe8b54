"""When the built-in publishers write to their outbox, and when they must fail instead.

The outbox is for a channel config.yaml gives no credentials (no ``token:``, no ``host:``).
A setting that names an environment variable the daemon does not have is a mistake to
report (doctor, the checks ahead, a failed delivery), never a quiet switch to files. And a
press release that no journalist accepted is not published.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any, Callable

import pytest
from click.testing import CliRunner

from publishers.base import Channel, MemoryJournal, PermanentError
from publishers.facebook import FacebookPublisher, FacebookSettings
from publishers.mailer import MailerPublisher, MailerSettings
from samverkan.cli import cli
from samverkan.ledger import Ledger
from samverkan.loading import load_project
from samverkan.plan import deliveries
from samverkan.publishing import Publishing
from samverkan.rendering import RenderedMessage
from tests.helpers.graph import closed_port_url
from tests.helpers.plans import TZ, campaign, message, with_channels
from tests.helpers.smtp import SmtpServer, smtp_server  # noqa: F401 (the fixture)

PAGE = "112386409275163"
FB_FIX = ("FB_TOKEN_POLISEN is not set in the daemon's environment: set it, or remove token: from "
          "channel facebook-polisen in config.yaml to write posts to the outbox")
SMTP_FIX = ("SAMVERKAN_SMTP_HOST is not set in the daemon's environment: set it, or remove host: from "
            "channel press in config.yaml to write press releases to the outbox")
PRESS_LIST = "name,email,outlet\nLena,lena@tidning.example,Tidningen\nJohan,johan@radio.example,Radio\n"


def rendered(**parts: str) -> RenderedMessage:
    return RenderedMessage(
        delivery_id="skola/start/ch", campaign="skola", message="start", channel="ch", publisher="x",
        at=datetime(2018, 8, 13, 7, 30, tzinfo=TZ), embargo=None, title="Nu börjar skolan",
        parts=parts, link=None, image=None, logos=(), contacts=(), parties=("Testkommun",),
    )


def facebook(root: Path, env: dict[str, str], **settings: Any) -> FacebookPublisher:
    values = {"publisher": "facebook", "page_id": PAGE, "token": "${FB_TOKEN_POLISEN}",
              "graph_url": closed_port_url(), "timeout": 0.5, **settings}
    return FacebookPublisher(Channel("facebook-polisen", FacebookSettings(**values), root, env))


def mailer(root: Path, env: dict[str, str], **settings: Any) -> MailerPublisher:
    (root / "presslista.csv").write_text(PRESS_LIST, encoding="utf-8")
    values = {"publisher": "mailer", "from": "Trygg <trygghet@kommun.example>", "recipients": "presslista.csv",
              "host": "${SAMVERKAN_SMTP_HOST}", "security": "none", "timeout": 5, **settings}
    return MailerPublisher(Channel("press", MailerSettings.model_validate(values), root, env))


# -- a Facebook token named in config.yaml but not in the environment -------------------------


@pytest.mark.parametrize("env", [{}, {"FB_TOKEN_POLISEN": ""}], ids=["unset", "empty"])
def test_an_unset_facebook_token_fails_instead_of_writing_the_outbox(tmp_path: Path, env: dict[str, str]) -> None:
    pub = facebook(tmp_path, env)
    assert pub.outbox() is False
    with pytest.raises(PermanentError) as failure:
        pub.publish(pub.payload(rendered(text="Sänk farten")), "skola/start/facebook-polisen", MemoryJournal())
    assert str(failure.value) == FB_FIX
    assert not (tmp_path / "outbox").exists()


def test_an_unset_facebook_token_fails_its_check(tmp_path: Path) -> None:
    [result] = facebook(tmp_path, {}).check()
    assert (result.status, result.what) == ("fail", "token")
    assert result.message == (f"FB_TOKEN_POLISEN is not set in the daemon's environment: posting to page {PAGE} "
                              "would fail")
    assert result.fix == (f"set FB_TOKEN_POLISEN to the page token of page {PAGE}, or remove token: from channel "
                          "facebook-polisen in config.yaml to write posts to the outbox")


def test_no_token_in_config_still_means_the_outbox(tmp_path: Path) -> None:
    pub = facebook(tmp_path, {"FB_TOKEN_POLISEN": "set-but-not-named"}, token=None)
    assert pub.outbox() is True
    pub.publish(pub.payload(rendered(text="Sänk farten")), "a/b/c", MemoryJournal())
    assert (tmp_path / "outbox" / "facebook-polisen" / "a--b--c.json").is_file()
    [result] = pub.check()
    assert result.status == "warn"


# -- an SMTP host named in config.yaml but not in the environment -----------------------------


@pytest.mark.parametrize("env", [{}, {"SAMVERKAN_SMTP_HOST": ""}], ids=["unset", "empty"])
def test_an_unset_smtp_host_fails_instead_of_writing_the_outbox(tmp_path: Path, env: dict[str, str]) -> None:
    pub = mailer(tmp_path, env)
    assert pub.outbox() is False
    payload = pub.payload(rendered(subject="Nu börjar skolan", text="Sänk farten.", html="<p>Sänk farten.</p>"))
    with pytest.raises(PermanentError) as failure:
        pub.publish(payload, "skola/start/press", MemoryJournal())
    assert str(failure.value) == SMTP_FIX
    with pytest.raises(PermanentError, match="SAMVERKAN_SMTP_HOST is not set in the daemon's environment"):
        pub.notify(["jour@kommun.example"], "larm", "text")  # alerts do not vanish into files either
    assert not (tmp_path / "outbox").exists()


def test_an_unset_smtp_host_fails_its_check(tmp_path: Path) -> None:
    server = mailer(tmp_path, {}).check()[0]
    assert (server.status, server.what) == ("fail", "smtp")
    assert server.message == "SAMVERKAN_SMTP_HOST is not set in the daemon's environment: press releases would fail"
    assert server.fix == ("set SAMVERKAN_SMTP_HOST to the SMTP server's name, or remove host: from channel press "
                          "in config.yaml to write press releases to the outbox")


def test_an_unset_smtp_login_is_named_with_the_fix(tmp_path: Path, smtp_server: Callable[..., SmtpServer]) -> None:  # noqa: F811
    server = smtp_server(tls="starttls")
    pub = mailer(tmp_path, {}, host=server.host, port=server.port, security="starttls", ca_file=server.cafile,
                 username="${SAMVERKAN_SMTP_USER}", password="${SAMVERKAN_SMTP_PASSWORD}")
    with pytest.raises(PermanentError) as failure:
        pub.publish(pub.payload(rendered(subject="S", text="T", html="<p>T</p>")), "d", MemoryJournal())
    assert str(failure.value) == (
        "channel press: the environment variable SAMVERKAN_SMTP_USER is not set in the daemon's environment: "
        "set it, or remove username: and password: from the channel in config.yaml to send without logging in")
    assert server.messages == []


def test_doctor_fails_on_named_but_unset_variables(make_root: Callable[..., Path]) -> None:
    config = with_channels(
        "  facebook-polisen:\n    publisher: facebook\n"
        f'    page_id: "{PAGE}"\n    token: ${{FB_TOKEN_POLISEN}}\n'
        "  press:\n    publisher: mailer\n    host: ${SAMVERKAN_SMTP_HOST}\n"
        "    from: Trygg <trygghet@kommun.example>\n    recipients: presslista.csv\n")
    root = make_root(config=config)
    (root / "presslista.csv").write_text(PRESS_LIST, encoding="utf-8")
    result = CliRunner().invoke(cli, ["doctor", "--root", str(root)],
                                env={"FB_TOKEN_POLISEN": None, "SAMVERKAN_SMTP_HOST": None})
    assert result.exit_code == 1, result.output
    lines = result.output.splitlines()
    assert (f"FAIL  facebook-polisen: token: FB_TOKEN_POLISEN is not set in the daemon's environment: posting to "
            f"page {PAGE} would fail -> set FB_TOKEN_POLISEN to the page token of page {PAGE}, or remove token: "
            "from channel facebook-polisen in config.yaml to write posts to the outbox") in lines
    assert ("FAIL  press: smtp: SAMVERKAN_SMTP_HOST is not set in the daemon's environment: press releases would "
            "fail -> set SAMVERKAN_SMTP_HOST to the SMTP server's name, or remove host: from channel press in "
            "config.yaml to write press releases to the outbox") in lines


def test_a_delivery_on_an_unset_token_fails_and_nothing_is_written(make_root: Callable[..., Path],
                                                                   tmp_path: Path) -> None:
    config = with_channels("  facebook-polisen:\n    publisher: facebook\n"
                           f'    page_id: "{PAGE}"\n    token: ${{FB_TOKEN_POLISEN}}\n')
    root = make_root(config=config, campaigns={"skola": campaign(message(channels="[facebook-polisen]"))})
    project = load_project(root)
    assert not project.problems.errors, project.problems
    [d] = deliveries(project)
    with Ledger(tmp_path / "state.db") as ledger:
        outcome = Publishing(project, ledger, lambda: d.at, env={}).publish(d)
        assert (outcome.result, outcome.detail) == ("failed", FB_FIX)
        assert ledger.get(d.id).state == "failed"
    assert not (root / "outbox").exists()


# -- a press release nobody accepted --------------------------------------------------------


def test_a_press_release_every_recipient_refused_fails(tmp_path: Path,
                                                       smtp_server: Callable[..., SmtpServer]) -> None:  # noqa: F811
    server = smtp_server(refuse={"lena@tidning.example": 550, "johan@radio.example": 550})
    pub = mailer(tmp_path, {}, host=server.host, port=server.port)
    journal = MemoryJournal()
    with pytest.raises(PermanentError) as failure:
        pub.publish(pub.payload(rendered(subject="S", text="T", html="<p>T</p>")), "d", journal)
    said = str(failure.value)
    assert said.startswith("no recipient accepted the press release: 2 refused (lena@tidning.example: 550 ")
    assert ", johan@radio.example: 550 " in said
    assert said.endswith("); check the addresses in presslista.csv and the server's reasons")
    assert server.messages == []
    assert {state for state, _ in journal.parts.values()} == {"refused"}


def test_a_press_release_some_recipients_refused_is_published(tmp_path: Path,
                                                              smtp_server: Callable[..., SmtpServer]) -> None:  # noqa: F811
    server = smtp_server(refuse={"lena@tidning.example": 550})
    pub = mailer(tmp_path, {}, host=server.host, port=server.port)
    receipt = pub.publish(pub.payload(rendered(subject="S", text="T", html="<p>T</p>")), "d", MemoryJournal())
    assert receipt.note == "sent to 1 of 2; 1 refused: lena@tidning.example"


def test_a_refused_press_release_is_recorded_failed(make_root: Callable[..., Path], tmp_path: Path,
                                                    smtp_server: Callable[..., SmtpServer]) -> None:  # noqa: F811
    server = smtp_server(refuse={"lena@tidning.example": 550, "johan@radio.example": 550})
    config = with_channels(f"  press:\n    publisher: mailer\n    host: {server.host}\n    port: {server.port}\n"
                           "    security: none\n    from: Trygg <trygghet@kommun.example>\n"
                           "    recipients: presslista.csv\n")
    root = make_root(config=config, campaigns={"skola": campaign(message(channels="[press]"))})
    (root / "presslista.csv").write_text(PRESS_LIST, encoding="utf-8")
    project = load_project(root)
    [d] = deliveries(project)
    with Ledger(tmp_path / "state.db") as ledger:
        outcome = Publishing(project, ledger, lambda: d.at, env={}).publish(d)
        assert outcome.result == "failed"
        assert outcome.detail.startswith("no recipient accepted the press release: 2 refused")
        assert ledger.get(d.id).state == "failed"
