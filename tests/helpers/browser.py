"""A real headless browser for the tests: Debian's chromium driven by Playwright.

Playwright never downloads a browser here: it drives the system's chromium (installed by
.ci/run). Where either is missing, the tests that need it skip and say why."""

from __future__ import annotations

import shutil
from typing import Any, Iterator

import pytest

CHROMIUM_NAMES = ("chromium", "chromium-browser")


def chromium_path() -> str | None:
    return next((p for p in map(shutil.which, CHROMIUM_NAMES) if p), None)


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """One headless Chromium for the session (starting one takes about a second)."""
    executable = chromium_path()
    if executable is None:
        pytest.skip("no chromium on this machine (apt-get install chromium; .ci/run does)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("playwright is not installed (pip install -e '.[test]')")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=executable, args=["--no-sandbox"])
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def phone(browser: Any) -> Iterator[Any]:
    """A page the size of a common phone (390 x 844 CSS pixels)."""
    context = browser.new_context(viewport={"width": 390, "height": 844}, device_scale_factor=1)
    try:
        yield context.new_page()
    finally:
        context.close()
