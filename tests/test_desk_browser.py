"""The desk in a real browser (the ``browser`` fixture: tests/helpers/browser.py): headless Chromium (Debian's ``chromium``, which .ci/run
installs) driven by Playwright signs in through the mailed link and approves, and axe-core
finds no WCAG 2.1 A or AA violation on the sign-in page, the index and a message page."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from samverkan.ledger import Ledger
from tests.helpers.daemon import Clock
from tests.helpers.desk import desk_plan, link_in, mails_to, running_desk
from tests.helpers.smtp import smtp_server  # noqa: F401 (fixture)

WCAG_21_AA = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]


def violations(page: Any) -> list[str]:
    """axe-core's WCAG 2.1 A and AA violations on the page, one line each."""
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page, options={"runOnly": {"type": "tag", "values": WCAG_21_AA}, "resultTypes": ["violations"]})
    assert results.response["passes"], "axe ran no rule"
    return [f"{v['id']}: {v['help']} ({', '.join(str(n['target']) for n in v['nodes'])})"
            for v in results.response["violations"]]


def test_sign_in_approve_and_no_accessibility_violation(make_root, smtp_server, plugin_env, browser) -> None:
    smtp = smtp_server()
    root: Path = desk_plan(make_root, smtp, channels="[webb, brev]")
    with running_desk(root, Clock("2018-08-10T09:00")) as desk:
        page = browser.new_page()
        page.goto(desk.url)
        assert page.url.endswith("/login?next=/")
        assert violations(page) == []  # the sign-in page
        page.get_by_label("E-postadress").fill("kim@kommun.example")
        page.get_by_role("button", name="Skicka inloggningslänk").click()
        assert "Om adressen hör till någon av pressdeskens användare" in page.content()
        link = link_in(mails_to(smtp, "kim@kommun.example")[-1])
        page.goto(link)
        page.get_by_role("button", name="Logga in").click()
        assert page.get_by_text("Inloggad som Kim Kommun").is_visible()
        assert violations(page) == []  # the index
        page.get_by_role("link", name="Nu börjar skolan").click()
        assert page.get_by_role("heading", name="Nu börjar skolan", exact=True).is_visible()
        assert violations(page) == []  # a message page, with the press release and the RSS item
        page.get_by_role("button", name="Godkänn för Kommunen").click()
        assert page.get_by_text("Du har godkänt texten.").is_visible()
        assert violations(page) == []
        page.get_by_role("button", name="Logga ut").click()
        assert page.url.endswith("/login")
        # an operator's index, with the pause form, and every page's pause banner
        page.get_by_label("E-postadress").fill("olle@kommun.example")
        page.get_by_role("button", name="Skicka inloggningslänk").click()
        page.goto(link_in(mails_to(smtp, "olle@kommun.example")[-1]))
        page.get_by_role("button", name="Logga in").click()
        assert violations(page) == []
        page.get_by_label("Kanal").select_option("webb")
        page.get_by_label("Varför (visas för alla och sparas)").fill("Fel bild")
        page.get_by_role("button", name="Pausa").click()
        assert page.get_by_role("heading", name="Publiceringen är pausad").is_visible()
        assert violations(page) == []
        page.get_by_role("link", name="Nu börjar skolan").click()
        assert page.get_by_text("Fel bild").is_visible() and violations(page) == []
    with Ledger(root / "state/samverkan.db") as ledger:
        [a] = ledger.approvals("skola/start")
    assert (a["party"], a["person"], a["way"]) == ("kommunen", "kim@kommun.example", "desk")
