"""Posts on a Facebook Page through facebook-sdk's GraphAPI.

A message becomes a link post (``POST /{page-id}/feed`` with ``message`` and ``link``; the
text does not repeat the link, which Facebook shows as a preview) or, when it has an
image, a photo post (``POST /{page-id}/photos`` with the image as multipart ``source``,
``caption`` and the alt text in ``alt_text_custom``).

Outcomes are sorted so the daemon knows what to do (publishers/graph.py, shared with
instagram):

- nothing was sent (connection refused) or Facebook throttles → :class:`TransientError`
  (after the wait Meta gives in ``X-Business-Use-Case-Usage`` when it gives one);
- the post may exist (a timeout after sending, HTTP 5xx, a reply that is not JSON, codes 1
  and 2) → :class:`UncertainError`: the next attempt looks for it first, among what the page
  itself published since the attempt began (``/published_posts``, and the page's uploaded
  photos for a photo post). Where that look cannot settle it, the delivery becomes
  ``unknown`` (:class:`OutcomeUnknown`) for a person: it is never posted twice;
- Facebook blocks the page for a while (368) → :class:`ChannelBlocked`: hold the channel;
- everything else (token, permissions, a login needed on facebook.com, parameters,
  duplicates, links) → :class:`PermanentError` with a message that says what to do.

The page token comes from the environment variable the channel names and travels only in
the body of a POST or in the ``Authorization`` header of a GET: never in a URL (urllib3
logs URLs at DEBUG level and puts them in its exception messages), never in a log line,
an error message or the ledger.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, ClassVar

from pydantic import Field, field_validator

from .base import (
    Channel,
    CheckResult,
    EnvRef,
    Journal,
    Payload,
    PermanentError,
    Receipt,
    Settings,
    PlanFileError,
    UncertainError,
    plan_file,
)
from .graph import (
    ChannelBlocked,
    GraphPublisher,
    find_ours,
    http_url,
    normalize,
)
from .graphversions import DEFAULT_VERSION, VERSION_PATTERN, version_problems

__all__ = ["ChannelBlocked", "FacebookPublisher", "FacebookSettings"]

log = logging.getLogger(__name__)

PHOTO_FILE = "photo"  # the payload's file with the uploaded picture: photo.jpg, photo.png ...
_SUFFIX = re.compile(r"^\.[A-Za-z0-9]{1,8}$")

# How many of the page's own posts (and photos) one look reads; more in the attempt's time
# window than this and the look cannot tell (the delivery becomes unknown).
LOOKUP_LIMIT = 100
# How far before our own attempt a post found by lookup may be dated (clock skew).
LOOKUP_SKEW = timedelta(minutes=5)
# When the attempt's start is not known (an old ledger): how far back a post with our
# text may be found. Not finding it there settles nothing: the delivery becomes unknown.
LOOKUP_FALLBACK = timedelta(days=1)


class FacebookSettings(Settings):
    page_id: str
    token: EnvRef | None = None
    """``${ENV}`` naming the page access token. Not given → posts go to the outbox; given
    but the variable unset or empty → publishing fails and says so (never the outbox)."""
    api_version: str = Field(DEFAULT_VERSION, pattern=VERSION_PATTERN)
    """A current Graph API version; validate warns and doctor fails 90 days before Meta
    ends it (see publishers/graph.py)."""
    graph_url: str = "https://graph.facebook.com/"
    outbox: str | None = None
    """Folder for posts when no token is configured (default ``outbox/<channel name>``)."""
    timeout: float = Field(20.0, gt=0)
    """Seconds to wait for Facebook to connect and to answer (facebook-sdk waits forever)."""

    @field_validator("graph_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        return http_url(value)


class FacebookPublisher(GraphPublisher):
    name: ClassVar[str] = "facebook"
    label: ClassVar[str] = "Facebookinlägg"
    max_chars: ClassVar[int] = 63206  # the Graph API's limit of a post's message
    Settings: ClassVar[type[FacebookSettings]] = FacebookSettings
    parts: ClassVar[dict[str, str]] = {"text": "facebook/post.txt.j2"}

    def __init__(self, channel: Channel) -> None:
        super().__init__(channel)
        self.settings: FacebookSettings = channel.settings

    @property
    def target_id(self) -> str:
        return self.settings.page_id

    @staticmethod
    def settings_problems(settings: FacebookSettings, now: datetime) -> list[tuple[str, str, str]]:
        """``validate``'s findings on a channel's settings: (setting, severity, text)."""
        return version_problems(settings, now)

    # -- building ------------------------------------------------------------------------
    def payload(self, message: Any) -> Payload:
        """The Graph API request for ``message`` (a RenderedMessage), without I/O."""
        text = message.parts["text"].strip()
        page = self.settings.page_id
        params: dict[str, str]
        fields: dict[str, Any] = {
            "channel": self.channel.name,
            "method": "POST",
            "api_version": self.settings.api_version,
        }
        if message.image is not None:
            fields["endpoint"] = f"/{page}/photos"
            params = {"caption": text, "published": "true"}
            if message.image.alt:
                params["alt_text_custom"] = message.image.alt
            path = Path(message.image.path)
            fields["params"] = params
            # The bytes are read here and uploaded from the payload, so that the archive
            # keeps exactly the picture that went out (the file may be replaced later).
            try:  # (only a picture inside the plan: never a secret named as one)
                picture = plan_file(self.channel.root, path, image=True)
                photo = picture.data or b""
            except PlanFileError as exc:
                raise PermanentError(
                    f"{self.channel.name}: cannot read the image {self._relative(path)}: {exc}"
                ) from None
            fields["source"] = {
                "path": self._relative(path),
                "filename": path.name,
                "content_type": picture.mime or "application/octet-stream",  # by its bytes, not its name
                "file": PHOTO_FILE + (path.suffix.lower() if _SUFFIX.match(path.suffix) else ""),
                "sha256": hashlib.sha256(photo).hexdigest(),
            }
        else:
            fields["endpoint"] = f"/{page}/feed"
            if message.link:
                text = without_link(text, message.link)
            params = {"message": text}
            if message.link:
                params["link"] = message.link
            fields["params"] = params
        reader = text
        if message.link and message.image is None:
            reader += f"\n\n{message.link}"  # where the preview shows
        if message.image is not None:
            reader += f"\n\n[bild: {message.image.alt}]"
        files = {
            "post.json": (json.dumps(fields, indent=2, ensure_ascii=False) + "\n").encode(),
            "post.txt": (reader + "\n").encode(),
        }
        if message.image is not None:
            files[fields["source"]["file"]] = photo
        return Payload(fields=fields, files=files)

    # -- sending -------------------------------------------------------------------------
    def rehearsal(self, folder: Path) -> FacebookPublisher:
        """This channel in a rehearsal: every post written to ``folder``, no token, no network."""
        settings = self.settings.model_copy(update={"token": None, "outbox": str(folder)})
        return FacebookPublisher(self.channel.rehearsal(settings))

    def publish(self, payload: Payload, delivery_id: str, journal: Journal) -> Receipt:
        """Post it; raise TransientError, UncertainError, ChannelBlocked, OutcomeUnknown or
        PermanentError."""
        if self.outbox():
            return self._write_outbox(payload, delivery_id)
        self._require_token()
        found = self.look_first(payload, delivery_id, journal)  # an earlier attempt may have posted it
        if found is not None:
            return found

        def send() -> str:
            result = self._send(payload, delivery_id)
            return str(result.get("post_id") or result["id"])

        post_id = self.send_once(delivery_id, journal, send)
        return Receipt(external_id=post_id, url=f"https://www.facebook.com/{post_id}", note=self.served_note())

    def lookup(self, payload: Payload, delivery_id: str) -> Receipt | None:
        """Our post among what the page published since our last attempt in this process:
        the receipt, None when it is surely not there, or :class:`OutcomeUnknown` when the
        look cannot tell (see :meth:`_lookup`)."""
        return self._lookup(payload, delivery_id, None)

    def _lookup(
        self, payload: Payload, delivery_id: str, since: datetime | None
    ) -> Receipt | None:
        """Look where Meta lists what the page itself published, newest first and without
        ranking (``/feed`` and ``/posts`` are ranked and may leave posts out:
        https://developers.facebook.com/docs/graph-api/reference/page/published_posts/), and
        for a photo post also among the page's uploaded photos
        (``/photos?type=uploaded``: https://developers.facebook.com/docs/graph-api/reference/page/photos/),
        from a little before the attempt began.

        Conclusive only when the attempt's start is known and every list was read to its
        end; otherwise a post not found raises :class:`OutcomeUnknown`.
        """
        if self.outbox():
            return None
        self._require_token()
        since = since or self._attempts.get(delivery_id)
        ours = normalize(_text(payload))
        ch = self.channel.name
        if not ours:  # an empty caption matches anything: cannot tell
            raise self.unknown(delivery_id, "the post has no text to recognise it by")
        start = (since - LOOKUP_SKEW) if since is not None else datetime.now(timezone.utc) - LOOKUP_FALLBACK
        lists = [("published_posts", "message", "id,message,created_time,permalink_url")]
        if "source" in payload.fields:
            lists.append(("photos", "name", "id,name,created_time,link,page_story_id"))
        graph, session = self._graph()
        log.info("%s: looking for %s among what the page published since %s", ch, delivery_id,
                 start.isoformat(timespec="seconds"))
        complete = since is not None
        for edge, text_field, wanted in lists:
            args: dict[str, Any] = {"fields": wanted, "since": int(start.timestamp()), "limit": LOOKUP_LIMIT}
            if edge == "photos":
                args["type"] = "uploaded"  # the page's own photos, not those it is tagged in
            try:
                result = graph.get_connections(self.settings.page_id, edge, **args)
            except Exception as exc:  # sorted like a post; a failed look is never "not found"
                err = self._sort(exc, session, payload, delivery_id, looking=True)
                raise err from self._safe_cause(exc)
            item, read_all = find_ours(result, text_field, "created_time", ours, start)
            if item is not None:
                post_id = str(item.get("page_story_id") or item["id"])
                url = item.get("permalink_url") or item.get("link") or f"https://www.facebook.com/{post_id}"
                log.info("%s: %s is on the page as %s", ch, delivery_id, post_id)
                return Receipt(external_id=post_id, url=url, note="found on the page after an uncertain attempt")
            complete = complete and read_all
        if complete:
            return None
        raise self.unknown(delivery_id, "when the earlier attempt began is not recorded" if since is None
                           else f"the page published more than {LOOKUP_LIMIT} posts since the attempt")

    # -- checking (samverkan doctor, the daemon's checks ahead) ---------------------------
    def check(self) -> list[CheckResult]:
        """Read-only: the Graph API version lives on and is the one Meta answers with, the
        token is set, valid, the configured page's, may post, and when it expires if
        Facebook says. Nothing is posted.

        Two GETs, the token in the ``Authorization`` header as for every call here:

        - ``/me?fields=id,name``: with a page token ``/me`` is the page, so this proves the
          token works (code 190 otherwise) and whose it is;
        - ``/debug_token?input_token=…``: its scopes, target pages and expiry. Facebook
          documents it for app tokens, but a token may inspect itself; where it refuses,
          the check says so as a warning. (``/me/permissions`` is an edge of users, not of
          pages, so it cannot be asked with a page token.)

        ``debug_token`` wants the token in its query string, so during that call
        urllib3's DEBUG lines (which show URLs) are scrubbed of it.
        """
        results = self._token_checks()
        results += self.usage_checks()
        versions = self.version_checks(self.channel.clock())
        if not self.settings.token:  # nothing goes to Meta yet: the version is for later
            versions = [CheckResult.warn(r.what, r.message, r.fix) if r.status == "fail" else r for r in versions]
        return versions + results

    def _token_checks(self) -> list[CheckResult]:
        ch, page, env = self.channel.name, self.settings.page_id, self._env()
        unusable = self.token_setup_checks()
        if unusable:
            return unusable
        token = self._require_token()
        graph, session = self._graph()
        try:
            me = graph.get_object("me", fields="id,name")
        except Exception as exc:
            return [self._check_failure(exc, session, "token")]
        me = me if isinstance(me, dict) else {}
        if str(me.get("id")) != page:
            who = f"{me.get('name') or 'someone'} ({me.get('id')})"
            return [CheckResult.fail(
                "token",
                f"the token in {env} belongs to {who}, not to page {page}",
                f"create a page token for page {page} and set {env} (or correct page_id "
                f"of {ch} in config.yaml)",
            )]
        results = [CheckResult.ok("token", f"valid page token for {me.get('name') or page} ({page})")]
        data = self.token_details(graph, session, token)
        if isinstance(data, CheckResult):
            return results + [data]
        results += self._check_token_data(data)
        return results

    def _check_token_data(self, data: dict[str, Any]) -> list[CheckResult]:
        ch, page, env = self.channel.name, self.settings.page_id, self._env()
        renew = f"create a new page token for page {page} and set {env}"
        if data.get("is_valid") is False:
            said = self._scrub(str((data.get("error") or {}).get("message") or "no reason given"))
            return [CheckResult.fail("token", f"the page token for {ch} is not valid (Facebook says: \"{said}\")", renew)]
        out: list[CheckResult] = []
        profile = data.get("profile_id")
        if profile is not None and str(profile) != page:
            out.append(CheckResult.fail("token", f"the token in {env} is for page {profile}, not {page}", renew))
        scopes = set(data.get("scopes") or [])
        targets = {g.get("scope"): {str(t) for t in g.get("target_ids") or []}
                   for g in data.get("granular_scopes") or [] if isinstance(g, dict)}
        need = f"create a page token with the pages_manage_posts and pages_read_engagement permissions for page {page} and set {env}"
        if "pages_manage_posts" not in scopes:
            out.append(CheckResult.fail("permissions", f"the page token for {ch} lacks the pages_manage_posts permission: it may not post", need))
        elif targets.get("pages_manage_posts") and page not in targets["pages_manage_posts"]:
            out.append(CheckResult.fail("permissions", f"the page token for {ch} may post only on other pages ({', '.join(sorted(targets['pages_manage_posts']))})", need))
        elif "pages_read_engagement" not in scopes:
            out.append(CheckResult.warn(
                "permissions", f"the page token for {ch} may post but lacks pages_read_engagement: after a timeout "
                "samverkan cannot look whether the post went out", need))
        else:
            out.append(CheckResult.ok("permissions", "may post (pages_manage_posts, pages_read_engagement)"))
        out.append(self.expiry_check(data, renew))
        return out

    # -- internals -----------------------------------------------------------------------
    def _send(self, payload: Payload, delivery_id: str) -> dict[str, Any]:
        fields = payload.fields
        params = dict(fields["params"])
        page = self.settings.page_id
        image: tuple[str, bytes, str] | None = None
        if "source" in fields:
            source = fields["source"]
            image = (source["filename"], payload.files[source["file"]], source["content_type"])
        graph, session = self._graph()
        log.info(
            "%s: POST %s (%s)", self.channel.name, fields["endpoint"], self.settings.api_version
        )
        try:
            if image is not None:
                result = graph.put_photo(image, album_path=f"{page}/photos", **params)
            else:
                result = graph.put_object(page, "feed", **params)
        except Exception as exc:
            raise self._sort(exc, session, payload, delivery_id) from self._safe_cause(exc)
        if not isinstance(result, dict) or not (result.get("post_id") or result.get("id")):
            raise UncertainError(
                f"{self.channel.name}: Facebook answered without a post id; the post may exist"
            )
        return result


def _text(payload: Payload) -> str:
    params = payload.fields.get("params", {})
    return str(params.get("message") or params.get("caption") or "")


def without_link(text: str, link: str) -> str:
    """``text`` without the lines that only show ``link`` ("Läs mer: https://..."): a link
    post shows the link as a preview, and a template written for another channel may
    still print it."""
    kept = []
    for line in text.split("\n"):
        lead = line.strip()
        if lead.endswith(link) and len(lead[: -len(link)].strip()) <= 20:
            continue
        kept.append(line)
    return re.sub(r"\n{3,}", "\n\n", "\n".join(kept)).strip()
