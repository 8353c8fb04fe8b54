"""Serving the desk: waitress, a production WSGI server (threads, request limits, no
``http.server``), on 127.0.0.1 unless told otherwise; TLS is the reverse proxy's (README)."""

from __future__ import annotations

import threading
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Mapping

from ..problems import SamverkanError

HOST = "127.0.0.1"


def shifted_clock(now_text: str | None, tz: Any) -> Callable[[], datetime]:
    """The real clock, or one that starts at ``--now`` and runs at the real pace (so a
    sign-in link still runs out after 15 minutes)."""
    if not now_text:
        return lambda: datetime.now(tz)
    from ..timeutil import localize

    start = datetime.fromisoformat(now_text)
    if start.tzinfo is None:
        start = localize(start, tz)[0]
    offset = start - datetime.now(timezone.utc)
    return lambda: (datetime.now(timezone.utc) + offset).astimezone(tz)


class DeskServer:
    """The desk on ``host:port`` (0: a free port) in a thread of its own: :meth:`start`,
    :attr:`url`, :meth:`stop`. :func:`serve` runs it in the foreground."""

    def __init__(self, root: Path, *, clock: Callable[[], datetime], host: str = HOST, port: int = 8080,
                 base_url: str | None = None, env: Mapping[str, str] | None = None, threads: int = 4):
        from waitress.server import create_server

        from .app import create_app

        self.app = create_app(root, clock=clock, base_url=base_url, env=env, bind_host=host)
        try:
            self.server: Any = create_server(self.app, host=host, port=port, threads=threads, ident="samverkan-desk",
                                             clear_untrusted_proxy_headers=True)
        except OSError as exc:
            raise SamverkanError(f"cannot listen on {host}:{port}: {exc.strerror}; try another --port") from None
        self.host = host
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self.server.effective_port)

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/"

    @property
    def desk(self) -> Any:
        return self.app.extensions["samverkan_desk"]

    def run(self) -> None:
        try:
            self.server.run()
        finally:
            self.desk.close()

    def start(self) -> DeskServer:
        self._thread = threading.Thread(target=self.server.run, name="samverkan-desk", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Close every connection and the listening socket, which empties waitress's socket
        map and so ends its loop; from inside the loop (its trigger), since a socket closed
        under the loop's select() by another thread breaks it."""
        server = self.server

        def close_all() -> None:
            for channel in list(server._map.values()):
                if channel not in (server, server.trigger):
                    channel.close()
            server.close()  # the listening socket and the trigger

        if self._thread is not None and self._thread.is_alive():
            try:
                server.trigger.pull_trigger(close_all)
            except OSError:  # the trigger is gone already: nothing runs the loop's thunks
                close_all()
            self._thread.join(timeout=10)
        else:
            close_all()
        server.task_dispatcher.shutdown()
        self.desk.close()


def serve(root: Path, *, host: str, port: int, now: str | None, base_url: str | None,
          echo: Callable[[str], Any] = print) -> None:
    """``samverkan desk``: serve until interrupted."""
    from ..loading import load_configured

    project = load_configured(root)
    server = DeskServer(root, clock=shifted_clock(now, project.tz), host=host, port=port, base_url=base_url)
    desk = server.desk
    people = len(project.config.people and [p for ps in project.config.people.values() for p in ps])  # type: ignore[union-attr]
    echo(f"the press desk listens on {server.url} and links to {desk.base_url}/ (Ctrl+C stops)")
    if not people:
        echo("warning: config.yaml names no people: nobody can sign in; add people: (see README)")
    try:
        server.run()
    except KeyboardInterrupt:
        pass
