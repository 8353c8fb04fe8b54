"""Press mail as modern mail expects it, against aiosmtpd on 127.0.0.1: the Date of sending."""

from __future__ import annotations

from email import policy
from email.parser import BytesParser
from pathlib import Path
from typing import Any, Callable

from samverkan.ledger import Ledger
from tests.helpers.cli import invoke
from tests.helpers.plans import campaign, message, with_channels
from tests.helpers.smtp import SmtpServer, smtp_server  # noqa: F401  (the fixture)

PRESS = [f"j{i}@tidning{i}.example" for i in range(6)]


# -- Date: the time of sending ------------------------------------------------------------

DELIVERY = "skola/start/press"


def press_plan(make_root: Callable[..., Path], server: SmtpServer, **settings: Any) -> Path:
    values: dict[str, Any] = {"publisher": "mailer", "host": server.host, "port": server.port, "timeout": 5,
                              "from": "Trygghet <trygghet@kommun.example>", "recipients": "presslista.csv"}
    values.update({"security": "starttls", "ca_file": server.cafile} if server.tls else {"security": "none"})
    values.update(settings)
    channel = "  press:\n" + "".join(f"    {k}: {v}\n" for k, v in values.items())
    text = campaign(message(at="2018-08-13 07:30", channels="[press]"), period=("2018-08-01", "2018-09-09"))
    root = make_root(config=with_channels(channel), campaigns={"skola": text})
    (root / "presslista.csv").write_text(
        "name,email,outlet\n" + "".join(f"J{i},{a},T{i}\n" for i, a in enumerate(PRESS[:3])), encoding="utf-8")
    return root


def test_a_late_release_is_dated_when_it_went_out_and_archived_as_sent(
        make_root: Callable[..., Path], smtp_server: Callable[..., SmtpServer]) -> None:  # noqa: F811
    server = smtp_server()
    root = press_plan(make_root, server)
    result = invoke("publish", DELIVERY, "--root", str(root), "--now", "2018-08-13T09:47:12")
    assert result.exit_code == 0, result.output
    assert len(server.messages) == 3
    mail = BytesParser(policy=policy.default).parsebytes(server.messages[0].data)
    assert mail["Date"] == "Mon, 13 Aug 2018 09:47:12 +0200"  # planned for 07:30, sent at 09:47
    with Ledger(root / "state/samverkan.db") as ledger:
        assert ledger.archive(DELIVERY)["press.eml"] == server.messages[0].data
