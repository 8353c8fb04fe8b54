"""Benchmark: how long the press desk takes to answer a signed-in person, on the sample plan.

    .venv/bin/python bench/desk.py [--rounds 10]

The sample plan is copied with two approvers and a desk whose mail goes to the outbox; one
of them signs in through the link found there, then the index (every upcoming message with
its approval state) and the busiest message page (four channels, a press release) are
fetched over HTTP from the desk on 127.0.0.1, as a browser would. Target: under 200 ms.
"""

from __future__ import annotations

import argparse
import email
import shutil
import statistics
import sys
import tempfile
import time
from email import policy
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.helpers.daemon import Clock  # noqa: E402
from tests.helpers.desk import Visitor, link_in, running_desk  # noqa: E402

DESK = """
people:
  kommunen:
    - {name: Karin Lindqvist, email: karin.lindqvist@hultsfred.se, role: approver}
  polisen:
    - {name: Mattias Ek, email: mattias.ek@polisen.se, role: approver}
desk: {base_url: http://127.0.0.1, channel: press}
"""


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=10)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "plan"
        root.mkdir()
        config = (ROOT / "config.yaml").read_text(encoding="utf-8").replace("    host: ${SAMVERKAN_SMTP_HOST}\n", "")
        (root / "config.yaml").write_text(config + DESK, encoding="utf-8")
        for folder in ("campaigns", "content"):
            shutil.copytree(ROOT / folder, root / folder)
        with running_desk(root, Clock("2018-08-01T09:00")) as desk:
            v = Visitor(desk.url)
            v.ask_link("karin.lindqvist@hultsfred.se")
            [mail] = (root / "outbox/press").glob("alert-*.eml")
            v.use_link(link_in(email.message_from_bytes(mail.read_bytes(), policy=policy.default)))
            for path in ("/", "/m/2018-saker-skolstart/start"):
                times = []
                for _ in range(args.rounds):
                    started = time.perf_counter()
                    r = v.get(path)
                    times.append(time.perf_counter() - started)
                    assert r.status_code == 200, r.text[:500]
                print(f"{path:<32} median {statistics.median(times) * 1000:5.1f} ms, "
                      f"fastest {min(times) * 1000:5.1f} ms, {len(r.content) // 1024} KiB")
            v.close()


if __name__ == "__main__":
    main()
