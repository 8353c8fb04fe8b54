"""Forked workers (samverkan.workers), and what travels between processes: a loaded
campaign goes without its positions and reads them again from its file."""

from __future__ import annotations

import copy
import os
import pickle
import sys
import time
from pathlib import Path
from typing import Callable

import pytest

from samverkan import workers
from samverkan.loading import load_project
from samverkan.workers import Worker
from tests.helpers.daemon import wait_until
from tests.helpers.plans import full_root

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="workers are forked on Linux only")


def has_ended(pid: int, timeout: float = 20.0) -> bool:
    """Whether process ``pid`` ends within ``timeout``, without reaping it."""
    return wait_until(lambda: os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None, timeout, step=0.01)


def test_a_worker_hands_over_a_large_result_without_waiting_for_the_parent_to_read() -> None:
    """A pipe holds 64 KiB: a worker sending more would wait until the parent reads, and
    the parent reads only when its own share is done."""
    big = {"text": "x" * 1_000_000, "items": list(range(1000))}
    worker = Worker(lambda: big)
    assert worker.pid is not None
    assert has_ended(worker.pid)  # before the parent has read a byte
    assert worker.result() == big
    assert worker.result() is None  # reaped: a second call has nothing


def test_a_streaming_worker_sends_large_parts_without_waiting_and_in_order() -> None:
    parts = [{"n": i, "text": str(i) * 300_000} for i in range(4)]

    def work(send: Callable[[object], None]) -> None:
        for part in parts:
            send(part)

    worker = Worker(work, streaming=True)
    assert worker.pid is not None
    assert has_ended(worker.pid)  # 1.2 MB sent before the parent read a byte
    assert list(worker.parts()) == parts
    assert worker.complete
    assert list(worker.parts()) == []  # reaped: nothing more


def test_the_parent_reads_the_first_part_while_the_worker_is_still_at_work(tmp_path: Path) -> None:
    go_on = tmp_path / "go-on"

    def work(send: Callable[[object], None]) -> None:
        send("first")
        wait_until(go_on.exists, 20, step=0.005)
        send("second")

    worker = Worker(work, streaming=True)
    parts = worker.parts()
    assert next(parts) == "first"  # the worker waits for us: it has not ended
    go_on.touch()
    assert list(parts) == ["second"]
    assert worker.complete


def test_without_waiting_the_parent_gets_the_parts_there_and_goes_on(tmp_path: Path) -> None:
    go_on = tmp_path / "go-on"

    def work(send: Callable[[object], None]) -> None:
        send("first")
        send("second")
        wait_until(go_on.exists, 20, step=0.005)
        send("third")

    worker = Worker(work, streaming=True)
    got: list[object] = []
    deadline = time.monotonic() + 20
    while len(got) < 2 and time.monotonic() < deadline:
        got += worker.parts(wait=False)
    assert got == ["first", "second"]
    assert list(worker.parts(wait=False)) == []  # the worker waits for us: nothing more
    assert not worker.complete
    go_on.touch()
    assert list(worker.parts()) == ["third"]
    assert worker.complete


