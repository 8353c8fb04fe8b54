"""Who signed what, and how: the ledger's record of approvals and requests for changes,
the command line's operating-system user, desk-only parties, and the config that names
each party's people."""

from __future__ import annotations

import getpass
import json
from pathlib import Path

import pytest

from samverkan.approvals import TextChanged, approval_of, sign
from samverkan.ledger import Ledger
from samverkan.loading import load_configured
from tests.helpers.cli import invoke, validate
from tests.helpers.daemon import Clock, started_daemon
from tests.helpers.plans import MINIMAL_CONFIG

NOW = "2018-08-13T07:00"


def said(root: Path, party: str, verdict: str, comment: str | None = None, seen: str | None = None) -> None:
    project = load_configured(root)
    campaign = project.campaigns["skola"]
    message = campaign.message("start")
    with Ledger(root / "state/samverkan.db") as ledger:
        current = approval_of(project, ledger, campaign, message).content_hash
        sign(project, ledger, campaign, message, party=party, name=f"Anna {party}", email=f"anna@{party}.example",
             verdict=verdict, seen_hash=seen or current, comment=comment, now=Clock(NOW)())


def test_cli_approval_records_the_operating_system_user(approval_root: Path) -> None:
    out = invoke("approve", "skola/start", "--party", "kommunen", "--by", "Kim", "--root", str(approval_root), "--now", NOW)
    assert out.exit_code == 0, out.output
    assert f"recorded with the operating-system user {getpass.getuser()}" in out.output
    listing = json.loads(invoke("approvals", "--root", str(approval_root), "--now", NOW, "--format", "json").output)
    [record] = listing["approvals"]
    assert (record["party"], record["approved_by"], record["way"], record["os_user"], record["verdict"]) == (
        "kommunen", "Kim", "cli", getpass.getuser(), "approve")


def test_a_request_for_changes_holds_the_message_and_status_says_so(approval_root: Path) -> None:
    said(approval_root, "kommunen", "approve")
    said(approval_root, "polisen", "changes", "Skriv ut telefonnumret")
    d = started_daemon(approval_root, Clock("2018-08-13T07:30"))
    try:
        assert d.tick() == 0
        assert d.ledger.get("skola/start/notes").state == "held"
    finally:
        d.close()
    status = invoke("status", "--root", str(approval_root), "--now", NOW).output
    assert "skola/start  by polisen" in status
    assert "changes requested by polisen (Anna polisen): Skriv ut telefonnumret" in status
    data = json.loads(invoke("status", "--root", str(approval_root), "--now", NOW, "--format", "json").output)
    assert data["awaiting_approval"][0]["changes_requested"] == {"polisen": {"by": "Anna polisen", "comment": "Skriv ut telefonnumret"}}
    listing = invoke("approvals", "--root", str(approval_root), "--now", NOW).output
    assert "changes requested by polisen (Anna polisen" in listing
    # the party's approval of the same text afterwards lets it go
    said(approval_root, "polisen", "approve")
    d = started_daemon(approval_root, Clock("2018-08-13T07:31"))
    try:
        assert d.tick() == 1
    finally:
        d.close()


def test_a_later_request_for_changes_takes_an_approval_back(approval_root: Path) -> None:
    said(approval_root, "kommunen", "approve")
    said(approval_root, "polisen", "approve")
    said(approval_root, "kommunen", "changes", "Fel datum")
    d = started_daemon(approval_root, Clock("2018-08-13T07:30"))
    try:
        assert d.tick() == 0
        assert d.ledger.get("skola/start/notes").note == "awaiting approval by kommunen"
    finally:
        d.close()


def test_sign_off_is_bound_to_the_text_seen(approval_root: Path) -> None:
    with pytest.raises(TextChanged, match="the text has changed: look again"):
        said(approval_root, "kommunen", "approve", seen="0" * 64)
    with Ledger(approval_root / "state/samverkan.db") as ledger:
        assert ledger.approvals() == []
    with pytest.raises(Exception, match="say what should change"):
        said(approval_root, "kommunen", "changes", "  ")


