"""A tiny third-party publisher, installed the way a real plugin is: a module plus a
``*.dist-info`` folder with an entry point in ``samverkan.publishers``, on PYTHONPATH."""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

MODULE = '''
"""notebook: appends each post as a JSON line to a file (a third-party publisher)."""
from __future__ import annotations

import json
import os
import time
from typing import ClassVar, Literal

from publishers.base import Channel, Payload, PermanentError, Receipt, Settings, TransientError, expand


class NotebookSettings(Settings):
    path: str
    delay: float = 0.0          # seconds between "sending" and returning the receipt
    fail: Literal["none", "transient", "permanent", "blocked"] = "none"
    fail_times: int = 1         # how many attempts fail before one succeeds
    crash: Literal["none", "payload", "publish"] = "none"  # a bug: RuntimeError (with the token) there
    token: str | None = None    # ${NAME}: a secret, which a crash's message holds


class NotebookPublisher:
    name: ClassVar[str] = "notebook"
    Settings: ClassVar[type[NotebookSettings]] = NotebookSettings
    parts: ClassVar[dict[str, str]] = {"text": "facebook/post.txt.j2"}

    def __init__(self, channel: Channel) -> None:
        self.channel = channel
        self.settings = channel.settings

    def _crash(self, where: str) -> None:
        if self.settings.crash == where:
            raise RuntimeError(f"the notebook plugin broke in {where} holding {expand(self.settings.token, self.channel.env)}")

    def payload(self, message) -> Payload:
        self._crash("payload")
        fields = {"id": message.delivery_id, "title": message.title, "text": message.parts["text"]}
        return Payload(fields, {"post.json": json.dumps(fields, ensure_ascii=False).encode()})

    def _attempts(self) -> int:
        counter = self.channel.path(self.settings.path + ".attempts")
        counter.parent.mkdir(parents=True, exist_ok=True)
        n = int(counter.read_text()) + 1 if counter.exists() else 1
        counter.write_text(str(n))
        return n

    def publish(self, payload: Payload, delivery_id: str, journal) -> Receipt:
        self._crash("publish")
        if self.settings.fail != "none" and self._attempts() <= self.settings.fail_times:
            if self.settings.fail == "transient":
                raise TransientError("the notebook is busy")
            if self.settings.fail == "blocked":
                blocked = PermanentError("the notebook is locked for a day")
                blocked.hold_channel = True
                raise blocked
            raise PermanentError("the notebook is closed: a person must open it")
        path = self.channel.path(self.settings.path)
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "a", encoding="utf-8") as f:
            f.write(json.dumps(payload.fields, ensure_ascii=False) + "\\n")
            f.flush()
            os.fsync(f.fileno())
        time.sleep(self.settings.delay)
        return Receipt(external_id=delivery_id, url=None, note=f"written to {self.settings.path}")

    def outbox(self) -> bool:
        return False
'''


def install_plugin(site: Path) -> dict[str, str]:
    """Write the plugin into ``site``; returns an environment that makes it importable."""
    site.mkdir(parents=True, exist_ok=True)
    (site / "samverkan_notebook.py").write_text(textwrap.dedent(MODULE), encoding="utf-8")
    info = site / "samverkan_notebook-0.1.dist-info"
    info.mkdir(exist_ok=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: samverkan-notebook\nVersion: 0.1\n", encoding="utf-8")
    (info / "entry_points.txt").write_text(
        "[samverkan.publishers]\nnotebook = samverkan_notebook:NotebookPublisher\n", encoding="utf-8"
    )
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(site), env.get("PYTHONPATH", "")) if p)
    return env


def read_notebook(path: Path) -> list[dict[str, object]]:
    import json

    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