def test_the_parent_goes_on_when_a_worker_is_done_and_reaps_it_later(tmp_path: Path, monkeypatch) -> None:
    """A worker's exit returns its memory, tens of milliseconds for a large plan: its last
    record tells the parent it is done first, and the exit is waited for later."""
    may_exit = tmp_path / "may-exit"
    real_exit = os._exit

    def slow_exit(code: int) -> None:  # (only a worker exits this way)
        wait_until(may_exit.exists, 20, step=0.005)
        real_exit(code)

    monkeypatch.setattr(workers.os, "_exit", slow_exit)
    worker = Worker(lambda send: send("all"), streaming=True)
    pid = worker.pid
    assert pid is not None
    assert list(worker.parts()) == ["all"]
    assert worker.complete
    assert os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is None  # still exiting
    worker.stop()  # not killed: it is done
    may_exit.touch()
    assert has_ended(pid)
    ended = os.waitid(os.P_PID, pid, os.WEXITED | os.WNOWAIT)
    assert ended is not None and (ended.si_code, ended.si_status) == (os.CLD_EXITED, 0)  # it ended by itself
    monkeypatch.setattr(workers.os, "_exit", real_exit)
    assert Worker(lambda: 1).result() == 1  # a new worker reaps the one done before
    with pytest.raises(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


def test_a_record_read_in_pieces_over_calls_is_put_together(monkeypatch) -> None:
    """Without waiting, a call may find only part of a record: the rest comes with a
    later call, and the part is whole."""
    worker = Worker(lambda send: send({"n": 1}), streaming=True)
    assert has_ended(worker.pid)
    real_read = workers.os.read
    turns = iter(range(1000))

    def trickling(fd: int, n: int) -> bytes:
        if next(turns) % 2:  # every other read finds nothing yet
            raise BlockingIOError
        return real_read(fd, min(n, 5))

    monkeypatch.setattr(workers.os, "read", trickling)
    got: list[object] = []
    calls = 0
    while not worker.complete and calls < 100:
        got += worker.parts(wait=False)
        calls += 1
    assert got == [{"n": 1}] and worker.complete
    assert calls > 3  # (it took several calls)


def test_without_waiting_a_worker_that_died_is_seen_to_have_failed() -> None:
    def work(send: Callable[[object], None]) -> None:
        send("one")
        os._exit(3)

    worker = Worker(work, streaming=True)
    pid = worker.pid
    assert pid is not None and has_ended(pid)
    got: list[object] = []
    deadline = time.monotonic() + 20
    while worker.pipe is not None and time.monotonic() < deadline:
        got += worker.parts(wait=False)
    assert got == ["one"]
    assert not worker.complete
    with pytest.raises(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)  # reaped


def test_a_caller_that_stops_reading_finds_the_rest_on_the_next_call() -> None:
    worker = Worker(lambda send: [send(i) for i in range(5)], streaming=True)
    assert worker.pid is not None and has_ended(worker.pid)
    parts = worker.parts()
    assert next(parts) == 0
    parts.close()  # (the records of the others may already have been read)
    assert list(worker.parts()) == [1, 2, 3, 4]
    assert worker.complete


def test_tasks_are_each_taken_by_one_process() -> None:
    tasks = workers.Tasks(200)

    def work(send: Callable[[object], None]) -> None:
        while (i := tasks.take()) is not None:
            send(i)

    children = [Worker(work, streaming=True) for _ in range(2)]
    mine = []
    while (i := tasks.take()) is not None:
        mine.append(i)
    theirs = [i for child in children for i in child.parts()]
    assert all(child.complete for child in children)
    assert sorted(mine + theirs) == list(range(200))
    tasks.close()
    assert tasks.take() is None


@pytest.mark.parametrize("how", ["raises", "exits"])
def test_a_streaming_worker_that_fails_gives_the_parts_it_sent(how: str) -> None:
    def work(send: Callable[[object], None]) -> None:
        send(1)
        send(2)
        if how == "raises":
            raise RuntimeError("trasigt")
        os._exit(3)

    worker = Worker(work, streaming=True)
    assert list(worker.parts()) == [1, 2]
    assert not worker.complete
    worker.stop()


def test_a_streaming_worker_stopped_before_reading_is_killed_and_reaped() -> None:
    worker = Worker(lambda send: time.sleep(60), streaming=True)
    pid = worker.pid
    assert pid is not None
    worker.stop()
    with pytest.raises(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)  # reaped
    assert worker.pipe is None
    assert list(worker.parts()) == []


@pytest.mark.parametrize("how", ["raises", "exits"])
def test_a_worker_that_fails_gives_no_result(how: str, capfd) -> None:
    def work() -> object:
        if how == "raises":
            raise RuntimeError("trasigt")
        os._exit(3)

    assert Worker(work).result() is None
    if how == "raises":
        assert "RuntimeError: trasigt" in capfd.readouterr().err  # the worker says why


def test_a_worker_does_not_run_the_parents_code_after_the_fork(tmp_path: Path) -> None:
    marker = tmp_path / "after"
    worker = Worker(lambda: 1)
    # Only the parent gets here: the worker ends inside Worker().
    with open(marker, "a", encoding="utf-8") as fh:
        fh.write(f"{os.getpid()}\n")
    assert worker.result() == 1
    assert marker.read_text(encoding="utf-8").split() == [str(os.getpid())]


def test_a_worker_that_cannot_be_started_gives_no_result(monkeypatch) -> None:
    def no_fork() -> int:
        raise BlockingIOError(11, "Resource temporarily unavailable")

    monkeypatch.setattr(workers.os, "fork", no_fork)
    worker = Worker(lambda: 1)
    assert worker.result() is None
    worker.stop()  # nothing to stop


def test_a_stopped_worker_ends_at_once_and_is_reaped() -> None:
    worker = Worker(lambda: time.sleep(60))
    pid = worker.pid
    assert pid is not None
    started = time.monotonic()
    worker.stop()
    assert time.monotonic() - started < 10
    with pytest.raises(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)  # no zombie left behind
    assert worker.result() is None


def test_a_travelling_campaign_leaves_its_positions_behind_and_reads_them_again(make_root: Callable[..., Path]) -> None:
    root = full_root(make_root)
    campaign = load_project(root).campaigns["skolstart"]
    where = campaign.where("messages", 1, "title")
    assert where != (1, 1)

    travelled = pickle.loads(pickle.dumps(campaign.travelling()))
    assert travelled.located is None
    assert travelled == campaign  # the same campaign, positions aside
    assert travelled.where("messages", 1, "title") == where
    assert travelled.where("period", key=True) == campaign.where("period", key=True)

    # Read again from a file that has changed since, they would be wrong: none are given.
    changed = pickle.loads(pickle.dumps(campaign.travelling()))
    path = root / "campaigns" / "skolstart.yaml"
    path.write_text("# en ny första rad\n" + path.read_text(encoding="utf-8"), encoding="utf-8")
    assert changed.where("messages", 1, "title") == (1, 1)
    # A copy is not travelling: it keeps its positions.
    assert copy.deepcopy(campaign).where("messages", 1, "title") == where


def test_a_worker_reaped_elsewhere_gives_no_result_and_no_error() -> None:
    """Code of the parent's that waits for any child (a SIGCHLD handler, say) may reap the
    worker first."""
    worker = Worker(lambda: 1)
    assert worker.pid is not None
    os.waitpid(worker.pid, 0)
    assert worker.result() is None
    other = Worker(lambda: 2)
    assert other.pid is not None
    os.waitpid(other.pid, 0)
    other.stop()
    assert other.result() is None


def test_the_usable_processors_are_those_of_the_affinity() -> None:
    """Limited to one processor (taskset, a container), a worker would only compete with
    the parent for it."""
    import subprocess

    code = ("import os\nos.sched_setaffinity(0, {min(os.sched_getaffinity(0))})\n"
            "from samverkan.workers import usable_cpus\nprint(usable_cpus(), os.cpu_count() >= 1)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=Path(__file__).resolve().parents[1], timeout=60)
    assert out.stdout.split() == ["1", "True"]
    assert workers.usable_cpus() == len(os.sched_getaffinity(0))
