"""``samverkan preview --serve``: the local preview pages, over real HTTP on 127.0.0.1."""

from __future__ import annotations

import os
import queue
import re
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit
from typing import Iterator

import pytest

from samverkan.previewserver import make_server, url_of
from tests.helpers.plans import FULL_CAMPAIGN, FULL_CONFIG, REPO, full_root

NOW = "2018-08-01T09:00"


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=20) as response:
            return response.status, response.read().decode("utf-8")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode("utf-8")


@pytest.fixture
def serve_cli() -> Iterator:
    """Start ``samverkan preview --serve --port 0`` as a subprocess; yields a starter that
    returns the URL it printed."""
    procs: list[subprocess.Popen[str]] = []

    def start(root: Path, *args: str) -> str:
        proc = subprocess.Popen(
            [sys.executable, "-m", "samverkan", "preview", "--serve", "--port", "0", "--root", str(root), *args],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=REPO,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        procs.append(proc)
        lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=lambda: [lines.put(line) for line in proc.stdout], daemon=True).start()  # type: ignore[union-attr]
        try:
            first = lines.get(timeout=30)
        except queue.Empty:
            pytest.fail("the preview server printed nothing")
        match = re.search(r"http://127\.0\.0\.1:\d+/", first)
        assert match, first
        return match.group(0)

    yield start
    for proc in procs:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.fixture
def server(make_root) -> Iterator:
    """A preview server in a thread, on a free port; yields a starter taking the root."""
    servers = []

    def start(root: Path, now: str | None = NOW) -> str:
        srv = make_server(root, port=0, now=now)
        # a short poll: shutting the server down at the end waits for it
        threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        servers.append(srv)
        return url_of(srv)

    yield start
    for srv in servers:
        srv.shutdown()
        srv.server_close()


def test_serve_lists_upcoming_messages_and_shows_each_channel_and_edits(make_root, serve_cli) -> None:
    root = full_root(make_root)
    url = serve_cli(root, "--now", NOW)
    assert url.startswith("http://127.0.0.1:")

    status, index = get(url)
    assert status == 200
    assert '<html lang="sv">' in index and "<h1>Kommande meddelanden</h1>" in index
    assert "<h3>Måndag 13 augusti 2018</h3>" in index
    link = re.search(r'<a href="(/m/skolstart/start\?at=[^"]+)">Nu börjar skolan</a>', index)
    assert link, index
    assert "kanaler: fb-kommunen, fb-polisen, press, webb" in index

    status, page = get(url.rstrip("/") + link.group(1).replace("&amp;", "&"))
    assert status == 200
    assert "<h1>Nu börjar skolan</h1>" in page
    assert "måndag 13 augusti 2018 kl. 07.30" in page
    for channel in ("webb", "fb-kommunen", "fb-polisen", "press"):
        assert f'<h2 id="ch-{channel}">{channel} ' in page
    assert page.count('LIX <span class="lix">') == 4
    assert "<strong>Ämne:</strong> Nu börjar skolan" in page
    assert 'title="Pressmeddelandet som e-post (press)" srcdoc="' in page
    assert "data:image/png;base64," in page  # the logos and the image, shown in the browser
    assert '<div class="text">Nu börjar skolan\n\nSänk farten nära skolor.' in page  # the Facebook post
    assert 'alt="Ett övergångsställe"' in page
    assert 'id="approvals"' in page

    # an edit shows on the next request, without a restart
    campaign = root / "campaigns/skolstart.yaml"
    campaign.write_text(FULL_CAMPAIGN.replace("title: Nu börjar skolan", "title: Skolan börjar nu"), encoding="utf-8")
    assert "Skolan börjar nu" in get(url)[1]
    assert "<h1>Skolan börjar nu</h1>" in get(url + "m/skolstart/start")[1]

    # a campaign that does not validate: a clear panel with file and line
    campaign.write_text(FULL_CAMPAIGN.replace("trafik]", "trafk]"), encoding="utf-8")
    status, index = get(url)
    assert status == 200
    assert '<section class="problems" role="alert"' in index
    assert "<code>campaigns/skolstart.yaml:3:18</code>: error: unknown priority area &#x27;trafk&#x27;" in index
    status, page = get(url + "m/skolstart/start")
    assert "<h1>Kampanjen har fel</h1>" in page and "<code>campaigns/skolstart.yaml:3:18</code>" in page


def test_the_index_starts_from_now(make_root, server) -> None:
    root = full_root(make_root)
    assert "Nu börjar skolan" in get(server(root, "2018-08-13T07:30"))[1]
    later = get(server(root, "2018-08-13T07:31"))[1]
    assert "Nu börjar skolan" not in later and "Inga kommande meddelanden." in later


