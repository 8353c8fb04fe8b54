"""Forked worker processes, for the shares of a task that is pure CPU (Linux only: a
fork shares the loaded plan with the worker at no cost).

A plain fork rather than a pool: there is one task per worker, and a pool's threads and
shutdown cost more than they save. What a worker makes goes back pickled through an
anonymous memory file, not a pipe: a pipe holds 64 KiB, so a worker would wait for the
parent to read, and the parent is busy with its own share."""

from __future__ import annotations

import os
import pickle
import tempfile
from typing import IO, Any, Callable, Iterable


def _anonymous_file() -> IO[bytes]:
    if hasattr(os, "memfd_create"):
        return os.fdopen(os.memfd_create("samverkan-worker"), "w+b")
    return tempfile.TemporaryFile()  # pragma: no cover


class Worker:
    """A forked process running ``work``, whose items are each sent as soon as it is made;
    the parent reads them all with :meth:`results` once the worker has ended."""

    def __init__(self, work: Callable[[], Iterable[Any]]):
        self.file = _anonymous_file()
        self.pid: int | None = os.fork()
        if self.pid == 0:  # the worker: never returns, never runs the parent's exit handlers
            code = 0
            kept = []
            try:
                for item in work():
                    # Each item stays alive to the end: freeing a loaded plan object by
                    # object takes longer than the exit, which returns it all at once.
                    kept.append(item)
                    pickle.dump(item, self.file, protocol=pickle.HIGHEST_PROTOCOL)
                self.file.flush()
            except BaseException:
                code = 1
            finally:
                os._exit(code)

    def results(self) -> list[Any] | None:
        """What the worker sent, in order, once it has ended; None if it did not end well
        (and on any later call)."""
        if self.pid is None:
            return None
        pid, self.pid = self.pid, None
        try:
            _, status = os.waitpid(pid, 0)
            if os.waitstatus_to_exitcode(status) != 0:
                return None
            self.file.seek(0)
            out = []
            while True:
                try:
                    out.append(pickle.load(self.file))
                except EOFError:
                    return out
        except Exception:
            return None
        finally:
            self.file.close()
