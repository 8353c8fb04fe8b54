"""How soon does the running daemon act on an edited campaign file?

Generates 1,000 campaigns (as bench/validate.py does), starts ``samverkan run`` on them as a
real process with the clock set before the plan, edits one campaign file (moves a message
and changes its title), and times from the edit to the daemon's "reloaded" log line, which
it writes once the plan is re-read and the jobs are rescheduled (target: under 2 s). The
figure includes the polling interval (``--poll``, default 1 s).

Usage: ``.venv/bin/python bench/reload.py [--n 1000] [--poll 1.0] [--rounds 3]``
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from validate import REPO, generate  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--poll", type=float, default=1.0, help="the daemon's --poll (default 1.0 s)")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--tmp", default=str(REPO / "bench" / ".tmp"))
    args = ap.parse_args()
    Path(args.tmp).mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=args.tmp) as tmp:
        root = Path(tmp) / "plan"
        generate(root, args.n, 10)
        cmd = [sys.executable, "-m", "samverkan", "run", "--root", str(root), "--now", "2016-12-31T12:00",
               "--poll", str(args.poll), "--log-format", "json"]
        proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        events: list[tuple[float, str]] = []
        cond = threading.Condition()

        def read() -> None:
            assert proc.stdout is not None
            for line in proc.stdout:
                try:
                    event = json.loads(line).get("event", "")
                except ValueError:
                    continue
                with cond:
                    events.append((time.perf_counter(), event))
                    cond.notify_all()

        threading.Thread(target=read, daemon=True).start()

        def wait(event: str, after: int) -> float:
            with cond:
                assert cond.wait_for(lambda: any(e == event for _, e in events[after:]), timeout=120), events[-5:]
                return next(t for t, e in events[after:] if e == event)

        t0 = time.perf_counter()
        started = wait("started", 0)
        print(f"campaigns:            {args.n}")
        print(f"daemon start-up:      {started - t0:.2f} s (load, validate, schedule every delivery)")
        target = root / "campaigns" / "kampanj-00007.yaml"
        original = target.read_text(encoding="utf-8")
        latencies = []
        try:
            for r in range(args.rounds):
                time.sleep(args.poll * 1.5)  # let the daemon settle into its loop
                with cond:
                    mark = len(events)
                text = original.replace("07:30", f"08:{10 + r:02d}").replace("sänk farten (0)", f"sänk farten nu ({r})")
                edited = time.perf_counter()
                target.write_text(text, encoding="utf-8")
                latencies.append(wait("reloaded", mark) - edited)
        finally:
            proc.terminate()
            proc.wait(30)
        for i, lat in enumerate(latencies, 1):
            print(f"edit → rescheduled:   {lat:.2f} s (round {i})")
        print(f"worst:                {max(latencies):.2f} s   (target < 2 s, with --poll {args.poll})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
