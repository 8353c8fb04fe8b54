"""Benchmark: rebuilding an RSS feed (max_items 50) from a ledger of 100,000 RSS deliveries.

    .venv/bin/python bench/feed.py [--rows 100000] [--repeat 20]

The ledger is a real SQLite file shaped like samverkan's (one row per delivery: id,
channel, state, published_at, payload JSON; an index on (channel, state, published_at)),
and the newest 50 come from it with ORDER BY ... LIMIT, as ``Journal.published`` does.
A rebuild = read the newest 50 + build RSS and Atom with feedgen + write both atomically.
Target: under 0.2 s, independent of the ledger's size (so it runs at 1,000 rows too).
When ``samverkan.ledger.Ledger`` is importable it is measured as well, through its own
``published_payloads`` on a file it created.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import statistics
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Callable
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from publishers.base import Channel  # noqa: E402
from publishers.rss import RssSettings, write_feed  # noqa: E402

TZ = ZoneInfo("Europe/Stockholm")
START = datetime(2018, 1, 1, 8, 0, tzinfo=TZ)
NEWEST = ("SELECT payload FROM deliveries WHERE channel = ? AND state = 'published' "
          "ORDER BY published_at DESC, id DESC LIMIT ?")


def rows(n: int) -> list[tuple[str, str, str, str, str]]:
    """(id, channel, state, published_at, payload): mostly the feed's channel, some others."""
    out = []
    for i in range(n):
        at = START + timedelta(hours=i)
        channel = "webb" if i % 10 else "facebook-polisen"  # other channels share the table
        state = "published" if i % 50 else "failed"
        delivery = f"kampanj{i // 20}/m{i % 20}/{channel}"
        item = {"guid": delivery, "title": f"Nyhet {i} – trygghet i Hultsfred",
                "link": f"https://www.hultsfred.example/nyheter/{i}",
                "description": f"<p>Nyhet nummer {i} om trygghet &amp; säkerhet.</p>" * 5,
                "pubDate": at.isoformat()}
        out.append((delivery, channel, state, at.astimezone(ZoneInfo("UTC")).isoformat(),
                    json.dumps(item, ensure_ascii=False)))
    return out


class SqliteFeedLedger:
    """The part of a ledger a feed rebuild reads; stands in until the real one is used."""

    def __init__(self, path: Path, n: int):
        self.db = sqlite3.connect(path)
        self.db.executescript(
            "PRAGMA journal_mode=WAL;"
            "CREATE TABLE deliveries (id TEXT PRIMARY KEY, channel TEXT NOT NULL, state TEXT NOT NULL,"
            " published_at TEXT, payload TEXT);"
            "CREATE INDEX deliveries_feed ON deliveries (channel, state, published_at);")
        with self.db:
            self.db.executemany("INSERT INTO deliveries VALUES (?, ?, ?, ?, ?)", rows(n))

    def published_payloads(self, channel: str, limit: int) -> list[dict[str, Any]]:
        return [json.loads(r[0]) for r in self.db.execute(NEWEST, (channel, limit))]


def real_ledger(path: Path, n: int) -> Any:
    """samverkan's own Ledger on a file it migrated, filled with plain SQL (fast)."""
    from samverkan.ledger import Ledger

    Ledger(path).close()  # creates the schema
    now = datetime.now(TZ).isoformat()
    db = sqlite3.connect(path)
    with db:
        db.executemany(
            "INSERT INTO deliveries (id, campaign, message, channel, publisher, due_at, state,"
            " created_at, updated_at, published_at, payload) VALUES (?, 'k', 'm', ?, 'rss', ?, ?, ?, ?, ?, ?)",
            [(i, ch, at, st, now, now, at, p) for i, ch, st, at, p in rows(n)])
    db.close()
    return Ledger(path)


def measure(ledger: Any, channel: Channel, repeat: int) -> tuple[float, float, float]:
    """Median (rebuild, of it reading the ledger) and the worst rebuild, in seconds."""
    total, reading = [], []
    for _ in range(repeat):
        start = time.perf_counter()
        items = ledger.published_payloads("webb", channel.settings.max_items)
        read = time.perf_counter()
        write_feed(channel, items)
        total.append(time.perf_counter() - start)
        reading.append(read - start)
    assert len(items) == channel.settings.max_items
    return statistics.median(total), statistics.median(reading), max(total)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--repeat", type=int, default=20)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        settings = RssSettings.model_validate({
            "publisher": "rss", "output": "public/nyheter.xml", "atom_output": "public/nyheter.atom",
            "title": "Trygg i Hultsfred", "link": "https://www.hultsfred.example/trygghet",
            "self_url": "https://www.hultsfred.example/trygghet/nyheter.xml",
            "description": "Gemensamma nyheter", "max_items": 50})
        channel = Channel("webb", settings, root, env={})
        makers: list[tuple[str, Callable[[Path, int], Any]]] = [("sqlite ledger", SqliteFeedLedger)]
        try:
            import samverkan.ledger  # noqa: F401

            makers.append(("samverkan.ledger", real_ledger))
        except ImportError:
            print("samverkan.ledger not importable: measuring the stand-in only")
        print(f"rebuild of a feed with max_items 50 (RSS + Atom, atomic writes), median of {args.repeat}")
        failed = 0
        for label, make in makers:
            for n in sorted({1_000, args.rows}):
                try:
                    ledger = make(root / f"{label}-{n}.db", n)
                    median, read, worst = measure(ledger, channel, args.repeat)
                except Exception as e:  # report, do not hide the rest; the run fails at the end
                    print(f"  {label:17} {n:>7,} rows: failed: {type(e).__name__}: {e}")
                    failed += 1
                    continue
                verdict = "ok" if median < 0.2 else "OVER TARGET"
                print(f"  {label:17} {n:>7,} rows: {median * 1000:6.1f} ms (reading the ledger "
                      f"{read * 1000:5.2f} ms, worst {worst * 1000:6.1f} ms)  target < 200 ms: {verdict}")
        size = (root / "public/nyheter.xml").stat().st_size
        print(f"  feed file: {size:,} bytes")
        return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
