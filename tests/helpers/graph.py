"""A fake Facebook Graph API on 127.0.0.1, for tests of the facebook publisher and the daemon.

It speaks the Graph API's shapes closely enough for facebook-sdk and our publisher:

- ``POST /vX.Y/{page}/feed`` (form) → ``{"id": "{page}_{n}"}``;
- ``POST /vX.Y/{page}/photos`` (multipart, the image in ``source``) →
  ``{"id": "{photo}", "post_id": "{page}_{n}"}``;
- ``GET /vX.Y/{page}/feed`` and ``/posts`` → ``{"data": [...]}``, newest first, but ranked
  as Facebook's are: a post added with ``ranked_out=True`` is missing from them;
- ``GET /vX.Y/{page}/published_posts`` → every post the page made, newest first, from
  ``since`` (a Unix time), ``limit`` at a time with ``paging.next`` when more are left;
- ``GET /vX.Y/{page}/photos?type=uploaded`` → the page's uploaded photos (``name`` is the
  caption, ``page_story_id`` the post);
- the Instagram content publishing flow: ``POST /{ig-user}/media`` (``image_url``,
  ``caption``) → a container; ``GET /{container}?fields=status_code,status`` → its state,
  from :meth:`GraphServer.container_states` (FINISHED by default; stuck in IN_PROGRESS, or
  ending in ERROR); ``POST /{ig-user}/media_publish`` (``creation_id``) → the media;
  ``GET /{ig-user}/media`` → the account's media, newest first;
  ``GET /{ig-user}/content_publishing_limit`` → ``quota_usage`` of ``server.quota``;
- ``GET /vX.Y/{node}`` (``me``, a page id, ...) → the object in ``server.objects``.

Every answer carries ``facebook-api-version`` (the version asked for, or
``server.served_version``) and, when ``server.usage`` is set, ``X-Business-Use-Case-Usage``
(:func:`buc_usage`); :func:`throttled` is a BUC-throttled answer with the wait Meta gives.

Every request is recorded (:class:`Request`): method, path, version, query, form fields,
uploaded files, and where the access token travelled (body, query or header).

Replies can be scripted per request, in order (:meth:`GraphServer.script`): a Graph API
error with its HTTP status (:func:`graph_error`), an HTML 502 page (:func:`html_page`), a
reply that comes after the client has given up while the post *is* created (:func:`late`),
a dropped connection (:func:`drop`). More endpoints can be added with
:meth:`GraphServer.route`.

Tokens registered with :meth:`GraphServer.add_token` make the server answer as Facebook
does for them: ``GET /me`` gives the token's profile (a page token's /me is the page),
``GET /debug_token?input_token=`` its metadata (scopes, expiry), and an expired token is
refused with code 190/463 wherever it is used.

Use the ``graph_server`` fixture::

    from tests.helpers.graph import graph_server, graph_error  # noqa: F401 (fixture)

    def test_post(graph_server):
        graph_server.script(graph_error(190, "expired", subcode=463))
"""

from __future__ import annotations

import itertools
import json
import re
import socket
import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Iterator
from urllib.parse import parse_qsl, urlsplit

import pytest

_VERSIONED = re.compile(r"^/(v\d+\.\d+)(/.*)?$")


@dataclass
class Upload:
    filename: str | None
    content_type: str
    data: bytes


@dataclass
class Request:
    """One request as the server received it."""

    method: str
    path: str  # without the query string, e.g. /v25.0/123/feed
    version: str | None  # v25.0, or None when the path has no version
    node: str | None  # 123, me
    edge: str | None  # feed, photos, or None
    query: dict[str, str]
    form: dict[str, str]  # url-encoded or multipart text fields
    files: dict[str, Upload]
    headers: dict[str, str]
    body: bytes

    @property
    def token(self) -> str | None:
        """The access token, wherever it travelled."""
        auth = self.headers.get("authorization", "")
        if auth.lower().startswith(("bearer ", "oauth ")):
            return auth.split(None, 1)[1]
        return self.form.get("access_token") or self.query.get("access_token")

    @property
    def token_in(self) -> set[str]:
        """Where the token travelled: a subset of {"body", "query", "header"}."""
        where = set()
        if "access_token" in self.form:
            where.add("body")
        if "access_token" in self.query:
            where.add("query")
        if self.headers.get("authorization"):
            where.add("header")
        return where


