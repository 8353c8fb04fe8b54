"""Meta's Graph API, shared by the facebook and instagram publishers (a helper module, not
a publisher: it registers nothing).

What both need and neither should copy (the table of Graph API versions is beside it, in
publishers/graphversions.py): facebook-sdk's GraphAPI pointed at a channel's ``graph_url``
through a session that keeps the token out of URLs, asks for Swedish error texts and
remembers what Meta answered (the ``facebook-api-version`` header, the rate-limit usage); the sorting of
failures into transient, uncertain and permanent; the token from the environment; the
outbox when no token is configured.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import traceback
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable, ClassVar, Iterator, Mapping

from .base import (
    Channel,
    CheckResult,
    Journal,
    OutcomeUnknown,
    Payload,
    PermanentError,
    Receipt,
    TransientError,
    UncertainError,
    env_name,
    expand,
    write_atomic,
)
from .graphversions import recommended_version, version_end, version_notice

log = logging.getLogger(__name__)

# Swedish texts in error_user_msg and error_user_title ("The language of the message is
# based on the locale of the API request"):
# https://developers.facebook.com/docs/graph-api/guides/error-handling
LOCALE = "sv_SE"

# -- error codes (https://developers.facebook.com/docs/graph-api/guides/error-handling) ----
THROTTLED = frozenset({4, 17, 32, 341, 613, 80001})  # app, user, page, app-limit, call rate, pages BUC
MAYBE_DONE = frozenset({1, 2})  # unknown error, service unavailable: the post may exist
BLOCKED = 368  # temporarily blocked for policy reasons
TOKEN = 190
TOKEN_EXPIRED, TOKEN_PASSWORD_CHANGED = 463, 460
# "The user needs to log in at https://www.facebook.com or https://m.facebook.com to
# correct an issue" (459, checkpointed); 464: the session user is not confirmed. Neither
# is mended by a new token: a person must log in on facebook.com.
CHECKPOINT, UNCONFIRMED = 459, 464
PERMISSION = 10  # and 200-299
INVALID_PARAMETER = 100
DUPLICATE = 506
LINK_ERROR = 1609005

# X-Business-Use-Case-Usage: page tokens are under Business Use Case rate limits; each
# answer says how much of them is used (percent) and, when throttled, in how many minutes
# access returns (estimated_time_to_regain_access):
# https://developers.facebook.com/docs/graph-api/overview/rate-limiting/
BUC_HEADER = "x-business-use-case-usage"
USAGE_WARNING = 75  # percent
# A token that expires sooner than this is reported (doctor, the daemon's daily check).
EXPIRY_WARNING = timedelta(days=7)


# -- rate-limit usage -----------------------------------------------------------------------
@dataclass(frozen=True)
class Usage:
    """What X-Business-Use-Case-Usage says: the highest share used, and the wait."""

    percent: int
    regain: timedelta | None  # None: Meta gave no wait (or 0: not throttled)


def usage(headers: Mapping[str, str] | None) -> Usage | None:
    """The usage in an answer's headers; None when there is none (Meta sends it only once
    enough calls were made) or it cannot be read."""
    raw = (headers or {}).get(BUC_HEADER)
    if not raw:
        return None
    try:
        data = json.loads(raw)
    except ValueError:
        return None
    percent, regain = 0, 0
    entries = [e for v in data.values() if isinstance(v, list) for e in v] if isinstance(data, dict) else []
    for entry in entries:
        if not isinstance(entry, dict):
            continue
        for key in ("call_count", "total_cputime", "total_time"):
            percent = max(percent, to_int(entry.get(key)) or 0)
        regain = max(regain, to_int(entry.get("estimated_time_to_regain_access")) or 0)
    if not entries:
        return None
    return Usage(percent, timedelta(minutes=regain) if regain > 0 else None)


# -- the settings both publishers share -------------------------------------------------------
def http_url(value: str) -> str:
    """A ``graph_url`` setting: an http(s) URL, ending in a slash."""
    if not value.startswith(("https://", "http://")):
        raise ValueError("must be an http(s) URL, e.g. https://graph.facebook.com/")
    return value if value.endswith("/") else value + "/"


class GraphPublisher:
    """The machinery of a publisher on the Graph API. A subclass sets ``settings`` (with
    ``token``, ``api_version``, ``graph_url``, ``timeout``, ``outbox``) and says what it
    posts to in the words below."""

    what: ClassVar[str] = "page"
    """What is posted to, for people: "page" (Facebook), "Instagram account"."""
    token_kind: ClassVar[str] = "page token"
    permissions: ClassVar[str] = "pages_manage_posts and pages_read_engagement"
    """The permissions the token needs, for error messages."""
    site: ClassVar[str] = "Facebook"
    target_setting: ClassVar[str] = "page_id"
    """The setting that names what is posted to (for error messages)."""

    def __init__(self, channel: Channel) -> None:
        self.channel = channel
        self.settings: Any = channel.settings
        self.served_version: str | None = None
        """The ``facebook-api-version`` Meta answered the last call with."""
        self.last_usage: Usage | None = None
        """The rate-limit usage Meta reported with the last call that had it."""
        # delivery id → when we last started sending it; bounds what a look may match.
        self._attempts: dict[str, datetime] = {}

    # -- the target and the token ----------------------------------------------------------
    @property
    def target_id(self) -> str:
        raise NotImplementedError

    @property
    def target(self) -> str:
        return f"{self.what} {self.target_id}"

    @staticmethod
    def outputs(settings: Any) -> list[tuple[str, str]]:
        """What the channel writes without a token: its outbox."""
        return [("outbox", settings.outbox)] if getattr(settings, "outbox", None) else []

    def outbox(self) -> bool:
        # Only when config.yaml gives no token: a token that names an unset variable is a
        # mistake in the daemon's environment, and quietly writing files would hide it.
        return not self.settings.token

    def _token(self) -> str | None:
        if not self.settings.token:
            return None
        return expand(self.settings.token, self.channel.env)

    def _env(self) -> str:
        return env_name(self.settings.token) or "the variable named by `token:` in config.yaml"

    def _require_token(self) -> str:
        """The token; PermanentError when config.yaml names a variable that is unset."""
        token = self._token()
        if token is None:
            raise PermanentError(
                f"{self._env()} is not set in the daemon's environment: set it, or remove token: "
                f"from channel {self.channel.name} in config.yaml to write posts to the outbox"
            )
        return token

    # -- at most once ------------------------------------------------------------------------
    def _lookup(self, payload: Payload, delivery_id: str, since: datetime | None) -> Receipt | None:
        """Our post, if it was made since ``since``; None when surely not; OutcomeUnknown
        when the look cannot tell. Each publisher looks where its platform lists posts."""
        raise NotImplementedError

    def look_first(self, payload: Payload, delivery_id: str, journal: Journal) -> Receipt | None:
        """After an attempt that may have posted (the journal's ``post`` part in flight, or
        sent but the delivery not recorded as published): the post if it is there, None
        when it surely is not and may be sent."""
        previous = journal.part_state("post")
        if previous not in ("in_flight", "sent"):
            return None
        try:
            found = self._lookup(payload, delivery_id, attempt_time(journal.part_detail("post")))
        except OutcomeUnknown:
            if previous != "sent":
                raise
            found = None
        if found is not None:
            journal.set_part("post", "sent", found.external_id)
            return found
        if previous == "sent":
            # Not "settle it with resolve": a failed delivery cannot be resolved, and
            # resolve --as failed is what led here. --force forgets the parts.
            raise PermanentError(
                f"{self.channel.name}: {delivery_id} was posted earlier (post "
                f"{journal.part_detail('post') or '?'}) but the post is no longer among the "
                f"{self.what}'s recent posts: check the {self.what}; if it is not there and should be, "
                f"post it again with `samverkan publish {delivery_id} --force`"
            )
        return None

    def send_once(self, delivery_id: str, journal: Journal, send: Callable[[], str]) -> str:
        """``send()`` (the one call that makes the post public; it returns the post's id),
        marked in flight in the journal first, and its outcome recorded."""
        started = datetime.now(timezone.utc)
        self._attempts[delivery_id] = started
        journal.set_part("post", "in_flight", started.isoformat())
        try:
            post_id = send()
        except UncertainError:
            raise  # stays in_flight: the next attempt looks first
        except TransientError as exc:
            journal.set_part("post", "deferred", str(exc))
            raise
        except PermanentError as exc:
            journal.set_part("post", "refused", str(exc))
            raise
        journal.set_part("post", "sent", post_id)
        log.info("%s: posted %s as %s", self.channel.name, delivery_id, post_id)
        return post_id

    def served_note(self) -> str | None:
        """A receipt's note when Meta served another version than asked for."""
        served = self.served_version
        if served and served != self.settings.api_version:
            return f"Meta answered with Graph API {served}, not {self.settings.api_version}: {self.version_fix(served)}"
        return None

    def token_setup_checks(self) -> list[CheckResult]:
        """``doctor``'s word when no call can be made: no token configured (the outbox), or
        its variable unset. Empty when a token is there to try."""
        ch, env, target, kind = self.channel.name, self._env(), self.target, self.token_kind
        if not self.settings.token:
            return [CheckResult.warn(
                "token", f"writes posts to {self.channel.outbox(self.settings.outbox)} (no token configured)",
                f"to post on {target}, add token: ${{NAME}} to the channel in config.yaml "
                f"and set that variable to the {kind}",
            )]
        if self._token() is None:
            return [CheckResult.fail(
                "token", f"{env} is not set in the daemon's environment: posting to {target} would fail",
                f"set {env} to the {kind} of {target}, or remove token: from channel {ch} "
                "in config.yaml to write posts to the outbox",
            )]
        return []

    def unknown(self, delivery_id: str, why: str) -> OutcomeUnknown:
        """The delivery is for a person to settle: looking could not tell (``why``)."""
        return OutcomeUnknown(
            f"{self.channel.name}: cannot tell whether {delivery_id} went out ({why}): look at the {self.what}; "
            f"settle it with `samverkan resolve {delivery_id} --as published` if the post is there, or "
            f"`--as failed` and then `samverkan publish {delivery_id} --force` if it is not")

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

        session = _session_class()(self.settings.graph_url, self._seen)
        graph = facebook.GraphAPI(
            access_token=self._token(), timeout=self.settings.timeout, session=session
        )
        # The SDK only accepts versions up to 3.1 in its constructor; the attribute is
        # what it puts in every path, so a current version is set here.
        graph.version = self.settings.api_version
        return graph, session

    def _seen(self, response: Any) -> None:
        """Every answer from Meta: the version it served, and how close the limits are."""
        served = response.headers.get("facebook-api-version")
        if served:
            self.served_version = served
            if served != self.settings.api_version:
                log.warning(
                    "%s: asked for Graph API %s, Meta answered with %s: %s", self.channel.name,
                    self.settings.api_version, served, self.version_fix(served),
                )
        used = usage(response.headers)
        if used is not None:
            self.last_usage = used
        if used is not None and used.percent > USAGE_WARNING:
            log.warning(
                "%s: %d %% of Meta's rate limit for this %s is used (X-Business-Use-Case-Usage); "
                "at 100 %% calls are refused for a while", self.channel.name, used.percent, self.what,
            )

    def version_fix(self, served: str) -> str:
        asked = self.settings.api_version
        ends = version_end(asked)
        today = self.channel.clock().astimezone(timezone.utc).date()
        why = f"{asked} ended on {ends.isoformat()}" if ends and ends < today else f"Meta no longer serves {asked}"
        better = recommended_version(self.channel.clock())
        return (f"{why}; set api_version: {better if better != asked else served} in config.yaml "
                "(see https://developers.facebook.com/docs/graph-api/changelog/versions/)")

    def version_checks(self, now: datetime | None = None) -> list[CheckResult]:
        """``doctor``: the configured version lives on, and is the one Meta answers with
        (read from the last answer); a failure for each that is not so."""
        now = now or datetime.now(timezone.utc)
        said = version_notice(self.settings.api_version, now)
        out = [CheckResult.fail("api version", said, "change api_version in config.yaml")] if said else []
        if self.served_version and self.served_version != self.settings.api_version:
            out.append(CheckResult.fail(
                "api version",
                f"asked for Graph API {self.settings.api_version}, Meta answered with {self.served_version}",
                self.version_fix(self.served_version),
            ))
        return out  # (nothing when all is well: the token's lines say the channel works)

    def usage_checks(self) -> list[CheckResult]:
        """``doctor``: a warning when the last answer's rate-limit usage was above 75 %."""
        used = self.last_usage
        if used is None or used.percent <= USAGE_WARNING:
            return []
        return [CheckResult.warn(
            "rate limit", f"{used.percent} % of Meta's rate limit for this {self.what} is used "
            "(X-Business-Use-Case-Usage)", "publish less often from other tools on this account, or wait")]

    def token_details(self, graph: Any, session: Any, token: str) -> dict[str, Any] | CheckResult:
        """What ``/debug_token`` says of the token (scopes, targets, expiry), or a warning
        where it cannot be read. Meta documents it for app tokens, but a token may inspect
        itself; it wants the token in its query string, so during that call urllib3's
        DEBUG lines (which show URLs) are scrubbed of it."""
        try:
            with scrubbed_logs(token):
                answer = graph.request(f"{graph.version}/debug_token", {"input_token": token})
        except Exception as exc:
            failure = self._check_failure(exc, session, "permissions")
            return CheckResult.warn(
                "permissions",
                f"could not read the token's permissions and expiry ({failure.message})",
                "look the token up at https://developers.facebook.com/tools/debug/accesstoken/",
            )
        data = answer.get("data") if isinstance(answer, dict) else None
        return data if isinstance(data, dict) else {}

    def expiry_check(self, data: dict[str, Any], renew: str) -> CheckResult:
        """When the token (or its data access) ends, from ``/debug_token``'s answer."""
        now = self.channel.clock()
        ends = []
        for key, what in (("expires_at", "the token expires"), ("data_access_expires_at", "its data access ends")):
            stamp = to_int(data.get(key))
            if stamp:  # 0 or missing: never
                ends.append((datetime.fromtimestamp(stamp, timezone.utc), what))
        if not ends:
            return CheckResult.ok("expiry", "the token does not expire")
        when, what = min(ends)
        shown = when.strftime("%Y-%m-%d %H:%M UTC")
        if when <= now:
            return CheckResult.fail("expiry", f"the {self.token_kind} for {self.channel.name} has expired ({what} {shown})", renew)
        if when - now < EXPIRY_WARNING:
            return CheckResult.warn("expiry", f"{what} {shown}, in {days(when - now)}", renew + " before then")
        return CheckResult.ok("expiry", f"{what} {shown}")

    # -- sorting failures ------------------------------------------------------------------
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
            # Read timeout, connection reset after sending: Meta may have posted it.
            if isinstance(exc, requests.exceptions.Timeout):
                detail = f"no answer within {self.settings.timeout:g}s"
            else:
                detail = f"the connection broke ({type(exc).__name__})"
            return maybe(f"{ch}: {what}: {detail}")
        error = getattr(exc, "result", None)
        if isinstance(exc, facebook.GraphAPIError) and isinstance(error, dict) and isinstance(
            error.get("error"), dict
        ):
            headers = getattr(session.last_response, "headers", None)
            return self._sort_graph_error(error["error"], status, payload, delivery_id, looking, headers)
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
                f"{ch}: {what}: {self.site} answered HTTP {status} with something that is not JSON"
            )
        return maybe(f"{ch}: {what}: {type(exc).__name__}: {self._scrub(str(exc))}")

    def _sort_graph_error(
        self,
        error: dict[str, Any],
        status: int | None,
        payload: Payload,
        delivery_id: str,
        looking: bool,
        headers: Mapping[str, str] | None = None,
    ) -> Exception:
        ch, site, kind, target = self.channel.name, self.site, self.token_kind, self.target
        what = "looking for the post" if looking else "posting"
        maybe = _maybe(looking)
        env = self._env()
        code = to_int(error.get("code"))
        subcode = to_int(error.get("error_subcode"))
        said = self._scrub(str(error.get("message") or "no message"))
        # error_user_msg is written for people, in the locale asked for (sv_SE): shown
        # beside the developer's message when there is one.
        user_msg = self._scrub(str(error.get("error_user_msg") or "")).strip()
        quoted = f'{site} says: "{said}"' + (f' ("{user_msg}")' if user_msg and user_msg != said else "")
        delivery = delivery_id or "DELIVERY"
        err: Exception
        if code in MAYBE_DONE:
            err = maybe(f"{ch}: {what}: {quoted} (code {code})")
        elif code in THROTTLED:
            used = usage(headers)
            if used is not None and used.regain is not None:
                minutes = int(used.regain.total_seconds() // 60)
                err = TransientError(
                    f"{ch}: {site} limits the calls for now ({quoted}, code {code}); Meta says "
                    f"access returns in {minutes} minute{'s' if minutes != 1 else ''}"
                )
                err.retry_after = used.regain
            else:
                err = TransientError(f"{ch}: {site} limits the calls for now ({quoted}, code {code})")
        elif code == BLOCKED:
            err = ChannelBlocked(
                f"{site} has temporarily blocked {ch} from posting ({quoted}): publishing "
                f"on this channel is held; look at the notices in Meta Business Suite "
                f"and publish again when the block is lifted"
            )
        elif subcode in (CHECKPOINT, UNCONFIRMED):
            err = PermanentError(
                f"{site} wants the person whose account made the {kind} for {ch} to log in on "
                f"https://www.facebook.com and do what it asks ({quoted}): a new token does "
                f"not help until then; publish again afterwards"
            )
        elif code == TOKEN:
            if subcode == TOKEN_EXPIRED:
                err = PermanentError(f"the {kind} for {ch} has expired: create a new one and set {env}")
            elif subcode == TOKEN_PASSWORD_CHANGED:
                err = PermanentError(
                    f"the {kind} for {ch} stopped working because the password was "
                    f"changed: create a new one and set {env}"
                )
            else:
                err = PermanentError(f"the {kind} for {ch} is not valid ({quoted}): create a new one and set {env}")
        elif code == PERMISSION or (code is not None and 200 <= code <= 299):
            err = PermanentError(
                f"the {kind} for {ch} may not post on {target} ({quoted}): create a {kind} with "
                f"the {self.permissions} permissions for this {self.what} and set {env}"
            )
        elif code == INVALID_PARAMETER:
            err = PermanentError(
                f"{site} rejected the post to {ch} ({quoted}): check {self.target_setting} "
                f"{self.target_id} in config.yaml and the message's link and image"
            )
        elif code == DUPLICATE:
            err = PermanentError(
                f"{site} refused the post to {ch} as a duplicate of a recent post "
                f"({quoted}): if that post is this message, settle it with `samverkan "
                f"resolve {delivery} --as published`; otherwise change the text"
            )
        elif code == LINK_ERROR:
            link = payload.fields.get("params", {}).get("link", "the link")
            err = PermanentError(
                f"{site} could not use {link} in the post to {ch} ({quoted}): make sure "
                f"the page opens publicly, then publish again"
            )
        elif error.get("is_transient") is True and not (status and status >= 500):
            err = TransientError(f"{ch}: {site} asks to try again later ({quoted}, code {code})")
        elif status is not None and status >= 500:
            err = maybe(f"{ch}: {what}: {site} answered HTTP {status} ({quoted}, code {code})")
        else:
            trace = error.get("fbtrace_id")
            err = PermanentError(
                f"{site} refused the post to {ch} ({quoted}, code {code}"
                + (f"/{subcode}" if subcode else "")
                + (f", fbtrace_id {trace}" if trace else "")
                + ")"
            )
        for name, value in (("code", code), ("subcode", subcode), ("http_status", status)):
            setattr(err, name, value)
        return err

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
            code = to_int(error["error"].get("code"))
            subcode = to_int(error["error"].get("error_subcode"))
            if code == TOKEN or code == PERMISSION or (code is not None and 200 <= code <= 299) \
                    or subcode in (CHECKPOINT, UNCONFIRMED):
                return CheckResult.fail(what, message)  # already says what to do
            said = self._scrub(str(error["error"].get("message") or "no message"))
            return CheckResult.fail(
                what, f'{self.site} refused to check the token of {self.channel.name} ("{said}", code {code})',
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

    def _safe_cause(self, exc: BaseException) -> BaseException | None:
        """``exc`` to chain to our error, or None if its traceback would show the token."""
        token = self._token()
        if token and token in "".join(traceback.format_exception(exc)):
            return None
        return exc

    def _scrub(self, text: str) -> str:
        """``text`` without the token, should Meta or a library ever echo it."""
        token = self._token()
        return text.replace(token, "***") if token else text

    def _write_outbox(self, payload: Payload, delivery_id: str) -> Receipt:
        folder = self.channel.path(self.channel.outbox(self.settings.outbox))
        target = folder / f"{safe_name(delivery_id)}.json"
        data = payload.files.get("post.json") or (
            json.dumps(payload.fields, indent=2, ensure_ascii=False) + "\n"
        ).encode()
        write_atomic(target, data, durable=self.channel.durable)
        shown = self._relative(target)
        note = f"no token for {self.channel.name} (no token in config.yaml): wrote {shown}"
        log.info("%s", note)
        return Receipt(note=note)


class ChannelBlocked(PermanentError):
    """Meta has blocked the page or account from posting for a while (code 368).

    Hold every delivery of this channel and alert a person; retrying only prolongs it.
    """

    hold_channel = True


@functools.cache
def _session_class() -> type:
    """A requests.Session that points facebook-sdk at a base URL and keeps tokens out of URLs.

    facebook-sdk builds every URL from its module-level ``FACEBOOK_GRAPH_URL``; changing
    that would redirect every GraphAPI in the process. Its constructor takes a ``session``
    instead, so each publisher passes one that rewrites the prefix to the channel's
    ``graph_url``: the SDK's own request and answer handling stay in use, and other
    instances and threads are untouched. The session also moves a token the SDK put in the
    query string (it does for GETs, and for a POST without fields) into the POST body or
    an ``Authorization: Bearer`` header, asks for Swedish error texts (``locale``), and
    remembers the last response so an error can be sorted by its HTTP status and headers
    (the SDK drops them); each response is shown to ``seen``.
    """
    import facebook
    import requests

    class GraphSession(requests.Session):
        def __init__(self, base_url: str, seen: Callable[[Any], None] | None = None) -> None:
            super().__init__()
            self.base_url = base_url
            self.seen = seen
            self.last_response: requests.Response | None = None
            self.headers["User-Agent"] = f"samverkan facebook-sdk/{facebook.__version__}"

        def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]  # (passes all on)
            prefix = facebook.FACEBOOK_GRAPH_URL
            if url.startswith(prefix):
                url = self.base_url + url[len(prefix) :]
            params = dict(kwargs.get("params") or {})
            token = params.pop("access_token", None)
            params.setdefault("locale", LOCALE)
            kwargs["params"] = params
            if token is not None:
                if method.upper() == "POST":
                    kwargs["data"] = {**(kwargs.get("data") or {}), "access_token": token}
                else:
                    headers = dict(kwargs.get("headers") or {})
                    headers["Authorization"] = f"Bearer {token}"
                    kwargs["headers"] = headers
            self.last_response = None
            response = super().request(method, url, *args, **kwargs)
            self.last_response = response
            if self.seen is not None:
                self.seen(response)
            return response

    return GraphSession


@contextmanager
def scrubbed_logs(secret: str) -> Iterator[None]:
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


def find_ours(result: Any, text_field: str, time_field: str, ours: str,
              start: datetime) -> tuple[dict[str, Any] | None, bool]:
    """In one answer of a list edge (newest first): the item with our text made since
    ``start``, and whether the list was read to the start of the window (no further page,
    or its oldest item is older than ``start``)."""
    items = result.get("data", []) if isinstance(result, dict) else []
    items = [i for i in items if isinstance(i, dict)] if isinstance(items, list) else []
    for item in items:
        if normalize(str(item.get(text_field) or "")) != ours:
            continue
        created = parse_time(item.get(time_field))
        if created is None or created >= start:
            return item, True
    paging = result.get("paging") if isinstance(result, dict) else None
    oldest = parse_time(items[-1].get(time_field)) if items else None
    read_all = not (isinstance(paging, dict) and paging.get("next")) or (oldest is not None and oldest < start)
    return None, read_all


def attempt_time(detail: str | None) -> datetime | None:
    """When the attempt in flight began, from its journal detail."""
    try:
        when = datetime.fromisoformat(str(detail))
    except ValueError:
        return None
    return when if when.tzinfo else when.replace(tzinfo=timezone.utc)


def normalize(text: str) -> str:
    # Meta may store \r\n as \n and trim the ends; the words must be the same.
    return text.replace("\r\n", "\n").strip()


def parse_time(value: Any) -> datetime | None:
    try:
        return datetime.strptime(str(value), "%Y-%m-%dT%H:%M:%S%z")
    except ValueError:
        return None


def to_int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def days(delta: timedelta) -> str:
    if delta.days >= 2:
        return f"{delta.days} days"
    return "1 day" if delta.days == 1 else "less than a day"


def safe_name(delivery_id: str) -> str:
    """A file name for a delivery id: ``c/m/ch@2018-08-20`` → ``c--m--ch_2018-08-20``."""
    name = delivery_id.replace("/", "--").replace("@", "_")
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name).lstrip(".")
