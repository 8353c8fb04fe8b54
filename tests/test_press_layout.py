"""The press release as people read it: in a real browser, on a phone."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from click.testing import CliRunner

from samverkan.cli import cli


def test_every_sample_press_release_fits_a_390px_phone_without_sideways_scrolling(
        sample_root: Path, tmp_path: Path, phone: Any) -> None:
    """The longest unbreakable text (a "Läs mer" link) once made the page 431-498 px wide."""
    keys = sorted(p.stem for p in (sample_root / "campaigns").glob("*.yaml"))
    for key in keys:
        CliRunner().invoke(cli, ["preview", key, "--channel", "press", "--root", str(sample_root),
                                 "--out", str(tmp_path)])
    pages = sorted(tmp_path.rglob("press.html"))
    assert len(pages) >= 10
    with_image = 0
    for page in pages:
        phone.goto(page.as_uri())
        width = phone.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, f"{page.relative_to(tmp_path)} is {width} px wide"
        images = phone.evaluate("Array.from(document.images).map(i => [i.alt, i.getBoundingClientRect().right])")
        assert all(right <= 390 for _, right in images), images
        with_image += any(alt and not alt.startswith("Logotyp") for alt, _ in images)
    assert with_image >= 3  # the sample's releases with a picture were measured too