@dataclass
class Reply:
    """A scripted reply. ``status=None`` means: the normal answer of the endpoint."""

    status: int | None = None
    body: bytes | None = None
    content_type: str = "application/json; charset=UTF-8"
    delay: float = 0.0  # seconds to wait before answering (the server is released on stop)
    drop: bool = False  # close the connection without an answer
    creates: bool | None = None  # create the post anyway? None: only on a normal answer
    method: str | None = None  # only for requests of this method (None: any)
    edge: str | None = None  # only for requests to this edge (None: any)
    headers: dict[str, str] = field(default_factory=dict)  # sent with the answer

    def matches(self, req: Request) -> bool:
        return (self.method is None or self.method == req.method) and (
            self.edge is None or self.edge == req.edge
        )


def graph_error(
    code: int,
    message: str = "An error occurred",
    *,
    subcode: int | None = None,
    status: int = 400,
    type: str = "OAuthException",
    is_transient: bool = False,
    creates: bool = False,
    method: str | None = "POST",
    user_msg: str | None = None,
    edge: str | None = None,
) -> Reply:
    """A Graph API error body, as Facebook sends it (to POSTs unless ``method`` says);
    ``user_msg`` is its ``error_user_msg`` (in the locale asked for)."""
    error: dict[str, Any] = {
        "message": message,
        "type": type,
        "code": code,
        "is_transient": is_transient,
        "fbtrace_id": f"AbCdEf{code}",
    }
    if subcode is not None:
        error["error_subcode"] = subcode
    if user_msg is not None:
        error["error_user_title"] = "Det gick inte"
        error["error_user_msg"] = user_msg
    return Reply(
        status=status,
        body=json.dumps({"error": error}).encode(),
        creates=creates,
        method=method,
        edge=edge,
    )


def buc_usage(percent: int, regain_minutes: int = 0, *, business: str = "112386409275163",
              type: str = "pages") -> dict[str, str]:  # noqa: A002 (Meta's field name)
    """The X-Business-Use-Case-Usage header as Meta sends it (percentages, minutes)."""
    entry = {"type": type, "call_count": percent, "total_cputime": max(percent - 10, 0),
             "total_time": max(percent - 5, 0), "estimated_time_to_regain_access": regain_minutes}
    return {"X-Business-Use-Case-Usage": json.dumps({business: [entry]})}


def throttled(regain_minutes: int, *, code: int = 80001, method: str | None = "POST") -> Reply:
    """A call refused by the Business Use Case rate limit, with the wait Meta gives."""
    reply = graph_error(code, "There have been too many calls to this Page account. Wait a bit and try again.",
                        method=method)
    reply.headers = buc_usage(100, regain_minutes)
    return reply


def html_page(status: int = 502, *, creates: bool = False, method: str | None = "POST") -> Reply:
    """A proxy's HTML error page instead of JSON."""
    body = (
        "<html><head><title>502 Bad Gateway</title></head>"
        "<body><h1>502 Bad Gateway</h1></body></html>"
    ).encode()
    return Reply(
        status=status, body=body, content_type="text/html", creates=creates, method=method
    )


def late(seconds: float = 10.0, *, method: str | None = "POST", edge: str | None = None) -> Reply:
    """The post is created, then the answer comes after ``seconds`` (past the client timeout);
    ``edge``: only for requests to it (``media_publish``)."""
    return Reply(delay=seconds, creates=True, method=method, edge=edge)


def drop(*, creates: bool = False, method: str | None = "POST") -> Reply:
    """The connection is closed after the request was read, without an answer."""
    return Reply(drop=True, creates=creates, method=method)


Handler = Callable[[Request], tuple[int, Any]]
"""A route's handler: the request → (HTTP status, JSON-able body)."""


