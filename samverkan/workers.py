"""Forked worker processes, for the shares of a task that is pure CPU (Linux only: a
fork shares the loaded plan with the worker at no cost).

A plain fork rather than a pool: a worker lives for one piece of work (which may take
tasks from :class:`Tasks`), and a pool's threads and shutdown cost more than they save. A worker's result goes back pickled through an
anonymous memory file, not a pipe: a pipe holds 64 KiB, so a worker with more to send
would wait for the parent to read, and the parent is busy with its own share. A streaming
worker sends its result in parts, each told of through a pipe once it is in the file, so
the parent reads the first parts while the worker is still at the last, and then a last
record that says it is done: the parent goes on at once, while the worker's exit (returning
a large plan's memory takes tens of milliseconds) is waited for only when the next worker
starts, or never in a command that exits next.

:class:`Tasks` shares out numbered tasks between the parent and its workers as each is
free for one, so that all end together however their speeds differ."""

from __future__ import annotations

import os
import pickle
import signal
import struct
import sys
import tempfile
import traceback
from typing import IO, Any, Callable, Iterator

_RECORD = struct.Struct("QQ")  # where a sent part is in the file: offset, length
_DONE = 2**64 - 1  # the offset of the last record of a worker whose work ended well
_TASK = struct.Struct("I")
# Workers that ended well and were not waited for yet (see Worker.parts).
_unreaped: set[int] = set()


