"""Microsoft 365 mail: the OAuth 2.0 access token for SMTP ``AUTH XOAUTH2``.

Exchange Online turns password SMTP AUTH (Basic authentication for Client Submission)
off by default at the end of December 2026 and then answers ``550 5.7.30 Basic
authentication is not supported for Client Submission``. A daemon has no person to sign
in, so it logs in as an app registration, with the OAuth 2.0 client credentials grant.

Microsoft's own words ("Authenticate an IMAP, POP or SMTP connection using OAuth",
https://learn.microsoft.com/en-us/exchange/client-developer/legacy-protocols/how-to-authenticate-an-imap-pop-smtp-application-by-using-oauth):
for the client credentials flow the app gets the ``SMTP.SendAsApp`` application
permission, its service principal is registered in Exchange and given the mailbox, and
the token is asked for the scope ``https://outlook.office365.com/.default``; the SASL
XOAUTH2 string is ``base64("user=" + userName + "^Aauth=Bearer " + accessToken + "^A^A")``
(``^A``: the character 0x01), sent as ``AUTH XOAUTH2``.

``msal`` (Microsoft's own library for the token) is an optional extra
(``pip install 'samverkan[m365]'``) imported only here, so that a plan that sends with a
password, or not at all, needs none of it.
"""

from __future__ import annotations

import base64
import functools
from pathlib import Path
from typing import Any, Mapping

from .base import PermanentError, TransientError

SCOPE = "https://outlook.office365.com/.default"
AUTHORITY = "https://login.microsoftonline.com/{tenant}"
INSTALL = "pip install 'samverkan[m365]'"


def xoauth2(user: str, token: str) -> str:
    """The SASL XOAUTH2 initial response, base64 as ``AUTH XOAUTH2`` takes it."""
    raw = f"user={user}\x01auth=Bearer {token}\x01\x01"
    return base64.b64encode(raw.encode("utf-8")).decode("ascii")


class TokenSource:
    """Access tokens for one channel's app registration. msal keeps a token in memory
    until shortly before it expires, so one source per publisher asks the endpoint about
    once an hour, not once a release.

    ``authority``: the token endpoint's base (``https://login.microsoftonline.com/<tenant>``
    unless the channel says otherwise). ``secret`` or ``certificate`` (the text of a PEM
    file holding the app's private key and its certificate). ``ca_bundle``: a CA file to
    trust instead of the public ones (``REQUESTS_CA_BUNDLE``, as for any requests user).
    Every error names the settings to check, never a secret or a token."""

    def __init__(self, channel: str, authority: str, client_id: str, *, secret: str | None = None,
                 certificate: str | None = None, names: Mapping[str, str], timeout: float = 30.0,
                 ca_bundle: str | None = None) -> None:
        self.channel, self.authority, self.client_id = channel, authority.rstrip("/"), client_id
        self._secret, self._certificate = secret, certificate
        self.names = names  # setting -> variable name, for messages
        self.timeout, self.ca_bundle = timeout, ca_bundle
        self._app: Any = None

    def _application(self) -> Any:
        try:
            import msal
        except ImportError:
            raise PermanentError(
                f"channel {self.channel}: auth: xoauth2 needs the msal library, which is not installed: "
                f"{INSTALL}"
            ) from None
        import requests

        # The CA file per request: requests lets REQUESTS_CA_BUNDLE of the process override a
        # session's own (psf/requests#3829), and the channel's environment is the one that counts.
        session = requests.Session()
        session.request = functools.partial(  # type: ignore[method-assign]
            session.request, timeout=self.timeout, verify=self.ca_bundle or True)
        credential: Any = self._secret
        if self._certificate is not None:
            credential = {"private_key": self._certificate, "public_certificate": self._certificate}
        try:
            # instance_discovery=False: Microsoft's own hosts need none, and a configured
            # authority (a test's local endpoint) must not make msal ask Microsoft about it.
            return msal.ConfidentialClientApplication(
                self.client_id, client_credential=credential, authority=self.authority,
                instance_discovery=False, http_client=session,
            )
        except requests.RequestException as e:
            raise TransientError(f"cannot reach the token endpoint {self.authority}: {type(e).__name__}") from None
        except ValueError as e:
            # msal: the tenant's OpenID configuration was not found, or the key did not load.
            what = "the certificate" if self._certificate is not None and "key" in str(e).lower() else None
            if what:
                raise PermanentError(
                    f"channel {self.channel}: the certificate in {self.names.get('certificate')} cannot be used "
                    "(it must be a PEM file with the app's private key and its certificate)"
                ) from None
            raise PermanentError(
                f"channel {self.channel}: {self.authority} knows no such tenant: check {self.names.get('tenant')} "
                "(the Directory (tenant) ID of the app registration) and authority:"
            ) from None

    def token(self) -> str:
        """An access token for SMTP; PermanentError when Microsoft refuses the app,
        TransientError when the endpoint cannot be reached."""
        import requests

        if self._app is None:
            self._app = self._application()
        try:
            result = self._app.acquire_token_for_client(scopes=[SCOPE])
        except requests.RequestException as e:
            raise TransientError(f"cannot reach the token endpoint {self.authority}: {type(e).__name__}") from None
        except ValueError as e:  # msal could not read the answer
            raise TransientError(f"the token endpoint {self.authority} gave no usable answer ({e.__class__.__name__})") from None
        token = result.get("access_token") if isinstance(result, dict) else None
        if token:
            return str(token)
        error = str(result.get("error") or "no token") if isinstance(result, dict) else "no token"
        # The description's first line is Microsoft's AADSTS code and reason: never a secret.
        described = str(result.get("error_description") or "").splitlines() if isinstance(result, dict) else []
        said = f"{error}: {described[0]}" if described else error
        if error in ("temporarily_unavailable", "server_error"):
            raise TransientError(f"the token endpoint {self.authority} is not answering ({said})")
        credential = self.names.get("certificate" if self._certificate is not None else "client_secret")
        raise PermanentError(
            f"channel {self.channel}: Microsoft refused the app's token request ({said}): check "
            f"{self.names.get('tenant')}, {self.names.get('client_id')} and {credential}, and that the app "
            "registration has the SMTP.SendAsApp permission with admin consent"
        )


def read_certificate(path: str, channel: str, variable: str | None) -> str:
    """The PEM text of the certificate file a variable names."""
    try:
        return Path(path).read_text(encoding="ascii")
    except (OSError, UnicodeError) as e:
        reason = getattr(e, "strerror", None) or "not a PEM text file"
        raise PermanentError(f"channel {channel}: cannot read the certificate file that {variable} names: {reason}") from None