class GraphServer:
    """The fake Graph API. ``url`` is the base URL to put in a channel's ``graph_url``."""

    def __init__(self, token: str | None = None) -> None:
        # The token the server accepts; None accepts any (but one must be sent to write).
        self.token = token
        self.requests: list[Request] = []
        self.posts: dict[str, list[dict[str, Any]]] = {}  # page id → posts, newest first
        self.objects: dict[str, dict[str, Any]] = {}  # node → object for GET /{node}
        self.tokens: dict[str, dict[str, Any]] = {}  # token → what add_token() said
        self._script: list[Reply] = []
        self._routes: list[tuple[str, re.Pattern[str], Handler]] = []
        self._ids = itertools.count(1001)
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self.clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc)
        self.served_version: str | None = None  # answer with this version, not the one asked
        self.usage: dict[str, str] | None = None  # headers from buc_usage(), on every answer
        self.ranked_out: set[str] = set()  # post ids /feed and /posts leave out
        self.photos: dict[str, list[dict[str, Any]]] = {}  # page id → uploaded photos, newest first
        self.containers: dict[str, dict[str, Any]] = {}  # container id → its state
        self.media: dict[str, list[dict[str, Any]]] = {}  # IG user id → published media, newest first
        self.quota = 0  # the IG user's content_publishing_limit quota_usage
        self._states: list[list[str]] = []  # the status codes of the next containers' polls
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    # -- life ----------------------------------------------------------------------------
    @property
    def port(self) -> int:
        return self._httpd.server_address[1]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    def start(self) -> GraphServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()  # releases late replies at once
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    # -- scripting -----------------------------------------------------------------------
    def script(self, *replies: Reply) -> None:
        """Queue replies; each is used once, by the first later request it matches."""
        with self._lock:
            self._script.extend(replies)

    def route(self, method: str, path_regex: str, handler: Handler) -> None:
        """Answer ``method`` requests whose path (after the version) matches, with ``handler``."""
        self._routes.append((method, re.compile(path_regex), handler))

    def add_token(
        self,
        token: str,
        *,
        profile_id: str,
        name: str = "Testsidan",
        type: str = "PAGE",  # noqa: A002 (Facebook's field name)
        scopes: tuple[str, ...] = ("pages_manage_posts", "pages_read_engagement", "pages_show_list"),
        expires_at: int = 0,
        data_access_expires_at: int = 0,
        expired: bool = False,
        granular_scopes: list[dict[str, Any]] | None = None,
    ) -> None:
        """Make the server know ``token``: ``/me`` answers ``{id: profile_id, name}``,
        ``/debug_token`` its metadata (``expires_at`` 0: never); ``expired`` → code 190/463."""
        self.tokens[token] = {
            "profile_id": profile_id, "name": name, "type": type, "scopes": list(scopes),
            "expires_at": expires_at, "data_access_expires_at": data_access_expires_at,
            "expired": expired, "granular_scopes": granular_scopes,
        }

    def _debug_token(self, req: Request) -> tuple[int, Any]:
        info = self.tokens.get(req.query.get("input_token", ""))
        if info is None or info["expired"]:
            return 200, {"data": {"is_valid": False, "error": {
                "code": 190, "subcode": 463 if info else None,
                "message": "Error validating access token: Session has expired"
                if info else "Invalid OAuth access token."}}}
        data: dict[str, Any] = {
            "app_id": "1234567890", "application": "samverkan-test", "type": info["type"],
            "is_valid": True, "expires_at": info["expires_at"],
            "data_access_expires_at": info["data_access_expires_at"],
            "scopes": info["scopes"], "user_id": "55555",
        }
        if info["type"] == "PAGE":
            data["profile_id"] = info["profile_id"]
        if info["granular_scopes"] is not None:
            data["granular_scopes"] = info["granular_scopes"]
        return 200, {"data": data}

    def add_post(
        self, page: str, message: str, *, created: datetime | None = None, ranked_out: bool = False
    ) -> dict[str, Any]:
        """Put a post on a page as if it had been made earlier (by us or by a person);
        ``ranked_out``: /feed and /posts do not show it (published_posts does)."""
        post = self._create(page, {"message": message}, created=created)
        if ranked_out:
            self.ranked_out.add(post["id"])
        return post

    def container_states(self, *polls: str) -> None:
        """The status codes the next container created answers its polls with, in order;
        the last one repeats (``"IN_PROGRESS"`` alone: it never finishes)."""
        with self._lock:
            self._states.append(list(polls))

    def add_media(self, account: str, caption: str, *, created: datetime | None = None) -> dict[str, Any]:
        """Put a published media on an Instagram account (earlier, by us or by a person)."""
        return self._publish_media(account, caption, created=created)

    # -- what happened -------------------------------------------------------------------
    def writes(self) -> list[Request]:
        """The POST requests received (posts attempted)."""
        return [r for r in self.requests if r.method == "POST"]

    def page_posts(self, page: str) -> list[dict[str, Any]]:
        return list(self.posts.get(page, []))

    # -- internals -----------------------------------------------------------------------
    def _next_reply(self, req: Request) -> Reply | None:
        with self._lock:
            for i, reply in enumerate(self._script):
                if reply.matches(req):
                    return self._script.pop(i)
        return None

    def _create(
        self, page: str, form: dict[str, str], *, created: datetime | None = None
    ) -> dict[str, Any]:
        n = next(self._ids)
        when = created or self.clock()
        post = {
            "id": f"{page}_{n}",
            "message": form.get("message") or form.get("caption") or "",
            "created_time": when.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S+0000"),
            "permalink_url": f"https://www.facebook.com/{page}/posts/{n}",
        }
        if "link" in form:
            post["link"] = form["link"]
        with self._lock:
            self.posts.setdefault(page, []).insert(0, post)
        return post

    def _publish_media(self, account: str, caption: str, *, created: datetime | None = None) -> dict[str, Any]:
        n = next(self._ids)
        when = created or self.clock()
        media = {"id": str(n), "caption": caption, "media_type": "IMAGE",
                 "timestamp": when.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S+0000"),
                 "permalink": f"https://www.instagram.com/p/FAKE{n}/"}
        with self._lock:
            self.media.setdefault(account, []).insert(0, media)
        return media

    def _listing(self, req: Request, items: list[dict[str, Any]]) -> dict[str, Any]:
        """A list edge, newest first: from ``since``, ``limit`` at a time, ``paging.next``
        when more are left (as Meta's time-based paging)."""
        limit = int(req.query.get("limit", "25"))
        since = int(req.query.get("since", "0"))
        fields = req.query.get("fields", "id").split(",")
        stamp = "timestamp" if req.edge == "media" else "created_time"
        with self._lock:
            chosen = [i for i in items if datetime.strptime(i[stamp], "%Y-%m-%dT%H:%M:%S%z").timestamp() >= since]
        out: dict[str, Any] = {"data": [{k: i[k] for k in fields if k in i} for i in chosen[:limit]]}
        if len(chosen) > limit:
            out["paging"] = {"next": f"{self.url}{req.version}/{req.node}/{req.edge}?after=MORE"}
        return out

    def _normal(self, req: Request) -> tuple[int, Any, dict[str, Any] | None]:
        """The endpoint's own answer: (status, JSON body, post created or None)."""
        known = self.tokens.get(req.token or "")
        if known is not None and known["expired"]:
            message = "Error validating access token: Session has expired on Monday, 01-Jan-18."
            return 400, _error_body(190, message, 463), None
        for method, pattern, handler in self._routes:
            rest = req.path[len(req.version) + 1 :] if req.version else req.path
            if method == req.method and pattern.fullmatch(rest):
                status, body = handler(req)
                return status, body, None
        if req.method == "GET" and req.path.endswith("/debug_token"):
            status, body = self._debug_token(req)
            return status, body, None
        if known is not None and req.method == "GET" and req.node == "me" and req.edge is None:
            me = {"id": known["profile_id"], "name": known["name"]}
            wanted = req.query.get("fields")
            if wanted:
                me = {k: v for k, v in me.items() if k in wanted.split(",") or k == "id"}
            return 200, me, None
        if self.token is not None and req.token != self.token:
            return 400, _error_body(190, "Invalid OAuth access token data.", None), None
        if req.method == "POST" and req.edge == "media" and req.node:
            if "image_url" not in req.form:
                return 400, _error_body(100, "The parameter image_url is required.", None), None
            with self._lock:
                states = self._states.pop(0) if self._states else ["FINISHED"]
                cid = str(next(self._ids))
                self.containers[cid] = {"account": req.node, "caption": req.form.get("caption", ""),
                                        "image_url": req.form["image_url"], "polls": states, "published": False}
            return 200, {"id": cid}, None
        if req.method == "POST" and req.edge == "media_publish" and req.node:
            container = self.containers.get(req.form.get("creation_id", ""))
            if container is None:
                return 400, _error_body(100, "Invalid parameter", 2207027), None
            if container["polls"][0] != "FINISHED" or container["published"]:
                return 400, _error_body(9007, "Media ID is not available", 2207027), None
            container["published"] = True
            media = self._publish_media(req.node, container["caption"])
            return 200, {"id": media["id"]}, media
        if req.method == "GET" and req.node in self.containers and req.edge is None:
            container = self.containers[req.node]
            with self._lock:
                state = "PUBLISHED" if container["published"] else container["polls"][0]
                if len(container["polls"]) > 1:
                    container["polls"].pop(0)
            status = {"ERROR": "Error: 2207052", "FINISHED": "Finished: Media has been uploaded and it is "
                      "ready to be published.", "IN_PROGRESS": "In Progress: Media is still being processed.",
                      "EXPIRED": "Expired", "PUBLISHED": "Published"}.get(state, state)
            return 200, {"id": req.node, "status_code": state, "status": status}, None
        media = next((m for ms in self.media.values() for m in ms if m["id"] == req.node), None)
        if req.method == "GET" and media is not None and req.edge is None:
            wanted = req.query.get("fields", "id").split(",")
            return 200, {k: v for k, v in media.items() if k in wanted or k == "id"}, None
        if req.method == "GET" and req.edge == "media" and req.node:
            return 200, self._listing(req, self.media.get(req.node, [])), None
        if req.method == "GET" and req.edge == "content_publishing_limit" and req.node:
            return 200, {"data": [{"quota_usage": self.quota,
                                   "config": {"quota_total": 100, "quota_duration": 86400}}]}, None
        if req.method == "GET" and req.edge == "published_posts" and req.node:
            return 200, self._listing(req, self.posts.get(req.node, [])), None
        if req.method == "GET" and req.edge == "photos" and req.node:
            return 200, self._listing(req, self.photos.get(req.node, [])), None
        if req.method == "POST" and req.edge in ("feed", "photos") and req.node:
            if not req.token:
                return 400, _error_body(104, "An access token is required.", None), None
            if req.edge == "photos" and "source" not in req.files and "url" not in req.form:
                return 400, _error_body(324, "Requires upload file", None), None
            post = self._create(req.node, req.form)
            if req.edge == "photos":
                photo_id = str(next(self._ids))
                photo = {"id": photo_id, "name": req.form.get("caption", ""), "created_time": post["created_time"],
                         "link": f"https://www.facebook.com/photo/?fbid={photo_id}", "page_story_id": post["id"]}
                with self._lock:
                    self.photos.setdefault(req.node, []).insert(0, photo)
                return 200, {"id": photo_id, "post_id": post["id"]}, post
            return 200, {"id": post["id"]}, post
        if req.method == "GET" and req.edge in ("feed", "posts") and req.node:
            limit = int(req.query.get("limit", "25"))
            fields = req.query.get("fields", "id,message,created_time").split(",")
            with self._lock:
                data = [
                    {k: p[k] for k in fields if k in p} for p in self.posts.get(req.node, [])
                    if p["id"] not in self.ranked_out
                ][:limit]
            return 200, {"data": data}, None
        if req.method == "GET" and req.node and req.edge is None:
            obj = self.objects.get(req.node)
            if obj is None:
                missing = f"Object with ID '{req.node}' does not exist"
                return 400, _error_body(100, missing, 33), None
            wanted = req.query.get("fields")
            if wanted:
                obj = {k: v for k, v in obj.items() if k in wanted.split(",") or k == "id"}
            return 200, obj, None
        return 400, _error_body(100, "Unsupported request", None), None

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class GraphHandler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                pass  # keep test output clean

            def do_GET(self) -> None:
                self._serve()

            def do_POST(self) -> None:
                self._serve()

            def do_DELETE(self) -> None:
                self._serve()

            def _serve(self) -> None:
                req = self._read()
                with server._lock:
                    server.requests.append(req)
                reply = server._next_reply(req) or Reply()
                normal: tuple[int, Any, Any] | None = None
                if reply.creates:
                    normal = server._normal(req)  # the post exists whatever the client hears
                if reply.delay:
                    server._stopping.wait(reply.delay)
                if reply.drop:
                    self.close_connection = True
                    try:
                        self.connection.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass
                    return
                headers = {"facebook-api-version": server.served_version or req.version or "v25.0",
                           **(server.usage or {}), **reply.headers}
                if reply.status is None and reply.body is None:
                    status, body, _ = normal or server._normal(req)
                    self._send(status, json.dumps(body).encode(), reply.content_type, headers)
                else:
                    self._send(reply.status or 200, reply.body or b"", reply.content_type, headers)

            def _send(self, status: int, body: bytes, content_type: str, headers: dict[str, str]) -> None:
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", content_type)
                    self.send_header("Content-Length", str(len(body)))
                    for name, value in headers.items():
                        self.send_header(name, value)
                    self.end_headers()
                    self.wfile.write(body)
                except OSError:
                    pass  # the client gave up (timeout): the post stays created

            def _read(self) -> Request:
                split = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                ctype = self.headers.get("Content-Type", "")
                form: dict[str, str] = {}
                files: dict[str, Upload] = {}
                if ctype.startswith("application/x-www-form-urlencoded"):
                    form = dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True))
                elif ctype.startswith("multipart/form-data"):
                    form, files = _parse_multipart(ctype, body)
                m = _VERSIONED.match(split.path)
                version, rest = (m.group(1), m.group(2) or "/") if m else (None, split.path)
                parts = [p for p in rest.split("/") if p]
                return Request(
                    method=self.command,
                    path=split.path,
                    version=version,
                    node=parts[0] if parts else None,
                    edge=parts[1] if len(parts) > 1 else None,
                    query=dict(parse_qsl(split.query, keep_blank_values=True)),
                    form=form,
                    files=files,
                    headers={k.lower(): v for k, v in self.headers.items()},
                    body=body,
                )

        return GraphHandler


