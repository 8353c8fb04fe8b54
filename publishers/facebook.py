"""Posts on a Facebook Page through facebook-sdk's GraphAPI.

A message becomes a link post (``POST /{page-id}/feed`` with ``message`` and ``link``) or,
when it has an image, a photo post (``POST /{page-id}/photos`` with the image as multipart
``source``, ``caption`` and the alt text in ``alt_text_custom``).

Outcomes are sorted so the daemon knows what to do:

- nothing was sent (connection refused) or Facebook throttles → :class:`TransientError`;
- the post may exist (a timeout after sending, HTTP 5xx, a reply that is not JSON, codes 1
  and 2) → :class:`UncertainError`: :meth:`FacebookPublisher.lookup` looks for it first;
- Facebook blocks the page for a while (368) → :class:`ChannelBlocked`: hold the channel;
- everything else (token, permissions, parameters, duplicates, links) →
  :class:`PermanentError` with a message that says what to do.

The page token comes from the environment variable the channel names and travels only in
the body of a POST or in the ``Authorization`` header of a GET: never in a URL (urllib3
logs URLs at DEBUG level and puts them in its exception messages), never in a log line,
an error message or the ledger.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import mimetypes
import os
import re
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable, ClassVar, Iterator

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
    TransientError,
    UncertainError,
    env_name,
    expand,
    write_atomic,
)

log = logging.getLogger(__name__)

# Graph API error codes (https://developers.facebook.com/docs/graph-api/guides/error-handling)
THROTTLED = frozenset({4, 17, 32, 341, 613, 80001})  # app, user, page, app-limit, call rate
MAYBE_DONE = frozenset({1, 2})  # unknown error, service unavailable: the post may exist
BLOCKED = 368  # temporarily blocked for policy reasons
TOKEN = 190
PHOTO_FILE = "photo"  # the payload's file with the uploaded picture: photo.jpg, photo.png ...
_SUFFIX = re.compile(r"^\.[A-Za-z0-9]{1,8}$")
TOKEN_EXPIRED, TOKEN_PASSWORD_CHANGED = 463, 460
PERMISSION = 10  # and 200-299
INVALID_PARAMETER = 100
DUPLICATE = 506
LINK_ERROR = 1609005

LOOKUP_LIMIT = 25
# A token that expires sooner than this is reported (doctor, the daemon's daily check).
EXPIRY_WARNING = timedelta(days=7)
# How far before our own attempt a post found by lookup may be dated (clock skew).
LOOKUP_SKEW = timedelta(minutes=5)


class ChannelBlocked(PermanentError):
    """Facebook has blocked the page from posting for a while (code 368).

    Hold every delivery of this channel and alert a person; retrying only prolongs it.
    """

    hold_channel = True


class FacebookSettings(Settings):
    page_id: str
    token: EnvRef | None = None
    """``${ENV}`` naming the page access token. Not given → posts go to the outbox; given
    but the variable unset or empty → publishing fails and says so (never the outbox)."""
    api_version: str = Field("v21.0", pattern=r"^v\d+\.\d+$")
    graph_url: str = "https://graph.facebook.com/"
    outbox: str | None = None
    """Folder for posts when no token is configured (default ``outbox/<channel name>``)."""
    timeout: float = Field(20.0, gt=0)
    """Seconds to wait for Facebook to connect and to answer (facebook-sdk waits forever)."""

    @field_validator("graph_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not value.startswith(("https://", "http://")):
            raise ValueError("must be an http(s) URL, e.g. https://graph.facebook.com/")
        return value if value.endswith("/") else value + "/"


class FacebookPublisher:
    name: ClassVar[str] = "facebook"
    label: ClassVar[str] = "Facebookinlägg"
    max_chars: ClassVar[int] = 63206  # the Graph API's limit of a post's message
    Settings: ClassVar[type[FacebookSettings]] = FacebookSettings
    parts: ClassVar[dict[str, str]] = {"text": "facebook/post.txt.j2"}

    def __init__(self, channel: Channel) -> None:
        self.channel = channel
        self.settings: FacebookSettings = channel.settings
        # delivery id → when we last started sending it; bounds what lookup() may match.
        self._attempts: dict[str, datetime] = {}

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
            try:
                photo = path.read_bytes()
            except OSError as exc:
                raise PermanentError(
                    f"{self.channel.name}: cannot read the image {self._relative(path)}: "
                    f"{exc.strerror or exc}"
                ) from None
            fields["source"] = {
                "path": self._relative(path),
                "filename": path.name,
                "content_type": mimetypes.guess_type(path.name)[0] or "application/octet-stream",
                "file": PHOTO_FILE + (path.suffix.lower() if _SUFFIX.match(path.suffix) else ""),
                "sha256": hashlib.sha256(photo).hexdigest(),
            }
        else:
            fields["endpoint"] = f"/{page}/feed"
            params = {"message": text}
            if message.link:
                params["link"] = message.link
            fields["params"] = params
        reader = text
        if message.link and message.image is None:
            reader += f"\n\n{message.link}"
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
    def outbox(self) -> bool:
        # Only when config.yaml gives no token: a token that names an unset variable is a
        # mistake in the daemon's environment, and quietly writing files would hide it.
        return not self.settings.token

    def rehearsal(self, folder: Path) -> FacebookPublisher:
        """This channel in a rehearsal: every post written to ``folder``, no token, no network."""
        settings = self.settings.model_copy(update={"token": None, "outbox": str(folder)})
        return FacebookPublisher(self.channel.rehearsal(settings))

    def publish(self, payload: Payload, delivery_id: str, journal: Journal) -> Receipt:
        """Post it; raise TransientError, UncertainError, ChannelBlocked or PermanentError."""
        if self.outbox():
            return self._write_outbox(payload, delivery_id)
        self._require_token()
        previous = journal.part_state("post")
        if previous in ("in_flight", "sent"):
            # An earlier attempt may have posted it: look before posting again.
            found = self._lookup(payload, delivery_id, _attempt_time(journal))
            if found is not None:
                journal.set_part("post", "sent", found.external_id)
                return found
            if previous == "sent":
                # Not "settle it with resolve": a failed delivery cannot be resolved, and
                # resolve --as failed is what led here. --force forgets the parts.
                raise PermanentError(
                    f"{self.channel.name}: {delivery_id} was posted earlier (post "
                    f"{journal.part_detail('post') or '?'}) but the post is no longer among the "
                    f"page's recent posts: check the page; if it is not there and should be, "
                    f"post it again with `samverkan publish {delivery_id} --force`"
                )
        started = datetime.now(timezone.utc)
        self._attempts[delivery_id] = started
        journal.set_part("post", "in_flight", started.isoformat())
        try:
            result = self._send(payload, delivery_id)
        except UncertainError:
            raise  # stays in_flight: the next attempt looks first
        except TransientError as exc:
            journal.set_part("post", "deferred", str(exc))
            raise
        except PermanentError as exc:
            journal.set_part("post", "refused", str(exc))
            raise
        post_id = str(result.get("post_id") or result["id"])
        journal.set_part("post", "sent", post_id)
        log.info("%s: posted %s as %s", self.channel.name, delivery_id, post_id)
        return Receipt(external_id=post_id, url=f"https://www.facebook.com/{post_id}")

    def lookup(self, payload: Payload, delivery_id: str) -> Receipt | None:
        """The page's recent post with exactly our text, if there is one.

        Only posts made after our last attempt count (so a weekly repeat with the same text
        does not settle on last week's post), when the attempt's time is known: from this
        process, or from the journal when it keeps details. Otherwise the newest post with
        our text counts.
        """
        return self._lookup(payload, delivery_id, None)

    def _lookup(
        self, payload: Payload, delivery_id: str, since: datetime | None
    ) -> Receipt | None:
        if self.outbox():
            return None
        self._require_token()
        since = since or self._attempts.get(delivery_id)
        ours = _normalize(_text(payload))
        if not ours:
            return None  # an empty caption matches anything: cannot tell
        graph, session = self._graph()
        log.info("%s: looking for %s among the page's recent posts", self.channel.name, delivery_id)
        try:
            result = graph.get_connections(
                self.settings.page_id,
                "posts",
                fields="id,message,created_time,permalink_url",
                limit=LOOKUP_LIMIT,
            )
        except Exception as exc:  # sorted like a post; a failed look is never "not found"
            err = self._sort(exc, session, payload, delivery_id, looking=True)
            raise err from self._safe_cause(exc)
        for post in result.get("data", []) if isinstance(result, dict) else []:
            if _normalize(post.get("message", "")) != ours:
                continue
            created = _parse_time(post.get("created_time"))
            if since is not None and created is not None and created < since - LOOKUP_SKEW:
                continue
            post_id = str(post["id"])
            url = post.get("permalink_url") or f"https://www.facebook.com/{post_id}"
            log.info("%s: %s is on the page as %s", self.channel.name, delivery_id, post_id)
            note = "found on the page after an uncertain attempt"
            return Receipt(external_id=post_id, url=url, note=note)
        return None

    # -- checking (samverkan doctor, the daemon's checks ahead) ---------------------------
    def check(self) -> list[CheckResult]:
        """Read-only: the token is set, valid, the configured page's, may post, and when it
        expires if Facebook says. Nothing is posted.

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
        ch, page, env = self.channel.name, self.settings.page_id, self._env()
        outbox = self.channel.outbox(self.settings.outbox)
        if not self.settings.token:
            return [CheckResult.warn(
                "token", f"writes posts to {outbox} (no token configured)",
                f"to post on page {page}, add token: ${{NAME}} to the channel in config.yaml "
                "and set that variable to the page token",
            )]
        token = self._token()
        if token is None:
            return [CheckResult.fail(
                "token", f"{env} is not set in the daemon's environment: posting to page {page} would fail",
                f"set {env} to the page token of page {page}, or remove token: from channel {ch} "
                "in config.yaml to write posts to the outbox",
            )]
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
        try:
            with _scrubbed_logs(token):
                answer = graph.request(f"{graph.version}/debug_token", {"input_token": token})
        except Exception as exc:
            failure = self._check_failure(exc, session, "permissions")
            results.append(CheckResult.warn(
                "permissions",
                f"could not read the token's permissions and expiry ({failure.message})",
                "look the token up at https://developers.facebook.com/tools/debug/accesstoken/",
            ))
            return results
        data = answer.get("data") if isinstance(answer, dict) else None
        results += self._check_token_data(data if isinstance(data, dict) else {})
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
        out.append(self._check_expiry(data, renew))
        return out

    def _check_expiry(self, data: dict[str, Any], renew: str) -> CheckResult:
        now = datetime.now(timezone.utc)
        ends = []
        for key, what in (("expires_at", "the token expires"), ("data_access_expires_at", "its data access ends")):
            stamp = _int(data.get(key))
            if stamp:  # 0 or missing: never
                ends.append((datetime.fromtimestamp(stamp, timezone.utc), what))
        if not ends:
            return CheckResult.ok("expiry", "the token does not expire")
        when, what = min(ends)
        shown = when.strftime("%Y-%m-%d %H:%M UTC")
        if when <= now:
            return CheckResult.fail("expiry", f"the page token for {self.channel.name} has expired ({what} {shown})", renew)
        if when - now < EXPIRY_WARNING:
            return CheckResult.warn("expiry", f"{what} {shown}, in {_days(when - now)}", renew + " before then")
        return CheckResult.ok("expiry", f"{what} {shown}")

    def _check_failure(self, exc: BaseException, session: Any, what: str) -> CheckResult:
        """A failed read sorted like a failed post, worded for a check."""
        import facebook
        import requests

        error = getattr(exc, "result", None)
        if isinstance(exc, facebook.GraphAPIError) and isinstance(error, dict) and isinstance(error.get("error"), dict):
            status = getattr(session.last_response, "status_code", None)
            err = self._sort_graph_error(error["error"], status, Payload({}), "", looking=True)
            message = str(err).replace("looking for the post", "checking the token")
            if not isinstance(err, PermanentError):
                return CheckResult.warn(what, message, "run the check again later")
            code = _int(error["error"].get("code"))
            if code == TOKEN or code == PERMISSION or (code is not None and 200 <= code <= 299):
                return CheckResult.fail(what, message)  # already says what to do
            said = self._scrub(str(error["error"].get("message") or "no message"))
            return CheckResult.fail(
                what, f'Facebook refused to check the token of {self.channel.name} ("{said}", code {code})',
                "look the token up at https://developers.facebook.com/tools/debug/accesstoken/",
            )
        if isinstance(exc, requests.exceptions.RequestException):
            return CheckResult.fail(
                what, f"cannot reach {self.settings.graph_url} ({type(exc).__name__})",
                "check the network and graph_url in config.yaml",
            )
        return CheckResult.fail(
            what, f"{self.settings.graph_url} did not answer like the Graph API ({type(exc).__name__}: "
            f"{self._scrub(str(exc))[:200]})", "check graph_url in config.yaml",
        )

    # -- internals -----------------------------------------------------------------------
    def _token(self) -> str | None:
        if not self.settings.token:
            return None
        return expand(self.settings.token, self.channel.env)

    def _env(self) -> str:
        return env_name(self.settings.token) or "the variable named by `token:` in config.yaml"

    def _require_token(self) -> str:
        """The page token; PermanentError when config.yaml names a variable that is unset."""
        token = self._token()
        if token is None:
            raise PermanentError(
                f"{self._env()} is not set in the daemon's environment: set it, or remove token: "
                f"from channel {self.channel.name} in config.yaml to write posts to the outbox"
            )
        return token

    def _relative(self, path: Path) -> str:
        # normpath, not resolve(): the same answer here without a stat per path part
        root = Path(os.path.normpath(self.channel.root.absolute()))
        try:
            return Path(os.path.normpath(path.absolute())).relative_to(root).as_posix()
        except ValueError:
            return str(path)

    def _graph(self) -> tuple[Any, Any]:
        """A GraphAPI for this channel, and the session it talks through."""
        import facebook

        session = _session_class()(self.settings.graph_url)
        graph = facebook.GraphAPI(
            access_token=self._token(), timeout=self.settings.timeout, session=session
        )
        # The SDK only accepts versions up to 3.1 in its constructor; the attribute is
        # what it puts in every path, so a current version is set here.
        graph.version = self.settings.api_version
        return graph, session

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

    def _sort(
        self,
        exc: BaseException,
        session: Any,
        payload: Payload,
        delivery_id: str,
        looking: bool = False,
    ) -> Exception:
        """The error to raise for ``exc``, a failure of facebook-sdk or of requests."""
        import facebook
        import requests

        ch = self.channel.name
        what = "looking for the post" if looking else "posting"
        maybe = _maybe(looking)
        status = getattr(session.last_response, "status_code", None)
        if isinstance(exc, requests.exceptions.ConnectTimeout) or (
            isinstance(exc, requests.exceptions.ConnectionError) and _nothing_sent(exc)
        ):
            return TransientError(
                f"{ch}: cannot reach {self.settings.graph_url} ({type(exc).__name__}); "
                "nothing was sent"
            )
        if isinstance(exc, requests.exceptions.RequestException):
            # Read timeout, connection reset after sending: Facebook may have posted it.
            if isinstance(exc, requests.exceptions.Timeout):
                detail = f"no answer within {self.settings.timeout:g}s"
            else:
                detail = f"the connection broke ({type(exc).__name__})"
            return maybe(f"{ch}: {what}: {detail}")
        error = getattr(exc, "result", None)
        if isinstance(exc, facebook.GraphAPIError) and isinstance(error, dict) and isinstance(
            error.get("error"), dict
        ):
            return self._sort_graph_error(error["error"], status, payload, delivery_id, looking)
        if isinstance(exc, (facebook.GraphAPIError, KeyError, ValueError)):
            # facebook-sdk could not read the answer: an HTML error page, no content type...
            if status == 429:
                return TransientError(f"{ch}: {what}: HTTP 429 (too many requests)")
            if status is not None and 400 <= status < 500:
                # Refused before any post was made; no Graph API answers like this.
                return PermanentError(
                    f"{ch}: {what}: {self.settings.graph_url} answered HTTP {status} with "
                    "something that is not the Graph API's JSON: check graph_url in config.yaml"
                )
            return maybe(
                f"{ch}: {what}: Facebook answered HTTP {status} with something that is not JSON"
            )
        return maybe(f"{ch}: {what}: {type(exc).__name__}: {self._scrub(str(exc))}")

    def _sort_graph_error(
        self,
        error: dict[str, Any],
        status: int | None,
        payload: Payload,
        delivery_id: str,
        looking: bool,
    ) -> Exception:
        ch = self.channel.name
        what = "looking for the post" if looking else "posting"
        maybe = _maybe(looking)
        env = self._env()
        code = _int(error.get("code"))
        subcode = _int(error.get("error_subcode"))
        said = self._scrub(str(error.get("message") or "no message"))
        quoted = f'Facebook says: "{said}"'
        delivery = delivery_id or "DELIVERY"
        err: Exception
        if code in MAYBE_DONE:
            err = maybe(f"{ch}: {what}: {quoted} (code {code})")
        elif code in THROTTLED:
            err = TransientError(f"{ch}: Facebook limits the calls for now ({quoted}, code {code})")
        elif code == BLOCKED:
            err = ChannelBlocked(
                f"Facebook has temporarily blocked {ch} from posting ({quoted}): publishing "
                f"on this channel is held; look at the page's notices in Meta Business Suite "
                f"and publish again when the block is lifted"
            )
        elif code == TOKEN:
            if subcode == TOKEN_EXPIRED:
                err = PermanentError(
                    f"the page token for {ch} has expired: create a new one and set {env}"
                )
            elif subcode == TOKEN_PASSWORD_CHANGED:
                err = PermanentError(
                    f"the page token for {ch} stopped working because the password was "
                    f"changed: create a new one and set {env}"
                )
            else:
                err = PermanentError(
                    f"the page token for {ch} is not valid ({quoted}): create a new one and "
                    f"set {env}"
                )
        elif code == PERMISSION or (code is not None and 200 <= code <= 299):
            err = PermanentError(
                f"the page token for {ch} may not post on page {self.settings.page_id} "
                f"({quoted}): create a page token with the pages_manage_posts and "
                f"pages_read_engagement permissions for this page and set {env}"
            )
        elif code == INVALID_PARAMETER:
            err = PermanentError(
                f"Facebook rejected the post to {ch} ({quoted}): check page_id "
                f"{self.settings.page_id} in config.yaml and the message's link and image"
            )
        elif code == DUPLICATE:
            err = PermanentError(
                f"Facebook refused the post to {ch} as a duplicate of a recent post "
                f"({quoted}): if that post is this message, settle it with `samverkan "
                f"resolve {delivery} --as published`; otherwise change the text"
            )
        elif code == LINK_ERROR:
            link = payload.fields.get("params", {}).get("link", "the link")
            err = PermanentError(
                f"Facebook could not use {link} in the post to {ch} ({quoted}): make sure "
                f"the page opens publicly, then publish again"
            )
        elif error.get("is_transient") is True and not (status and status >= 500):
            err = TransientError(f"{ch}: Facebook asks to try again later ({quoted}, code {code})")
        elif status is not None and status >= 500:
            err = maybe(f"{ch}: {what}: Facebook answered HTTP {status} ({quoted}, code {code})")
        else:
            trace = error.get("fbtrace_id")
            err = PermanentError(
                f"Facebook refused the post to {ch} ({quoted}, code {code}"
                + (f"/{subcode}" if subcode else "")
                + (f", fbtrace_id {trace}" if trace else "")
                + ")"
            )
        for name, value in (("code", code), ("subcode", subcode), ("http_status", status)):
            setattr(err, name, value)
        return err

    def _safe_cause(self, exc: BaseException) -> BaseException | None:
        """``exc`` to chain to our error, or None if its traceback would show the token."""
        import traceback

        token = self._token()
        if token and token in "".join(traceback.format_exception(exc)):
            return None
        return exc

    def _scrub(self, text: str) -> str:
        """``text`` without the token, should Facebook or a library ever echo it."""
        token = self._token()
        return text.replace(token, "***") if token else text

    def _write_outbox(self, payload: Payload, delivery_id: str) -> Receipt:
        folder = self.channel.path(self.channel.outbox(self.settings.outbox))
        target = folder / f"{_safe_name(delivery_id)}.json"
        data = payload.files.get("post.json") or (
            json.dumps(payload.fields, indent=2, ensure_ascii=False) + "\n"
        ).encode()
        write_atomic(target, data, durable=self.channel.durable)
        shown = self._relative(target)
        note = f"no token for {self.channel.name} (no token in config.yaml): wrote {shown}"
        log.info("%s", note)
        return Receipt(note=note)


@functools.cache
def _session_class() -> type:
    """A requests.Session that points facebook-sdk at a base URL and keeps tokens out of URLs.

    facebook-sdk builds every URL from its module-level ``FACEBOOK_GRAPH_URL``; changing
    that would redirect every GraphAPI in the process. Its constructor takes a ``session``
    instead, so each publisher passes one that rewrites the prefix to the channel's
    ``graph_url``: the SDK's own request and answer handling stay in use, and other
    instances and threads are untouched. The session also moves a token the SDK put in the
    query string (it does for GETs, and for a POST without fields) into the POST body or
    an ``Authorization: Bearer`` header, and remembers the last response so an error can
    be sorted by its HTTP status (the SDK drops it).
    """
    import facebook
    import requests

    class GraphSession(requests.Session):
        def __init__(self, base_url: str) -> None:
            super().__init__()
            self.base_url = base_url
            self.last_response: requests.Response | None = None
            self.headers["User-Agent"] = f"samverkan facebook-sdk/{facebook.__version__}"

        def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> Any:
            prefix = facebook.FACEBOOK_GRAPH_URL
            if url.startswith(prefix):
                url = self.base_url + url[len(prefix) :]
            params = dict(kwargs.get("params") or {})
            token = params.pop("access_token", None)
            if token is not None:
                kwargs["params"] = params
                if method.upper() == "POST":
                    kwargs["data"] = {**(kwargs.get("data") or {}), "access_token": token}
                else:
                    headers = dict(kwargs.get("headers") or {})
                    headers["Authorization"] = f"Bearer {token}"
                    kwargs["headers"] = headers
            self.last_response = None
            response = super().request(method, url, *args, **kwargs)
            self.last_response = response
            return response

    return GraphSession


@contextmanager
def _scrubbed_logs(secret: str) -> Iterator[None]:
    """While it lasts, urllib3's log records show ``***`` instead of ``secret`` (for the one
    call that must carry a token in its URL)."""

    def scrub(record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = record.msg.replace(secret, "***")
        if isinstance(record.args, tuple):
            record.args = tuple(a.replace(secret, "***") if isinstance(a, str) else a for a in record.args)
        return True

    loggers = [logging.getLogger(n) for n in ("urllib3", "urllib3.connectionpool", "urllib3.util.retry")]
    for lg in loggers:
        lg.addFilter(scrub)
    try:
        yield
    finally:
        for lg in loggers:
            lg.removeFilter(scrub)


def _days(delta: timedelta) -> str:
    if delta.days >= 2:
        return f"{delta.days} days"
    return "1 day" if delta.days == 1 else "less than a day"


def _maybe(looking: bool) -> Callable[[str], TransientError]:
    """How to report a failure that may have left a post: uncertain when posting; when only
    looking for the post, plainly transient (look again later)."""

    def make(message: str) -> TransientError:
        if looking:
            return TransientError(message)
        return UncertainError(f"{message}; the post may exist")

    return make


def _nothing_sent(exc: BaseException) -> bool:
    """True when the connection was never made (refused, no route, name not found)."""
    from urllib3.exceptions import NameResolutionError, NewConnectionError

    seen: set[int] = set()
    todo: list[Any] = [exc]
    while todo:
        item = todo.pop()
        if item is None or id(item) in seen:
            continue
        seen.add(id(item))
        if isinstance(item, (NewConnectionError, NameResolutionError)):
            return True
        if isinstance(item, BaseException):
            todo.extend([item.__cause__, item.__context__, getattr(item, "reason", None)])
            todo.extend(a for a in item.args if isinstance(a, BaseException))
    return False


def _attempt_time(journal: Journal) -> datetime | None:
    """When the attempt in flight began, if the journal has it."""
    try:
        when = datetime.fromisoformat(str(journal.part_detail("post")))
    except ValueError:
        return None
    return when if when.tzinfo else when.replace(tzinfo=timezone.utc)


def _text(payload: Payload) -> str:
    params = payload.fields.get("params", {})
    return str(params.get("message") or params.get("caption") or "")


def _normalize(text: str) -> str:
    # Facebook may store \r\n as \n and trim the ends; the words must be the same.
    return text.replace("\r\n", "\n").strip()


def _parse_time(value: Any) -> datetime | None:
    try:
        return datetime.strptime(str(value), "%Y-%m-%dT%H:%M:%S%z")
    except ValueError:
        return None


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _safe_name(delivery_id: str) -> str:
    """A file name for a delivery id: ``c/m/ch@2018-08-20`` → ``c--m--ch_2018-08-20``."""
    name = delivery_id.replace("/", "--").replace("@", "_")
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name).lstrip(".")