def usable_cpus() -> int:
    """The processors this process may run on: its affinity (a container's or taskset's
    limit), not all the machine has; a worker on a processor already busy only costs."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0)) or 1
    return os.cpu_count() or 1  # pragma: no cover


def can_fork() -> bool:
    """Whether workers may be forked here: on Linux, from a process with no other thread
    (a fork copies only the thread that calls it, and a lock another thread held stays
    held in the worker for good)."""
    import threading

    return sys.platform == "linux" and threading.active_count() == 1


def _anonymous_file() -> IO[bytes]:
    if hasattr(os, "memfd_create"):
        return os.fdopen(os.memfd_create("samverkan-worker"), "w+b")
    return tempfile.TemporaryFile()  # pragma: no cover


class Worker:
    """A forked process computing ``work()``; the parent takes the result with
    :meth:`result` once it is done. A worker that cannot be started, dies or fails gives no
    result, and the caller does its share itself."""

    def __init__(self, work: Callable[..., Any], *, streaming: bool = False):
        """``work()``'s result is the worker's; ``streaming``, ``work(send)`` sends its result
        in parts instead, which the parent takes with :meth:`parts`."""
        _reap_ended()
        self.complete = False  # (streaming) whether the worker sent all it had to
        self.pipe: int | None = None
        self.pending = b""  # (streaming) what was read of a record not read whole yet
        self.pid: int | None = None
        self.file: IO[bytes] | None = None
        read_end = write_end = None
        try:
            self.file = _anonymous_file()
            if streaming:
                read_end, write_end = os.pipe()
            self.pid = os.fork()
        except OSError:  # no file, pipe or process to be had (a limit, memory): the caller does the work
            self.pid = None
            if self.file is not None:
                self.file.close()
            for fd in (read_end, write_end):
                if fd is not None:
                    os.close(fd)
            return
        assert self.file is not None
        if self.pid == 0:  # the worker: never returns, never runs the parent's exit handlers
            code = 1
            try:
                if read_end is not None and write_end is not None:
                    os.close(read_end)
                    work(_Sender(self.file.fileno(), write_end))
                    os.write(write_end, _RECORD.pack(_DONE, 0))
                else:
                    pickle.dump(work(), self.file, protocol=pickle.HIGHEST_PROTOCOL)
                    self.file.flush()
                code = 0
            except KeyboardInterrupt:
                pass
            except BaseException:
                traceback.print_exc()  # the parent carries on without it: say why here
                sys.stderr.flush()
            finally:
                # What the work made is still held: freeing a loaded plan object by object
                # takes longer than the exit, which returns all the memory at once.
                os._exit(code)
        if write_end is not None:
            os.close(write_end)  # (the worker's end: the pipe ends when the worker does)
            self.pipe = read_end

    def parts(self, wait: bool = True) -> Iterator[Any]:
        """(streaming) The parts the worker sends, each as soon as it is there, until the
        worker is done; then :attr:`complete` says whether it ended well. Parts sent before
        a failure are whole, and come. Without ``wait``, only the parts already there:
        call again for more."""
        if self.pid is None or self.pipe is None:
            return
        assert self.file is not None  # (a started worker has its file)
        fd = self.file.fileno()
        os.set_blocking(self.pipe, wait)
        try:
            while True:
                while len(self.pending) >= _RECORD.size:  # (records read by an earlier call first)
                    offset, length = _RECORD.unpack_from(self.pending)
                    self.pending = self.pending[_RECORD.size:]
                    if offset == _DONE:
                        self.complete = True
                        self._close_pipe()
                        self._reap_later()
                        return
                    data = os.pread(fd, length, offset)  # (the worker still writes at the file's offset)
                    try:
                        if len(data) != length:
                            raise ValueError("a part shorter than its record")
                        part = pickle.loads(data)
                    except Exception:  # a part that does not read: as if the worker had failed
                        self._close_pipe()
                        return
                    yield part
                try:
                    chunk = os.read(self.pipe, 4096)
                except BlockingIOError:
                    return  # (not waiting) nothing more yet
                if not chunk:
                    break
                self.pending += chunk
        except GeneratorExit:  # the caller stopped reading: the rest stays for a next call
            raise
        except BaseException:
            self._close_pipe()
            raise
        # The pipe ended without the last record: the worker failed or was killed.
        self._reap()
        self._close_pipe()

    def _reap_later(self) -> None:
        """The worker is done and exits: wait for it when a next worker starts (a worker
        ended, not waited for, holds nothing but its entry in the process table)."""
        assert self.pid is not None
        _unreaped.add(self.pid)
        self.pid = None
        _reap_ended()

    def _close_pipe(self) -> None:
        if self.pipe is not None:
            os.close(self.pipe)
            self.pipe = None

    def result(self) -> Any:
        """The worker's result once it has ended; None if it gave none (and on any later
        call)."""
        if self.pid is None:
            return None
        assert self.file is not None  # (a started worker has its file)
        status = self._reap()
        try:
            if status is None or os.waitstatus_to_exitcode(status) != 0:
                return None
            self.file.seek(0)
            return pickle.load(self.file)
        except Exception:
            return None
        finally:
            self.file.close()

    def stop(self) -> None:
        """End the worker now if it is still running (the parent gave up: its result would
        go unread), and reap it; one that said it is done is left to end by itself (see
        :meth:`parts`)."""
        if self.pid is not None:  # (None: never started, reaped, or done)
            if not _has_ended(self.pid):
                os.kill(self.pid, signal.SIGKILL)
                self._reap()
            self.pid = None
        self._close_pipe()
        if self.file is not None:
            self.file.close()

    def _reap(self) -> int | None:
        """Wait for the worker to end; its wait status (None if it was reaped elsewhere).
        Interrupted, the worker is still ours to reap."""
        assert self.pid is not None
        try:
            _, status = os.waitpid(self.pid, 0)
        except ChildProcessError:
            status = None
        self.pid = None
        return status


def _has_ended(pid: int) -> bool:
    """Whether worker ``pid`` has ended, reaping it if so, without waiting."""
    try:
        return os.waitpid(pid, os.WNOHANG)[0] != 0
    except ChildProcessError:  # reaped elsewhere: the number may be another's by now
        return True


def _reap_ended() -> None:
    """Wait for the workers done earlier that have exited by now."""
    for pid in list(_unreaped):
        if _has_ended(pid):
            _unreaped.discard(pid)


class Tasks:
    """The numbers ``0 .. n-1``, each taken by one process of those that share it (the
    parent and the workers it forks after making this): a pipe holds them, and each read
    of a number's bytes takes it whole."""

    MAX = 1024  # written at once, the numbers must fit in a pipe of one page (4 KiB)

    def __init__(self, n: int):
        """OSError if no pipe is to be had."""
        if n > self.MAX:
            raise ValueError(f"at most {self.MAX} tasks")
        read_end, write_end = os.pipe()
        try:
            data = b"".join(_TASK.pack(i) for i in range(n))
            if os.write(write_end, data) != len(data):
                raise OSError("the pipe took only part of the tasks")
        except BaseException:
            os.close(read_end)
            raise
        finally:
            os.close(write_end)
        self.fd: int | None = read_end

    def take(self) -> int | None:
        """The next number no process has taken; None when all are taken."""
        if self.fd is None:
            return None
        data = os.read(self.fd, _TASK.size)
        if not data:
            return None
        return int(_TASK.unpack(data)[0])

    def close(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


class _Sender:
    """In a streaming worker: ``send(part)`` puts the part in the file, then says where."""

    def __init__(self, fd: int, pipe: int):
        self.fd, self.pipe, self.offset = fd, pipe, 0

    def __call__(self, part: Any) -> None:
        data = memoryview(pickle.dumps(part, protocol=pickle.HIGHEST_PROTOCOL))
        start, done = self.offset, 0
        while done < len(data):
            done += os.write(self.fd, data[done:])
        self.offset += done
        os.write(self.pipe, _RECORD.pack(start, done))  # (under PIPE_BUF: written whole)
