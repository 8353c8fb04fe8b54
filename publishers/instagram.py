"""Publishes on an Instagram professional account through the Instagram Graph API's
content publishing flow (https://developers.facebook.com/docs/instagram-platform/content-publishing/):

1. ``POST /{ig-user-id}/media`` with ``image_url`` and ``caption`` makes a media container;
   Instagram fetches the image from that public URL, so the channel's ``media_base_url``
   says where the website serves the plan's images;
2. ``GET /{container-id}?fields=status_code,status`` until it is ``FINISHED`` (``ERROR``:
   Instagram could not use the image; ``EXPIRED``: not published within 24 hours),
   https://developers.facebook.com/docs/instagram-platform/instagram-graph-api/reference/ig-container/;
3. ``POST /{ig-user-id}/media_publish`` with ``creation_id`` publishes it: the only step
   that makes something public.

Only step 3 can leave a post behind without our knowing: after an uncertain publish the
next attempt looks for it among the account's media (``GET /{ig-user-id}/media``) made
since the attempt began, and where that cannot tell, the delivery becomes ``unknown``.
A container made earlier and still usable is published instead of a new one. Failures are
sorted as for facebook (publishers/graph.py); with no token configured the post goes to
the outbox.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Callable, ClassVar
from urllib.parse import quote

from pydantic import Field, field_validator

from .base import (
    Channel,
    CheckResult,
    EnvRef,
    Journal,
    Payload,
    PermanentError,
    PlanFileError,
    Receipt,
    Settings,
    TransientError,
    UncertainError,
    plan_file,
    public_image_name,
)
from .graph import (
    GraphPublisher,
    find_ours,
    http_url,
    normalize,
    to_int,
)
from .graphversions import DEFAULT_VERSION, VERSION_PATTERN, version_problems

log = logging.getLogger(__name__)

# "Maximum 2200 characters, 30 hashtags, and 20 @ tags" (the caption parameter of
# https://developers.facebook.com/docs/instagram-platform/instagram-graph-api/reference/ig-user/media).
MAX_CAPTION = 2200
MAX_HASHTAGS = 30
_HASHTAG = re.compile(r"(?<![\w&])#\w+")
IMAGE_FILE = "image"
_SUFFIX = re.compile(r"^\.[A-Za-z0-9]{1,8}$")
LOOKUP_LIMIT = 100
LOOKUP_SKEW = timedelta(minutes=5)
# content_publishing_limit: an account may publish this share of its quota before doctor warns.
QUOTA_WARNING = 0.9
QUOTA_REACHED = 2207042


class InstagramSettings(Settings):
    account_id: str
    """The Instagram professional account's id (an IG user linked to a party's Page)."""
    token: EnvRef | None = None
    """``${ENV}`` naming an access token with instagram_content_publish for the account.
    Not given → posts go to the outbox."""
    api_version: str = Field(DEFAULT_VERSION, pattern=VERSION_PATTERN)
    graph_url: str = "https://graph.facebook.com/"
    media_base_url: str | None = None
    """Public https URL where the website serves the plan's images under the names the rss
    channel's ``media_output`` copies them to (``x-<digest>.jpg``). Required: validate says so."""
    outbox: str | None = None
    timeout: float = Field(20.0, gt=0)
    poll_every: float = Field(3.0, gt=0)
    """Seconds between looks at a container Instagram is still preparing."""
    wait_for: float = Field(120.0, gt=0)
    """Seconds to wait for a container to be ready before trying again later."""

    @field_validator("graph_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        return http_url(value)

    @field_validator("media_base_url")
    @classmethod
    def _public_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if not value.startswith("https://"):
            raise ValueError("must be a public https:// URL where the website serves the images, "
                             "e.g. https://www.hultsfred.se/trygghet/bilder/")
        return value if value.endswith("/") else value + "/"


class InstagramPublisher(GraphPublisher):
    name: ClassVar[str] = "instagram"
    label: ClassVar[str] = "Instagraminlägg"
    Settings: ClassVar[type[InstagramSettings]] = InstagramSettings
    parts: ClassVar[dict[str, str]] = {"text": "instagram/caption.txt.j2"}
    what: ClassVar[str] = "Instagram account"
    token_kind: ClassVar[str] = "access token"
    permissions: ClassVar[str] = "instagram_basic, instagram_content_publish and pages_read_engagement"
    site: ClassVar[str] = "Instagram"
    target_setting: ClassVar[str] = "account_id"

    def __init__(self, channel: Channel) -> None:
        super().__init__(channel)
        self.settings: InstagramSettings = channel.settings
        self.sleep: Callable[[float], None] = time.sleep
        """How to wait between polls (tests give one that advances their clock)."""
        self.monotonic: Callable[[], float] = time.monotonic

    @property
    def target_id(self) -> str:
        return self.settings.account_id

    # -- validate ---------------------------------------------------------------------------
    @staticmethod
    def settings_problems(settings: InstagramSettings, now: datetime) -> list[tuple[str, str, str]]:
        out = version_problems(settings, now)
        if settings.media_base_url is None:
            out.append(("media_base_url", "error", f"missing: {_BASE_URL_WHY}"))
        return out

    @staticmethod
    def message_problems(settings: InstagramSettings, parts: dict[str, str], image: Any) -> list[tuple[str, str, str]]:
        """What Instagram cannot take: a message without a picture, a caption over its
        limits."""
        out = []
        if image is None:
            out.append(("image", "error", "Instagram publishes only posts with a picture: add image: {path: ..., "
                                          "alt: ...} to the message, or leave this channel out of its channels"))
        elif getattr(image, "media_type", "image/jpeg") not in ("image/jpeg", None):
            # "JPEG is the only image format supported" (Meta, Instagram Platform: Content
            # Publishing, image specifications); the container would end in ERROR.
            out.append(("image", "error", f"Instagram takes only JPEG pictures, and {image.path} is "
                                          f"{image.media_type}: save it as a .jpg and name that one here"))
        caption = parts.get("text", "").strip()
        if len(caption) > MAX_CAPTION:
            out.append(("body", "error", f"the Instagram caption is {len(caption)} characters, over Instagram's "
                                         f"{MAX_CAPTION}; shorten it or give a short text in overrides"))
        tags = len(_HASHTAG.findall(caption))
        if tags > MAX_HASHTAGS:
            out.append(("body", "error", f"the Instagram caption has {tags} hashtags, over Instagram's "
                                         f"{MAX_HASHTAGS}; remove some"))
        return out

    # -- building ---------------------------------------------------------------------------
    def payload(self, message: Any) -> Payload:
        """The container Instagram is asked to make for ``message``, without I/O but reading
        the image (archived as it was)."""
        ch = self.channel.name
        if message.image is None:
            raise PermanentError(f"{ch}: {message.delivery_id} has no image, and Instagram publishes only posts "
                                 "with a picture: add image: to the message or leave channel {ch} out of it")
        path = Path(message.image.path)
        try:  # (only a picture inside the plan: never a secret named as one)
            picture = plan_file(self.channel.root, path, image=True)
        except PlanFileError as exc:
            raise PermanentError(f"{ch}: cannot read the image {self._relative(path)}: {exc}") from None
        data = picture.data or b""
        image_url = message.extra.get("image_url") or self.image_url(path, data)
        caption = message.parts["text"].strip()
        fields: dict[str, Any] = {
            "channel": ch,
            "method": "POST",
            "api_version": self.settings.api_version,
            "endpoint": f"/{self.settings.account_id}/media",
            "params": {"image_url": image_url, "caption": caption},
            "image": {
                "path": self._relative(path),
                "alt": message.image.alt,
                "file": IMAGE_FILE + (path.suffix.lower() if _SUFFIX.match(path.suffix) else ""),
                "content_type": picture.mime or "application/octet-stream",
                "sha256": hashlib.sha256(data).hexdigest(),
            },
        }
        return Payload(fields, {
            "post.json": (json.dumps(fields, indent=2, ensure_ascii=False) + "\n").encode(),
            "post.txt": (f"{caption}\n\n[bild: {message.image.alt}]\n").encode(),
            fields["image"]["file"]: data,
        })

    def image_url(self, path: Path, data: bytes) -> str:
        """Where Instagram fetches ``path``: ``media_base_url`` + the name the website's
        feed publishes it under (its own with a digest of its bytes: publishers.base's
        public_image_name), so one folder the rss channel copies into serves both."""
        if self.settings.media_base_url is None:
            raise PermanentError(f"{self.channel.name}: {_NO_BASE_URL}")
        return self.settings.media_base_url + quote(public_image_name(path.name, data))

    # -- sending ----------------------------------------------------------------------------
    def rehearsal(self, folder: Path) -> InstagramPublisher:
        settings = self.settings.model_copy(update={"token": None, "outbox": str(folder)})
        return InstagramPublisher(self.channel.rehearsal(settings))

    def publish(self, payload: Payload, delivery_id: str, journal: Journal) -> Receipt:
        """Container, wait until it is ready, publish; raise TransientError,
        UncertainError, OutcomeUnknown or PermanentError."""
        if self.outbox():
            return self._write_outbox(payload, delivery_id)
        self._require_token()
        found = self.look_first(payload, delivery_id, journal)  # an earlier publish may have gone out
        if found is not None:
            return found
        container = journal.part_detail("container") if journal.part_state("container") == "sent" else None
        if container is not None and self._status(container, payload, delivery_id)[0] not in ("FINISHED", "IN_PROGRESS"):
            container = None  # expired or used: a new one (making one publishes nothing)
        if container is None:
            container = self._create(payload, delivery_id)
            journal.set_part("container", "sent", container)
        self._wait(container, payload, delivery_id, journal)
        media_id = self.send_once(delivery_id, journal, lambda: self._call(
            payload, delivery_id, lambda graph: graph.put_object(self.settings.account_id, "media_publish",
                                                                 creation_id=container)))
        return Receipt(external_id=media_id, url=self._permalink(media_id), note=self.served_note())

    def _call(self, payload: Payload, delivery_id: str, call: Callable[[Any], Any], *, looking: bool = False) -> str:
        """One call through facebook-sdk, its failure sorted; the id it answered."""
        graph, session = self._graph()
        try:
            result = call(graph)
        except Exception as exc:
            raise self._sort(exc, session, payload, delivery_id, looking=looking) from self._safe_cause(exc)
        if not isinstance(result, dict) or not result.get("id"):
            if looking:
                raise TransientError(f"{self.channel.name}: Instagram answered without an id")
            raise UncertainError(f"{self.channel.name}: Instagram answered without an id; the post may exist")
        return str(result["id"])

    def _create(self, payload: Payload, delivery_id: str) -> str:
        params = dict(payload.fields["params"])
        log.info("%s: POST /%s/media (%s)", self.channel.name, self.settings.account_id, self.settings.api_version)
        # Making a container publishes nothing: a failure that may have made one is only a
        # container that expires unused, so it is retried as plainly transient.
        try:
            return self._call(payload, delivery_id, lambda graph: graph.put_object(
                self.settings.account_id, "media", **params))
        except UncertainError as exc:
            raise TransientError(str(exc).replace("; the post may exist", "; nothing was published")) from None

    def _status(self, container: str, payload: Payload, delivery_id: str) -> tuple[str, str]:
        """The container's ``status_code`` and ``status``."""
        graph, session = self._graph()
        try:
            result = graph.get_object(container, fields="status_code,status")
        except Exception as exc:
            raise self._sort(exc, session, payload, delivery_id, looking=True) from self._safe_cause(exc)
        result = result if isinstance(result, dict) else {}
        return str(result.get("status_code") or "UNKNOWN"), self._scrub(str(result.get("status") or ""))

    def _wait(self, container: str, payload: Payload, delivery_id: str, journal: Journal) -> None:
        """Until the container is FINISHED, within ``wait_for`` seconds."""
        ch = self.channel.name
        deadline = self.monotonic() + self.settings.wait_for
        while True:
            code, status = self._status(container, payload, delivery_id)
            if code == "FINISHED":
                return
            if code == "ERROR":
                journal.set_part("container", "refused", status)
                url = payload.fields["params"]["image_url"]
                raise PermanentError(
                    f"Instagram could not make a post of {url} for {ch} (Instagram says: \"{status}\"): make sure "
                    "the address opens publicly and is a JPEG of at most 8 MB with an aspect ratio between 4:5 "
                    "and 1.91:1, then publish again")
            if code in ("EXPIRED", "PUBLISHED"):
                journal.set_part("container", code.lower(), status)
                raise TransientError(f"{ch}: the media container {container} is {code}; a new one is made at the "
                                     "next attempt")
            if self.monotonic() >= deadline:
                raise TransientError(
                    f"{ch}: Instagram has not finished preparing the image within {self.settings.wait_for:g}s "
                    f"(container {container}: {code}); nothing was published, trying again later")
            if self.channel.stop is not None and self.channel.stop.is_set():
                raise TransientError(f"{ch}: stopped while Instagram prepared the image (the daemon is stopping, or "
                                     f"the channel was paused); nothing was published, container {container} is "
                                     "used at the next attempt")
            self.sleep(self.settings.poll_every)

    def _permalink(self, media_id: str) -> str | None:
        graph, _ = self._graph()
        try:
            answer = graph.get_object(media_id, fields="permalink")
        except Exception:  # the post is out; a missing link is no failure
            return None
        return answer.get("permalink") if isinstance(answer, dict) else None

    def lookup(self, payload: Payload, delivery_id: str) -> Receipt | None:
        return self._lookup(payload, delivery_id, None)

    def _lookup(self, payload: Payload, delivery_id: str, since: datetime | None) -> Receipt | None:
        """Our caption among the account's media since the attempt began (newest first,
        https://developers.facebook.com/docs/instagram-platform/instagram-graph-api/reference/ig-user/media);
        :class:`OutcomeUnknown` when that cannot tell."""
        if self.outbox():
            return None
        since = since or self._attempts.get(delivery_id)
        ours = normalize(str(payload.fields.get("params", {}).get("caption") or ""))
        if since is None:
            raise self.unknown(delivery_id, "when the earlier attempt began is not recorded")
        if not ours:
            raise self.unknown(delivery_id, "the post has no caption to recognise it by")
        start = since - LOOKUP_SKEW
        graph, session = self._graph()
        try:
            result = graph.get_connections(self.settings.account_id, "media",
                                           fields="id,caption,timestamp,permalink", limit=LOOKUP_LIMIT)
        except Exception as exc:
            raise self._sort(exc, session, payload, delivery_id, looking=True) from self._safe_cause(exc)
        item, read_all = find_ours(result, "caption", "timestamp", ours, start)
        if item is not None:
            log.info("%s: %s is on the account as media %s", self.channel.name, delivery_id, item["id"])
            return Receipt(external_id=str(item["id"]), url=item.get("permalink"),
                           note="found on the account after an uncertain attempt")
        if read_all:
            return None
        raise self.unknown(delivery_id, f"the account published more than {LOOKUP_LIMIT} posts since the attempt")

    # -- checking ---------------------------------------------------------------------------
    def check(self) -> list[CheckResult]:
        """Read-only: the version, media_base_url, the token works for the account, and
        how much of the account's 24-hour publishing quota is used."""
        results = self.version_checks(self.channel.clock())
        if not self.settings.token:
            results = [CheckResult.warn(r.what, r.message, r.fix) if r.status == "fail" else r for r in results]
        if self.settings.media_base_url is None:
            results.append(CheckResult.fail("media_base_url", _NO_BASE_URL))
        unusable = self.token_setup_checks()
        if unusable:
            return results + unusable
        graph, session = self._graph()
        account = self.settings.account_id
        try:
            me = graph.get_object(account, fields="id,username")
        except Exception as exc:
            return results + [self._check_failure(exc, session, "token")]
        name = f"@{me['username']}" if isinstance(me, dict) and me.get("username") else account
        results.append(CheckResult.ok("token", f"the token reaches Instagram account {name} ({account})"))
        data = self.token_details(graph, session, self._require_token())
        results += [data] if isinstance(data, CheckResult) else self._check_token_data(data)
        try:
            limit = graph.get_connections(account, "content_publishing_limit", fields="quota_usage,config")
        except Exception as exc:
            failure = self._check_failure(exc, session, "quota")
            return results + [CheckResult.warn("quota", f"could not read the publishing quota ({failure.message})")]
        data = (limit.get("data") or [{}])[0] if isinstance(limit, dict) else {}
        used = to_int(data.get("quota_usage")) or 0
        total = to_int((data.get("config") or {}).get("quota_total")) or 0
        said = f"{used} of {total} posts in the last 24 hours" if total else f"{used} posts in the last 24 hours"
        if total and used >= QUOTA_WARNING * total:
            results.append(CheckResult.warn("quota", said, "Instagram refuses more until the 24 hours have passed"))
        else:
            results.append(CheckResult.ok("quota", said))
        return results + self.usage_checks()

    def _check_token_data(self, data: dict[str, Any]) -> list[CheckResult]:
        """The token's permissions and expiry, from ``/debug_token``."""
        ch, env = self.channel.name, self._env()
        renew = f"create a new access token for Instagram account {self.settings.account_id} and set {env}"
        if data.get("is_valid") is False:
            said = self._scrub(str((data.get("error") or {}).get("message") or "no reason given"))
            return [CheckResult.fail("token", f"the access token for {ch} is not valid (Instagram says: \"{said}\")",
                                     renew)]
        scopes = set(data.get("scopes") or [])
        need = f"create an access token with the {self.permissions} permissions and set {env}"
        if "instagram_content_publish" not in scopes:
            permissions = CheckResult.fail(
                "permissions", f"the access token for {ch} lacks instagram_content_publish: it may not publish", need)
        elif "instagram_basic" not in scopes:
            permissions = CheckResult.warn(
                "permissions", f"the access token for {ch} may publish but lacks instagram_basic: after a timeout "
                "samverkan cannot look whether the post went out", need)
        else:
            permissions = CheckResult.ok("permissions", "may publish (instagram_content_publish, instagram_basic)")
        return [permissions, self.expiry_check(data, renew)]

    def _sort_graph_error(self, error: dict[str, Any], status: int | None, payload: Payload, delivery_id: str,
                          looking: bool, headers: Any = None) -> Exception:
        # Subcode 2207042: the account has published its 24-hour quota of posts
        # (content_publishing_limit): it passes, so try again later.
        if to_int(error.get("error_subcode")) == QUOTA_REACHED:
            said = self._scrub(str(error.get("message") or "no message"))
            return TransientError(f"{self.channel.name}: the account has published as many posts as Instagram "
                                  f"allows in 24 hours (Instagram says: \"{said}\"); trying again later")
        return super()._sort_graph_error(error, status, payload, delivery_id, looking, headers)


_BASE_URL_WHY = ("Instagram fetches each image from a public address; set it to the https:// address where the "
                 "website publishes the plan's images (the rss channel's media_output copies them there)")
_NO_BASE_URL = f"media_base_url is not set: {_BASE_URL_WHY}"