def _error_body(code: int, message: str, subcode: int | None) -> dict[str, Any]:
    error: dict[str, Any] = {
        "message": message,
        "type": "OAuthException",
        "code": code,
        "fbtrace_id": "FakeTrace",
    }
    if subcode is not None:
        error["error_subcode"] = subcode
    return {"error": error}


def _parse_multipart(ctype: str, body: bytes) -> tuple[dict[str, str], dict[str, Upload]]:
    """A small multipart/form-data parser that keeps file bytes exactly as sent."""
    m = re.search(r'boundary="?([^";]+)"?', ctype)
    if not m:
        return {}, {}
    delimiter = b"--" + m.group(1).encode("latin-1")
    form: dict[str, str] = {}
    files: dict[str, Upload] = {}
    for chunk in body.split(delimiter)[1:]:
        if chunk.startswith(b"--"):
            break  # the closing delimiter
        head, _, data = chunk.removeprefix(b"\r\n").partition(b"\r\n\r\n")
        data = data.removesuffix(b"\r\n")
        headers = {}
        for line in head.decode("utf-8").split("\r\n"):
            key, _, value = line.partition(":")
            headers[key.strip().lower()] = value.strip()
        disposition = headers.get("content-disposition", "")
        name = re.search(r'\bname="([^"]*)"', disposition)
        filename = re.search(r'\bfilename="([^"]*)"', disposition)
        if not name:
            continue
        if filename:
            files[name.group(1)] = Upload(
                filename.group(1), headers.get("content-type", "application/octet-stream"), data
            )
        else:
            form[name.group(1)] = data.decode("utf-8")
    return form, files


def closed_port_url() -> str:
    """A base URL on 127.0.0.1 where nothing listens (connection refused)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/"


def ago(**kwargs: float) -> datetime:
    """A UTC time in the past, for :meth:`GraphServer.add_post`."""
    return datetime.now(timezone.utc) - timedelta(**kwargs)


@pytest.fixture
def graph_server() -> Iterator[GraphServer]:
    """A running fake Graph API on 127.0.0.1 that accepts any token."""
    server = GraphServer().start()
    try:
        yield server
    finally:
        server.stop()
