"""How fast does ``samverkan rehearse`` go through a year of 100,000 deliveries?

Generates 1,000 campaigns in one year (10 messages each, with texts of their own, repeated
weekly, on an RSS feed, a Facebook page and the press list: about 100 deliveries a
campaign) and rehearses the year in-process: rendering, payloads, the ledger and every
channel's files. Prints deliveries per second (target: at least 2,000) and the process's
peak memory (target: under 300 MB).

Usage: ``.venv/bin/python bench/rehearse.py [--n 1000]``
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parent))
from validate import BODY, REPO  # noqa: E402
from validate import CONFIG as VALIDATE_CONFIG  # noqa: E402  (the same plan shape as bench/validate.py)

# Both parties' Facebook pages, as in the sample plan.
CONFIG = VALIDATE_CONFIG.replace("  press:\n", """  facebook-polisen:
    publisher: facebook
    page_id: "104718532690418"
    token: ${FB_TOKEN_POLISEN}
  press:
""")

sys.path.insert(0, str(REPO))


def campaign_text(n: int) -> str:
    start = date(2018, 1, 1) + timedelta(days=(n * 7) % 300)
    out = [
        f"title: Kampanj {n}",
        "summary: Polisen och kommunen påminner om trafiken.",
        "priority_areas: [trafik]",
        "bases: [lupp]",
        f"period: {{start: {start}, end: {start + timedelta(days=60)}}}",
        "messages:",
    ]
    for m in range(10):
        # As in a real plan, the press release is the campaign's first message only.
        channels = "[webb, facebook-kommunen, press]" if m == 0 else "[webb, facebook-kommunen, facebook-polisen]"
        out += [
            f"  - key: m{m}",
            f"    channels: {channels}",
            f"    at: {start + timedelta(days=m * 3)} {8 + m:02d}:15",
            f"    repeat: {{every: 7d, count: {4 if m < 3 else 3}}}",
            # Each message a text of its own, as in a real plan (one shared text would be
            # converted from Markdown once and then found in a cache).
            f"    title: Sänk farten vid skolorna ({n}.{m})",
            "    body: |",
            f"      Meddelande {m + 1} av 10 i kampanj {n}, att läsa och dela.",
            "",
            BODY.rstrip("\n"),
            "    link: https://www.hultsfred.se/skolstart",
        ]
    return "\n".join(out) + "\n"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=1000, help="campaigns (default 1000)")
    ap.add_argument("--tmp", default=str(REPO / "bench" / ".tmp"),
                    help="where to generate the plan and write the outputs (default bench/.tmp)")
    args = ap.parse_args()
    Path(args.tmp).mkdir(parents=True, exist_ok=True)

    from samverkan.loading import load_project
    from samverkan.rehearsal import rehearse

    with tempfile.TemporaryDirectory(dir=args.tmp) as tmp:
        root = Path(tmp) / "plan"
        (root / "campaigns").mkdir(parents=True)
        (root / "content").mkdir()
        (root / "content" / "presslista.csv").write_text("name,email,outlet\nA,a@example.se,X\n", encoding="utf-8")
        (root / "config.yaml").write_text(CONFIG, encoding="utf-8")
        for i in range(args.n):
            (root / "campaigns" / f"kampanj-{i:05d}.yaml").write_text(campaign_text(i), encoding="utf-8")
        t0 = time.perf_counter()
        project = load_project(root)
        loaded = time.perf_counter() - t0
        assert not project.problems.errors, project.problems.errors[:3]
        tz = ZoneInfo("Europe/Stockholm")
        t0 = time.perf_counter()
        summary = rehearse(project, datetime(2018, 1, 1, tzinfo=tz), datetime(2019, 1, 1, tzinfo=tz), Path(tmp) / "out")
        seconds = time.perf_counter() - t0
        done = len(summary.outcomes)
        bad = [o for o in summary.outcomes if o.result != "published"]
        assert not bad, [str(o) for o in bad[:3]]  # a figure of deliveries held is no figure
        peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"campaigns:        {args.n}")
        print(f"load_project:     {loaded:.2f} s")
        print(f"deliveries:       {done}")
        print(f"rehearse:         {seconds:.2f} s")
        print(f"deliveries/s:     {done / seconds:,.0f}   (target >= 2,000)")
        print(f"peak memory:      {peak_mb:.0f} MB   (target < 300 MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