def test_a_template_error_is_shown_at_its_file_and_line(make_root, server) -> None:
    root = full_root(make_root, templates={"facebook/post.txt.j2": "{{ message.title }}\n{{ saknas }}"})
    status, page = get(server(root) + "m/skolstart/start")
    assert status == 200
    assert ("<code>content/templates/facebook/post.txt.j2:2:1</code>: error: &#x27;saknas&#x27; is undefined" in page)
    assert '<h2 id="ch-press">press ' in page and "<strong>Ämne:</strong> Nu börjar skolan" in page  # the others show


def test_content_problems_of_a_message_are_listed(make_root, server) -> None:
    root = full_root(make_root, {"skolstart": FULL_CAMPAIGN.replace("link: https://", "link: http://")})
    page = get(server(root) + "m/skolstart/start")[1]
    assert "<code>campaigns/skolstart.yaml:14:11</code>: warning: link: &#x27;http://kommun.example/skolstart&#x27; is not an https:// address" in page


def test_unknown_pages_are_404(make_root, server) -> None:
    url = server(full_root(make_root))
    assert get(url + "m/skolstart/nosuch")[0] == 404
    assert get(url + "favicon.ico")[0] == 404


def test_message_page_shows_approval_state_and_the_command(make_root, server) -> None:
    from click.testing import CliRunner

    from samverkan.cli import cli

    root = full_root(make_root, config=FULL_CONFIG.replace("approval: []", "approval: [kommunen, polisen]"))
    base = server(root)
    status, index = get(base)
    href = re.search(r'href="(/m/skolstart/[^"]+)"', index).group(1).replace("&amp;", "&")
    page = get(base + href.lstrip("/"))[1]
    assert "väntar" in page and 'samverkan approve skolstart/start --party polisen --by &quot;Ditt namn&quot;' in page
    message = href.split("/")[3].split("?")[0]
    result = CliRunner().invoke(cli, ["approve", f"skolstart/{message}", "--party", "polisen", "--by", "Pat Polis",
                                      "--root", str(root)])
    assert result.exit_code == 0, result.output
    page = get(base + href.lstrip("/"))[1]
    assert "godkänt av Pat Polis" in page
    assert "--party polisen" not in page and "--party kommunen" in page


def raw_get(url: str, host: str | None, path: str = "/", method: str = "GET") -> tuple[int, str]:
    """``method path`` to the server at ``url`` with this Host header (None: none at all)."""
    import http.client

    where = urlsplit(url)
    conn = http.client.HTTPConnection(where.hostname or "", where.port, timeout=20)
    try:
        conn.putrequest(method, path, skip_host=True)
        if host is not None:
            conn.putheader("Host", host)
        conn.endheaders()
        response = conn.getresponse()
        return response.status, response.read().decode("utf-8")
    finally:
        conn.close()


def test_only_requests_for_its_own_address_get_previews(make_root, server) -> None:
    url = server(full_root(make_root))
    port = urlsplit(url).port
    # The names a press officer's browser uses for it
    for host in (f"127.0.0.1:{port}", f"localhost:{port}", f"LocalHost:{port}"):
        status, page = raw_get(url, host)
        assert status == 200 and "Nu börjar skolan" in page, host
    # A page that rebinds its own name to 127.0.0.1 sends that name; other ports and no Host
    # at all are refused as well, on every page, and nothing of the plan is in the answer.
    for host in (f"evil.example:{port}", "evil.example", f"127.0.0.1:{port + 1}", "127.0.0.1", "localhost",
                 f"localhost.:{port}", f"127.0.0.1.evil.example:{port}", None):
        for path in ("/", "/m/skolstart/start"):
            status, page = raw_get(url, host, path)
            assert status == 421, (host, path)
            assert "Nu börjar skolan" not in page and "Fel adress" in page
            assert f"http://127.0.0.1:{port}/ eller http://localhost:{port}/" in page
    assert raw_get(url, "evil.example", method="HEAD") == (421, "")


def test_the_allowed_hosts_follow_the_bound_address() -> None:
    from types import SimpleNamespace

    from samverkan.previewserver import allowed_hosts

    assert allowed_hosts(SimpleNamespace(server_address=("127.0.0.1", 8000))) == ["127.0.0.1:8000", "localhost:8000"]
    assert allowed_hosts(SimpleNamespace(server_address=("::1", 8000, 0, 0))) == ["[::1]:8000", "localhost:8000"]
    assert allowed_hosts(SimpleNamespace(server_address=("127.0.0.1", 80))) == [
        "127.0.0.1:80", "localhost:80", "127.0.0.1", "localhost"]  # a browser leaves out port 80


def test_the_index_shows_content_errors_too(make_root, server) -> None:
    """A missing alt text holds its campaign as a schema error does: the index says so."""
    text = FULL_CAMPAIGN.replace("alt: Ett övergångsställe}", "alt: ''}")
    assert text != FULL_CAMPAIGN
    root = full_root(make_root, {"skolstart": text})
    page = get(server(root))[1]
    assert "Fel i planen" in page and "image: no alt text" in page
