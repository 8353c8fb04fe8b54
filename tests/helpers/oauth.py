"""A fake Microsoft identity platform on https://127.0.0.1 (a thread), for ``auth: xoauth2``.

It answers what msal asks of a tenant: the OpenID configuration
(``/<tenant>/v2.0/.well-known/openid-configuration``) and the client credentials grant
(``POST /<tenant>/oauth2/v2.0/token``), with a client secret or a signed client assertion
(a certificate). Errors come as Microsoft words them (``invalid_client``, AADSTS codes)::

    server = token_server(clients={"app-id": "secret"})
    ... authority: server.authority, REQUESTS_CA_BUNDLE=server.cafile ...
    assert server.requests[0]["scope"] == "https://outlook.office365.com/.default"

HTTPS because msal accepts nothing else; the certificate is tests/helpers/smtp.py's.
"""

from __future__ import annotations

import json
import ssl
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Iterator
from urllib.parse import parse_qs

import pytest

from tests.helpers.smtp import self_signed_cert

TENANT = "11111111-2222-3333-4444-555555555555"


class TokenServer:
    """``clients``: client id → secret, or → a PEM certificate whose key must sign the
    client assertion. ``token``: the access token it hands out. ``down``: answer 503."""

    def __init__(self, clients: dict[str, str], *, token: str = "fake-access-token-Ab12", tenant: str = TENANT) -> None:
        self.clients, self.token, self.tenant = clients, token, tenant
        self.requests: list[dict[str, str]] = []  # the token requests' form fields
        self.down = False
        cert, key = self_signed_cert()
        self.cafile = cert
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
        self._http = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._http.socket = context.wrap_socket(self._http.socket, server_side=True)
        self._thread = threading.Thread(target=self._http.serve_forever, daemon=True)

    @property
    def base(self) -> str:
        return f"https://127.0.0.1:{self._http.server_address[1]}"

    @property
    def authority(self) -> str:
        return f"{self.base}/{self.tenant}"

    def start(self) -> TokenServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._http.shutdown()
        self._http.server_close()

    def answer(self, tenant: str, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
        if self.down:
            return 503, {"error": "temporarily_unavailable", "error_description": "AADSTS90033: busy"}
        if tenant != self.tenant:
            return 400, {"error": "invalid_tenant", "error_description": f"AADSTS90002: Tenant '{tenant}' not found."}
        self.requests.append(form)
        client = form.get("client_id", "")
        if form.get("grant_type") != "client_credentials" or client not in self.clients:
            return 400, {"error": "unauthorized_client",
                         "error_description": f"AADSTS700016: Application with identifier '{client}' was not found."}
        known = self.clients[client]
        if "BEGIN CERTIFICATE" in known:
            ok = self._assertion_ok(form.get("client_assertion", ""), known, tenant)
        else:
            ok = form.get("client_secret") == known
        if not ok:
            return 401, {"error": "invalid_client",
                         "error_description": "AADSTS7000215: Invalid client secret provided.\r\nTrace ID: 0"}
        return 200, {"token_type": "Bearer", "expires_in": 3599, "ext_expires_in": 3599, "access_token": self.token}

    def _assertion_ok(self, assertion: str, certificate: str, tenant: str) -> bool:
        import jwt  # msal's own dependency (PyJWT)
        from cryptography import x509

        key = x509.load_pem_x509_certificate(certificate.encode()).public_key()
        try:
            jwt.decode(assertion, key, algorithms=["PS256", "RS256"],  # type: ignore[arg-type]
                       audience=f"{self.base}/{tenant}/oauth2/v2.0/token")
        except jwt.PyJWTError:
            return False
        return True


def _handler(server: TokenServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def _json(self, code: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            parts = self.path.split("?")[0].strip("/").split("/")
            if parts[1:] == ["v2.0", ".well-known", "openid-configuration"]:
                tenant = parts[0]
                if tenant != server.tenant:
                    self._json(400, {"error": "invalid_tenant",
                                     "error_description": f"AADSTS90002: Tenant '{tenant}' not found."})
                    return
                base = f"{server.base}/{tenant}"
                self._json(200, {"token_endpoint": f"{base}/oauth2/v2.0/token",
                                 "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
                                 "issuer": f"{base}/v2.0"})
                return
            self._json(404, {"error": "not_found"})

        def do_POST(self) -> None:
            parts = self.path.split("?")[0].strip("/").split("/")
            length = int(self.headers.get("Content-Length") or 0)
            form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
            if parts[1:] != ["oauth2", "v2.0", "token"]:
                self._json(404, {"error": "not_found"})
                return
            self._json(*server.answer(parts[0], form))

    return Handler


@pytest.fixture
def token_server() -> Iterator[Callable[..., TokenServer]]:
    """A factory: ``token_server(clients=...)`` starts a :class:`TokenServer`; all stop after the test."""
    started: list[TokenServer] = []

    def start(**options: Any) -> TokenServer:
        server = TokenServer(**options).start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()
