"""Benchmark: the mailer against a bare smtplib loop, 1,000 recipients, one connection each.

    .venv/bin/python bench/mailer.py [--recipients 1000] [--rounds 5]

Both send the same bytes to a local aiosmtpd server (tests/helpers/smtp.py, run in a
process of its own so that it does not share the client's GIL), one envelope per
recipient over one connection; the mailer also reads the press list and keeps a journal
(MemoryJournal) per recipient. Target: mailer / bare <= 1.3.
"""

from __future__ import annotations

import argparse
import multiprocessing
import smtplib
import statistics
import sys
import tempfile
import time
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any, Iterator
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from publishers.base import Channel, MemoryJournal  # noqa: E402
from publishers.mailer import MailerPublisher, MailerSettings  # noqa: E402
from samverkan.rendering import Contact, Logo, RenderedMessage  # noqa: E402
from tests.helpers.smtp import SmtpServer  # noqa: E402

FROM = "Trygg i Hultsfred <trygghet@hultsfred.example>"


def release(folder: Path) -> RenderedMessage:
    logo = folder / "logo.png"
    logo.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 40)  # ~10 kB, like a real logo
    text = "Polisen och kommunen påminner om trafiken runt skolorna.\n\n" * 30
    return RenderedMessage(
        delivery_id="skolstart/start/press", campaign="skolstart", message="start", channel="press",
        publisher="mailer", at=datetime(2018, 8, 13, 7, 30, tzinfo=ZoneInfo("Europe/Stockholm")),
        embargo=None, title="Nu börjar skolan – sänk farten",
        parts={"subject": "Nu börjar skolan – sänk farten", "text": text,
               "html": '<html><body><img src="cid:logo-kommunen">'
                       + "<p>Polisen och kommunen påminner om trafiken.</p>" * 30 + "</body></html>"},
        logos=(Logo("kommunen", logo, "Kommunen"),),
        contacts=(Contact("Kommunen", "Kim Kommun", "Presschef", None, "press@kommun.example"),),
    )


def _serve(conn: Any) -> None:
    with SmtpServer() as server:
        conn.send(server.port)
        conn.recv()  # until the client is done
        conn.send((len(server.messages), server.connections))


@contextmanager
def server_process(expected: int) -> Iterator[int]:
    """An SmtpServer in a child process; yields its port, then checks what it received."""
    parent, child = multiprocessing.Pipe()
    proc = multiprocessing.get_context("spawn").Process(target=_serve, args=(child,), daemon=True)
    proc.start()
    try:
        yield parent.recv()
        parent.send("done")
        messages, connections = parent.recv()
        assert (messages, connections) == (expected, 1), f"server got {messages} in {connections} connections"
    finally:
        proc.join(10)


def run_mailer(folder: Path, message: RenderedMessage, n: int) -> tuple[tuple[float, float], bytes]:
    with server_process(n) as port:
        settings = MailerSettings.model_validate({
            "publisher": "mailer", "host": "127.0.0.1", "port": port, "security": "none",
            "from": FROM, "recipients": "press.csv"})
        pub = MailerPublisher(Channel("press", settings, folder, env={}))
        payload = pub.payload(message)
        start, cpu = time.perf_counter(), time.process_time()
        pub.publish(payload, message.delivery_id, MemoryJournal())
        elapsed = (time.perf_counter() - start, time.process_time() - cpu)
    return elapsed, payload.files["press.eml"]


def run_bare(data: bytes, addresses: list[str]) -> tuple[float, float]:
    """(wall time, this process's CPU time)."""
    with server_process(len(addresses)) as port:
        start, cpu = time.perf_counter(), time.process_time()
        smtp = smtplib.SMTP("127.0.0.1", port)
        for address in addresses:
            smtp.sendmail("trygghet@hultsfred.example", [address], data)
        smtp.quit()
        elapsed = (time.perf_counter() - start, time.process_time() - cpu)
    return elapsed


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--recipients", type=int, default=1000)
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        addresses = [f"journalist{i}@press{i % 17}.example" for i in range(args.recipients)]
        (folder / "press.csv").write_text(
            "name,email,outlet\n" + "".join(f"Journalist {i},{a},Tidning {i % 17}\n"
                                            for i, a in enumerate(addresses)), encoding="utf-8")
        message = release(folder)
        mailer_times, bare_times = [], []
        data = run_mailer(folder, message, args.recipients)[1]  # warm-up, and the bytes to send
        for i in range(args.rounds):  # alternate who goes first: noise hits both alike
            if i % 2:
                bare_times.append(run_bare(data, addresses))
            mailer_times.append(run_mailer(folder, message, args.recipients)[0])
            if not i % 2:
                bare_times.append(run_bare(data, addresses))
    m, b = (statistics.median(t[0] for t in ts) for ts in (mailer_times, bare_times))
    mc, bc = (statistics.median(t[1] for t in ts) for ts in (mailer_times, bare_times))
    print(f"{args.recipients} recipients, {len(data):,} bytes each, one connection, "
          f"median of {args.rounds} rounds (wall time; client CPU time beside it)")
    print(f"  mailer (press list + journal): {m:.3f} s  ({args.recipients / m:,.0f} messages/s)  cpu {mc:.3f} s")
    print(f"  bare smtplib loop:             {b:.3f} s  ({args.recipients / b:,.0f} messages/s)  cpu {bc:.3f} s")
    print(f"  ratio mailer/bare:             {m / b:.2f}x  (target <= 1.3x)  cpu {mc / bc:.2f}x")


if __name__ == "__main__":
    main()