def test_desk_only_party_cannot_approve_on_the_command_line(approval_root: Path) -> None:
    config = approval_root / "config.yaml"
    config.write_text(config.read_text().replace(
        "approval: [kommunen, polisen]", "approval: {parties: [kommunen, polisen], desk_only: [polisen]}"), encoding="utf-8")
    refused = invoke("approve", "skola/start", "--party", "polisen", "--by", "Pat", "--root", str(approval_root), "--now", NOW)
    assert refused.exit_code == 1
    assert "polisen's approvals come through the press desk only (config.yaml approval: desk_only)" in refused.output
    assert invoke("approve", "skola/start", "--party", "kommunen", "--by", "Kim", "--root", str(approval_root),
                  "--now", NOW).exit_code == 0


PEOPLE = """\
people:
  kommunen:
    - {name: Kim, email: kim@kommun.example, role: approver}
  polis:
    - {name: Pat, email: Kim@Kommun.example, role: operator}
  polisen:
    - {name: Vera, email: vera-at-polisen, role: viewer}
desk: {base_url: desk.kommun.example, channel: webb}
"""


def test_people_and_desk_are_checked(make_root) -> None:
    config = MINIMAL_CONFIG.replace("approval: []", "approval: {parties: [kommunen, polis], desk_only: [polisn]}") + PEOPLE
    code, lines = validate(make_root(config=config))
    assert code == 1
    text = "\n".join(lines)
    assert "approval: parties: unknown party 'polis'; did you mean 'polisen'?" in text
    assert "approval: desk_only: unknown party 'polisn'; did you mean 'polisen'?" in text
    assert "people: unknown party 'polis'" in text
    assert "people: Kim@Kommun.example is listed twice (also under kommunen)" in text
    assert "people: 'vera-at-polisen' is not an e-mail address" in text
    assert "desk: base_url: 'desk.kommun.example' is not a web address" in text
    assert "desk: channel: webb is not a mailer channel" in text


def test_a_role_is_one_of_three(make_root) -> None:
    config = MINIMAL_CONFIG + "people:\n  polisen:\n    - {name: Ola, email: ola@polisen.example, role: boss}\n"
    code, lines = validate(make_root(config=config))
    assert code == 1
    assert "config.yaml:32:53: error: role: 'boss' is not allowed; use one of: 'approver', 'operator' or 'viewer'" in lines


def test_desk_only_needs_a_desk(make_root) -> None:
    config = MINIMAL_CONFIG.replace("approval: []", "approval: {desk_only: [polisen]}")
    code, lines = validate(make_root(config=config))
    assert code == 1
    assert any("approval: desk_only: the parties named approve on the press desk, but config.yaml has no desk: section"
               in line for line in lines)


def test_approvals_say_who_approved_and_how(approval_root: Path) -> None:
    invoke("approve", "skola/start", "--party", "kommunen", "--by", "Kim", "--root", str(approval_root), "--now", NOW)
    said(approval_root, "polisen", "approve")
    listing = invoke("approvals", "--root", str(approval_root), "--now", NOW).output
    assert "skola/start  approved" in listing
    assert f"approved by kommunen: Kim (cli, user {getpass.getuser()}), 2018-08-13 07:00" in listing
    assert "approved by polisen: Anna polisen (desk), 2018-08-13 07:00" in listing


def test_the_desk_needs_its_section(approval_root: Path) -> None:
    out = invoke("desk", "--root", str(approval_root), "--port", "0")
    assert out.exit_code == 1
    assert "config.yaml has no desk: section" in out.output


def test_an_approval_from_the_command_line_does_not_count_once_the_party_is_desk_only(approval_root: Path) -> None:
    """Approved on the command line, then config.yaml says polisen signs on the desk only:
    the old approval no longer lets the message out."""
    for party in ("kommunen", "polisen"):
        assert invoke("approve", "skola/start", "--party", party, "--by", "X", "--root", str(approval_root),
                      "--now", NOW).exit_code == 0
    config = approval_root / "config.yaml"
    config.write_text(config.read_text().replace(
        "approval: [kommunen, polisen]", "approval: {parties: [kommunen, polisen], desk_only: [polisen]}"), encoding="utf-8")
    result = invoke("publish", "skola/start", "--root", str(approval_root), "--now", "2018-08-13T07:30")
    assert "held" in result.output and "polisen" in result.output, result.output
