"""Forked workers (samverkan.workers) and what travels between processes: a loaded
campaign is pickled without its positions and reads them again from its file."""

from __future__ import annotations

import os
import pickle
import sys
import time
from pathlib import Path
from typing import Callable, Iterator

import pytest

from samverkan.loading import load_project
from samverkan.workers import Worker
from tests.helpers.plans import full_root

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="workers are forked on Linux only")


def wait_for(path: Path, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.01)


def test_a_worker_sends_its_items_in_order_without_waiting_for_the_parent_to_read(tmp_path: Path) -> None:
    """A pipe holds 64 KiB: a worker sending more would wait until the parent reads,
    and the parent reads only when its own share is done."""
    done = tmp_path / "done"

    def work() -> Iterator[object]:
        yield b"x" * 1_000_000
        yield {"second": [1, 2, 3]}
        done.write_text("sent")  # reached only if sending the first item did not wait

    worker = Worker(work)
    wait_for(done)
    assert worker.results() == [b"x" * 1_000_000, {"second": [1, 2, 3]}]
    assert worker.results() is None  # reaped: a second call has nothing


@pytest.mark.parametrize("how", ["raises", "exits"])
def test_a_worker_that_fails_gives_no_results(how: str) -> None:
    def work() -> Iterator[object]:
        yield "half of the work"
        if how == "raises":
            raise RuntimeError("boom")
        os._exit(3)

    assert Worker(work).results() is None


def test_a_worker_does_not_run_the_parents_code_after_the_fork(tmp_path: Path) -> None:
    marker = tmp_path / "after"
    worker = Worker(lambda: iter([1]))
    # Only the parent gets here: the worker ends inside Worker().
    with open(marker, "a", encoding="utf-8") as fh:
        fh.write(f"{os.getpid()}\n")
    assert worker.results() == [1]
    assert marker.read_text(encoding="utf-8").split() == [str(os.getpid())]


def test_a_pickled_campaign_leaves_its_positions_behind_and_reads_them_again(make_root: Callable[..., Path]) -> None:
    root = full_root(make_root)
    campaign = load_project(root).campaigns["skolstart"]
    where = campaign.where("messages", 1, "title")
    assert where != (1, 1)

    travelled = pickle.loads(pickle.dumps(campaign))
    assert travelled.located is None
    assert (travelled.model, travelled.messages, travelled.events) == (campaign.model, campaign.messages, campaign.events)
    assert travelled.where("messages", 1, "title") == where
    assert travelled.where("period", key=True) == campaign.where("period", key=True)
    # Positions without a file to read them from fall back to the top of the file.
    gone = pickle.loads(pickle.dumps(campaign))
    (root / "campaigns" / "skolstart.yaml").unlink()
    assert gone.where("messages", 1, "title") == (1, 1)
