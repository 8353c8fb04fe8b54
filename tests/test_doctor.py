"""``samverkan doctor``: every channel checked without publishing, against the local fake
Graph API and a real SMTP server on 127.0.0.1."""

from __future__ import annotations

import json
import logging
import sqlite3
import time
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest
from click.testing import CliRunner, Result

from samverkan.cli import cli
from tests.helpers.graph import GraphServer, closed_port_url, graph_server  # noqa: F401 (fixture)
from tests.helpers.plans import MINIMAL_CONFIG, with_channels
from tests.helpers.smtp import SmtpServer, smtp_server  # noqa: F401 (fixture)

# aiosmtpd warns about its own use of a deprecated attribute on every login.
pytestmark = pytest.mark.filterwarnings("ignore:Session.login_data is deprecated")

PAGE = "112386409275163"
TOKEN = "EAAGm0PX4ZCpsBAHemligtDoctorToken42"
PASSWORD = "s3cret-Pa55word"
PRESS_LIST = "name,email,outlet\nLena Berg,lena@tidning.example,Tidningen\nJohan,johan@radio.example,Radio\n"


@pytest.fixture(autouse=True)
def no_secret_in_logs(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """All loggers at DEBUG (urllib3 logs URLs there): neither the token nor the password
    may show up in any record."""
    caplog.set_level(logging.DEBUG)
    yield
    formatter = logging.Formatter("%(name)s %(message)s")
    for when in ("setup", "call"):
        for record in caplog.get_records(when):
            text = formatter.format(record)
            assert TOKEN not in text and PASSWORD not in text


def facebook_channel(url: str, **extra: str) -> str:
    lines = [
        "  facebook-polisen:",
        "    publisher: facebook",
        f'    page_id: "{PAGE}"',
        "    token: ${FB_TOKEN_POLISEN}",
        f"    graph_url: {url}",
        "    timeout: 2",
    ] + [f"    {k}: {v}" for k, v in extra.items()]
    return "\n".join(lines) + "\n"


def press_channel(server: SmtpServer | None, **extra: Any) -> str:
    values: dict[str, Any] = {"publisher": "mailer", "from": '"Trygg <trygghet@kommun.example>"',
                              "recipients": "presslista.csv", "timeout": 5}
    if server is not None:
        values.update(host=server.host, port=server.port)
        if server.tls == "starttls":
            values.update(security="starttls", ca_file=server.cafile)
        elif server.tls == "implicit":
            values.update(security="tls", ca_file=server.cafile)
    values.update(extra)
    return "  press:\n" + "".join(f"    {k}: {v}\n" for k, v in values.items())


def doctor(root: Path, *args: str, env: dict[str, str] | None = None) -> Result:
    base = {"FB_TOKEN_POLISEN": TOKEN, "SMTP_USER": "pressbot", "SMTP_PASSWORD": PASSWORD}
    return CliRunner().invoke(cli, ["doctor", "--root", str(root), *args], env={**base, **(env or {})},
                              catch_exceptions=False)


def lines_of(result: Result, channel: str) -> list[str]:
    return [line for line in result.output.splitlines() if f"  {channel}: " in line]


@pytest.fixture
def fb_root(make_root: Callable[..., Path], graph_server: GraphServer) -> Path:  # noqa: F811
    root = make_root(config=with_channels(facebook_channel(graph_server.url)))
    (root / "public").mkdir()
    return root


# --- facebook ------------------------------------------------------------------------------


def test_expired_token_is_reported_with_the_channel_and_what_to_do(fb_root: Path, graph_server: GraphServer) -> None:  # noqa: F811
    graph_server.add_token(TOKEN, profile_id=PAGE, expired=True)
    result = doctor(fb_root)
    assert result.exit_code == 1, result.output
    assert lines_of(result, "facebook-polisen") == [
        "FAIL  facebook-polisen: token: the page token for facebook-polisen has expired: "
        "create a new one and set FB_TOKEN_POLISEN"
    ]
    assert "1 failure(s)" in result.output
    assert not graph_server.writes()  # nothing posted


def test_token_of_another_page_is_reported(fb_root: Path, graph_server: GraphServer) -> None:  # noqa: F811
    graph_server.add_token(TOKEN, profile_id="999000999", name="Grannkommunen")
    result = doctor(fb_root)
    assert result.exit_code == 1
    assert lines_of(result, "facebook-polisen") == [
        f"FAIL  facebook-polisen: token: the token in FB_TOKEN_POLISEN belongs to Grannkommunen (999000999), "
        f"not to page {PAGE} -> create a page token for page {PAGE} and set FB_TOKEN_POLISEN "
        "(or correct page_id of facebook-polisen in config.yaml)"
    ]


def test_missing_permission_is_reported(fb_root: Path, graph_server: GraphServer) -> None:  # noqa: F811
    graph_server.add_token(TOKEN, profile_id=PAGE, scopes=("pages_show_list", "pages_read_engagement"))
    result = doctor(fb_root)
    assert result.exit_code == 1
    [fail] = [line for line in lines_of(result, "facebook-polisen") if line.startswith("FAIL")]
    assert fail == (
        "FAIL  facebook-polisen: permissions: the page token for facebook-polisen lacks the pages_manage_posts "
        "permission: it may not post -> create a page token with the pages_manage_posts and "
        f"pages_read_engagement permissions for page {PAGE} and set FB_TOKEN_POLISEN"
    )


def test_permission_granted_for_other_pages_only_is_reported(fb_root: Path, graph_server: GraphServer) -> None:  # noqa: F811
    graph_server.add_token(TOKEN, profile_id=PAGE, granular_scopes=[
        {"scope": "pages_manage_posts", "target_ids": ["104718532690417"]}])
    result = doctor(fb_root)
    assert result.exit_code == 1
    assert any("may post only on other pages (104718532690417)" in line for line in lines_of(result, "facebook-polisen"))


def test_good_token_passes_and_tells_when_it_expires(fb_root: Path, graph_server: GraphServer) -> None:  # noqa: F811
    expires = int(time.time()) + 60 * 86400
    graph_server.add_token(TOKEN, profile_id=PAGE, name="Polisen Hultsfred", expires_at=expires)
    result = doctor(fb_root)
    assert result.exit_code == 0, result.output
    fb = lines_of(result, "facebook-polisen")
    assert fb[0] == f"ok    facebook-polisen: token: valid page token for Polisen Hultsfred ({PAGE})"
    assert fb[1] == "ok    facebook-polisen: permissions: may post (pages_manage_posts, pages_read_engagement)"
    assert fb[2].startswith("ok    facebook-polisen: expiry: the token expires 20")
    # Read only, and the token never in a URL except as debug_token's input_token.
    assert not graph_server.writes()
    for req in graph_server.requests:
        assert req.token_in == {"header"}
        assert TOKEN not in req.path and req.query.get("access_token") is None
    assert [r.path.rsplit("/", 1)[-1] for r in graph_server.requests] == ["me", "debug_token"]
    assert graph_server.requests[1].query["input_token"] == TOKEN


def test_token_that_expires_soon_is_a_warning(fb_root: Path, graph_server: GraphServer) -> None:  # noqa: F811
    graph_server.add_token(TOKEN, profile_id=PAGE, data_access_expires_at=int(time.time()) + 3 * 86400 - 60)
    result = doctor(fb_root)
    assert result.exit_code == 0
    [expiry] = [line for line in lines_of(result, "facebook-polisen") if ": expiry: " in line]
    assert expiry.startswith("WARN  facebook-polisen: expiry: its data access ends 20")
    assert "in 2 days -> create a new page token for page" in expiry and expiry.endswith("before then")


def test_debug_token_refused_is_a_warning_not_a_failure(fb_root: Path, graph_server: GraphServer) -> None:  # noqa: F811
    graph_server.add_token(TOKEN, profile_id=PAGE)
    refused = {"error": {"message": "(#100) The App_id in the input_token did not match the Viewing App",
                         "type": "OAuthException", "code": 100}}
    graph_server.route("GET", r"/debug_token", lambda req: (400, refused))
    result = doctor(fb_root)
    assert result.exit_code == 0, result.output
    [warn] = [line for line in lines_of(result, "facebook-polisen") if line.startswith("WARN")]
    assert "could not read the token's permissions and expiry" in warn
    assert "https://developers.facebook.com/tools/debug/accesstoken/" in warn


def test_no_token_configured_is_a_warning(make_root: Callable[..., Path]) -> None:
    config = with_channels(facebook_channel(closed_port_url()).replace("    token: ${FB_TOKEN_POLISEN}\n", ""))
    result = doctor(make_root(config=config))
    assert result.exit_code == 0
    assert lines_of(result, "facebook-polisen")[0].startswith(
        "WARN  facebook-polisen: token: writes posts to outbox/facebook-polisen (no token configured)")


def test_unreachable_graph_api_fails(make_root: Callable[..., Path]) -> None:
    result = doctor(make_root(config=with_channels(facebook_channel(closed_port_url()))))
    assert result.exit_code == 1
    assert lines_of(result, "facebook-polisen")[0].startswith("FAIL  facebook-polisen: token: cannot reach http://127.0.0.1:")


def test_json_format(fb_root: Path, graph_server: GraphServer) -> None:  # noqa: F811
    graph_server.add_token(TOKEN, profile_id=PAGE, expired=True)
    result = doctor(fb_root, "--format", "json")
    data = json.loads(result.output)
    assert data["ok"] is False
    fails = [c for c in data["checks"] if c["status"] == "fail"]
    assert fails == [{"channel": "facebook-polisen", "what": "token", "status": "fail", "fix": None,
                      "message": "the page token for facebook-polisen has expired: create a new one and set FB_TOKEN_POLISEN"}]


# --- mailer --------------------------------------------------------------------------------


@pytest.fixture
def press_root(make_root: Callable[..., Path]) -> Callable[..., Path]:
    def make(server: SmtpServer | None, press_list: str = PRESS_LIST, **extra: Any) -> Path:
        root = make_root(config=with_channels(press_channel(server, **extra)))
        (root / "presslista.csv").write_text(press_list, encoding="utf-8")
        return root

    return make


LOGIN = {"username": "${SMTP_USER}", "password": "${SMTP_PASSWORD}"}


def test_smtp_without_starttls_is_reported_and_no_password_sent(press_root, smtp_server) -> None:  # noqa: F811
    # A plain server that even offers AUTH in clear: the trap for a careless client.
    server = smtp_server(auth={"pressbot": PASSWORD}, auth_without_tls=True)
    root = press_root(server, security="starttls", **LOGIN)
    result = doctor(root)
    assert result.exit_code == 1
    assert lines_of(result, "press")[0] == (
        f"FAIL  press: smtp: the SMTP server 127.0.0.1:{server.port} does not offer STARTTLS; nothing was sent "
        "(and no password): use a server that does, or security: tls"
    )
    assert server.auth_commands == [] and server.logins == []
    assert server.messages == []
    assert PASSWORD not in result.output


def test_password_with_security_none_is_refused_without_connecting(press_root, smtp_server) -> None:  # noqa: F811
    server = smtp_server(auth={"pressbot": PASSWORD}, auth_without_tls=True)
    result = doctor(press_root(server, security="none", **LOGIN))
    assert result.exit_code == 1
    assert "a password is configured but security is none; it is never sent unencrypted" in lines_of(result, "press")[0]
    assert server.connections == 0


def test_starttls_and_login_accepted_and_nothing_sent(press_root, smtp_server) -> None:  # noqa: F811
    server = smtp_server(tls="starttls", auth={"pressbot": PASSWORD})
    result = doctor(press_root(server, **LOGIN))
    assert result.exit_code == 0, result.output
    assert lines_of(result, "press") == [
        f"ok    press: smtp: 127.0.0.1:{server.port} answers, STARTTLS works, login accepted",
        "ok    press: press list: presslista.csv: 2 recipient(s), every address well formed",
        "ok    press: from: sends as trygghet@kommun.example",
    ]
    assert server.logins == [("pressbot", PASSWORD)]
    assert server.messages == [] and server.connections == 1


def test_implicit_tls_works(press_root, smtp_server) -> None:  # noqa: F811
    server = smtp_server(tls="implicit")
    result = doctor(press_root(server))
    assert result.exit_code == 0, result.output
    assert lines_of(result, "press")[0] == f"ok    press: smtp: 127.0.0.1:{server.port} answers, TLS works"


def test_wrong_password_is_reported_without_the_password(press_root, smtp_server) -> None:  # noqa: F811
    server = smtp_server(tls="starttls", auth={"pressbot": "another"})
    result = doctor(press_root(server, **LOGIN))
    assert result.exit_code == 1
    line = lines_of(result, "press")[0]
    assert line.startswith(f"FAIL  press: smtp: the SMTP server 127.0.0.1:{server.port} refused the login (535")
    assert line.endswith("check SMTP_USER and SMTP_PASSWORD")
    assert PASSWORD not in result.output


def test_bad_press_list_addresses_are_named(press_root) -> None:
    bad = PRESS_LIST + "Ola,ola(at)tidning.example,Tidningen\n"
    result = doctor(press_root(None, press_list=bad))
    assert result.exit_code == 1
    out = lines_of(result, "press")
    assert out[0] == ("WARN  press: smtp: writes .eml files to outbox/press (no SMTP host configured) "
                      "-> to send press releases, set host: in config.yaml")
    assert out[1] == ("FAIL  press: press list: presslista.csv:4: 'ola(at)tidning.example' is not one e-mail address "
                      "(an email address must have an @-sign) -> fix or remove these lines of the press list "
                      "(releases go to the others without them)")


# --- rss, state, alerts, config ------------------------------------------------------------


def test_rss_output_that_cannot_be_made_fails_and_url_mismatch_warns(make_root: Callable[..., Path]) -> None:
    config = MINIMAL_CONFIG.replace("self_url: https://kommun.example/trygghet/feed.xml",
                                    "self_url: http://kommun.example/trygghet/rss")
    root = make_root(config=config)
    (root / "public").write_text("a file where the feed's folder should be")
    result = doctor(root)
    assert result.exit_code == 1
    assert lines_of(result, "webb") == [
        f"FAIL  webb: output: {root / 'public'} cannot be made: {root / 'public'} is a file, not a folder "
        f"-> move {root / 'public'} away, or change output",
        "WARN  webb: urls: self_url http://kommun.example/trygghet/rss is not an https URL "
        "-> write it as https://...; readers and browsers warn about plain http",
        "WARN  webb: urls: self_url http://kommun.example/trygghet/rss does not end with feed.xml, the file output "
        "writes -> make self_url the public address of public/feed.xml (feed readers fetch it from there)",
    ]


def test_rss_writable_folder_passes_and_leaves_nothing(make_root: Callable[..., Path]) -> None:
    root = make_root()
    (root / "public").mkdir()
    result = doctor(root)
    assert result.exit_code == 0, result.output
    assert lines_of(result, "webb")[0] == f"ok    webb: output: {root / 'public' / 'feed.xml'} can be written"
    assert list((root / "public").iterdir()) == []


def test_damaged_ledger_fails(make_root: Callable[..., Path]) -> None:
    root = make_root()
    (root / "state").mkdir()
    (root / "state" / "samverkan.db").write_bytes(b"this is not an SQLite database" * 100)
    result = doctor(root)
    assert result.exit_code == 1
    [line] = [line for line in lines_of(result, "state") if ": ledger: " in line]
    assert line.startswith(f"FAIL  state: ledger: {root / 'state' / 'samverkan.db'} does not open")
    assert "restore it from the backup" in line


def test_existing_ledger_opens_read_only(make_root: Callable[..., Path]) -> None:
    from samverkan.ledger import MIGRATIONS, Ledger

    root = make_root()
    Ledger(root / "state" / "samverkan.db").close()
    result = doctor(root)
    assert f"ok    state: ledger: {root / 'state' / 'samverkan.db'} opens (schema {len(MIGRATIONS)})" in result.output


def test_low_disk_warns(make_root: Callable[..., Path], monkeypatch: pytest.MonkeyPatch) -> None:
    import shutil

    from samverkan import doctor as module

    # A full disk cannot be made for a test; the measurement is stood in for.
    monkeypatch.setattr(module.shutil, "disk_usage", lambda p: shutil._ntuple_diskusage(10**9, 10**9 - 50 * 2**20, 50 * 2**20))
    result = doctor(make_root())
    assert "WARN  state: disk: 50 MB free in" in result.output
    assert result.exit_code == 0


def test_alerts_naming_a_channel_that_cannot_mail_fail(make_root: Callable[..., Path]) -> None:
    tail = "alerts:\n  mail: {channel: webb, to: [vakt@kommun.example]}\n"
    result = doctor(make_root(config=MINIMAL_CONFIG + tail))
    assert result.exit_code == 1
    assert "config.yaml:31:19: error: alerts: channel 'webb' uses publisher rss, which cannot send e-mail; " \
        "name a channel with publisher: mailer" in result.output


def test_alerts_unknown_channel_fails(make_root: Callable[..., Path]) -> None:
    tail = "alerts:\n  mail: {channel: pres, to: [vakt@kommun.example]}\n"
    result = doctor(make_root(config=MINIMAL_CONFIG + tail))
    assert result.exit_code == 1
    # a config error now, found with its place before any check runs
    assert "config.yaml:31:19: error: alerts: unknown channel 'pres'; name a channel with publisher: mailer" in result.output


def test_invalid_config_exits_1_with_the_errors(make_root: Callable[..., Path]) -> None:
    result = doctor(make_root(config=MINIMAL_CONFIG.replace("timezone: Europe/Stockholm", "timezone: Europe/Stokholm")))
    assert result.exit_code == 1
    assert "config.yaml:" in result.output and "unknown time zone 'Europe/Stokholm'" in result.output


def test_the_ledger_is_not_migrated_or_made_by_doctor(make_root: Callable[..., Path]) -> None:
    root = make_root()
    doctor(root)
    assert not (root / "state").exists()
    db_path = root / "state" / "samverkan.db"
    db_path.parent.mkdir()
    db = sqlite3.connect(db_path)
    db.execute("PRAGMA user_version = 1")
    db.close()
    doctor(root)
    db = sqlite3.connect(db_path)
    assert db.execute("PRAGMA user_version").fetchone()[0] == 1
    db.close()


def test_alert_command_that_is_not_found_warns(make_root: Callable[..., Path]) -> None:
    result = doctor(make_root(config=MINIMAL_CONFIG + 'alerts:\n  command: "no-such-pager --to vakt"\n'))
    assert result.exit_code == 0
    assert lines_of(result, "alerts") == [
        "WARN  alerts: command: alerts.command: 'no-such-pager' is not found on PATH -> give the full path of the program"
    ]
