"""Registry authentication: HTTP Basic and the distribution Bearer token flow, answering a 401.

A 401 carries ``WWW-Authenticate: Basic realm=...`` or ``Bearer realm=...,service=...,scope=...``. For
Bearer, the token comes from the realm (with the credentials as Basic auth, or anonymously), one per
scope (``repository:NAME:pull``), cached until it expires. No header is ever logged.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass

import requests

from harness.errors import RegistryError
from harness.registry_access import PASSWORD_ENV, USERNAME_ENV, Credentials

_PARAM = re.compile(r'(\w+)\s*=\s*(?:"([^"]*)"|([^\s,]+))')
#: Seconds a token lives when the token endpoint does not say (the distribution spec's default).
DEFAULT_TOKEN_LIFETIME = 60.0


@dataclass(frozen=True)
class Challenge:
    """A parsed WWW-Authenticate header."""

    scheme: str
    params: dict[str, str]


def parse_challenge(header: str) -> Challenge | None:
    """``Bearer realm="https://auth/token",service="reg",scope="repository:a:pull"`` -> Challenge."""
    scheme, _, rest = header.strip().partition(" ")
    if not scheme:
        return None
    params = {m.group(1).lower(): m.group(2) if m.group(2) is not None else m.group(3) for m in _PARAM.finditer(rest)}
    return Challenge(scheme.lower(), params)


class RegistryAuth:
    """Answers one registry's 401s; keeps a Basic header or one token per scope."""

    def __init__(self, registry_url: str, session: requests.Session, credentials: Credentials | None,
                 timeout: tuple[float, float]) -> None:
        self.registry_url = registry_url
        self.session = session
        self.credentials = credentials
        self.timeout = timeout
        self._basic = False
        self._tokens: dict[str, tuple[str, float]] = {}

    def header(self, scope: str) -> dict[str, str]:
        """The Authorization header to send for ``scope`` before any 401 (empty when none is known yet)."""
        if self._basic and self.credentials:
            return {"Authorization": _basic_header(self.credentials)}
        token = self._tokens.get(scope)
        if token and token[1] > time.monotonic():
            return {"Authorization": f"Bearer {token[0]}"}
        return {}

    def answer(self, response: requests.Response, scope: str, sent: dict[str, str]) -> dict[str, str]:
        """The header to retry a request with after its 401, or RegistryError saying why there is none.

        ``sent`` is the header the refused request carried: refused credentials are not sent again.
        """
        challenge = parse_challenge(response.headers.get("WWW-Authenticate", ""))
        if challenge is None or challenge.scheme not in ("basic", "bearer"):
            raise RegistryError(f"{self.registry_url} answered 401 without a Basic or Bearer challenge "
                                f"({response.headers.get('WWW-Authenticate', 'no WWW-Authenticate header')})",
                                fix="check that --registry points at the registry itself, not a proxy in front")
        if challenge.scheme == "basic":
            return self._answer_basic(sent)
        return self._answer_bearer(challenge, response, scope, sent)

    def _answer_basic(self, sent: dict[str, str]) -> dict[str, str]:
        credentials = self._require_credentials()
        if sent.get("Authorization", "").startswith("Basic"):
            raise RegistryError(
                f"{self.registry_url} refused the password of user '{credentials.username}' "
                f"(from {credentials.source}): expected credentials it accepts",
                fix=f"correct the password in {credentials.source}")
        self._basic = True
        return {"Authorization": _basic_header(credentials)}

    def _answer_bearer(self, challenge: Challenge, response: requests.Response, scope: str,
                       sent: dict[str, str]) -> dict[str, str]:
        wanted = challenge.params.get("scope", scope)
        if sent.get("Authorization", "").startswith("Bearer"):
            self._tokens.pop(wanted, None)
            if self.credentials is None:
                raise RegistryError(f"{self.registry_url} refused the anonymous token for '{wanted}': it asks for "
                                    "credentials and none were found", fix=self._credentials_fix())
            reason = challenge.params.get("error_description") or challenge.params.get("error") or response.text[:200]
            raise RegistryError(
                f"{self.registry_url} refused the token that {challenge.params.get('realm')} issued for "
                f"'{wanted}': {reason.strip()}",
                fix="the token expired or does not grant this access: check the token service's clock and its "
                "access rules for this user and repository")
        token, lifetime = self._fetch_token(challenge, wanted)
        self._tokens[wanted] = (token, time.monotonic() + max(lifetime - 5, 1))
        return {"Authorization": f"Bearer {token}"}

    def _fetch_token(self, challenge: Challenge, scope: str) -> tuple[str, float]:
        realm = challenge.params.get("realm")
        if not realm:
            raise RegistryError(f"{self.registry_url}: its Bearer challenge names no realm",
                                fix="fix the registry's auth.token.realm setting")
        params = {k: v for k, v in (("service", challenge.params.get("service")), ("scope", scope)) if v}
        auth = (self.credentials.username, self.credentials.password) if self.credentials else None
        try:
            reply = self.session.get(realm, params=params, auth=auth, timeout=self.timeout)
        except requests.RequestException as error:
            raise RegistryError(f"the token service {realm} of {self.registry_url} does not answer: "
                                f"{type(error).__name__}",
                                fix="check that the token service runs and that its certificate is trusted") from None
        if reply.status_code in (401, 403):
            who = f"user '{self.credentials.username}' (from {self.credentials.source})" if self.credentials \
                else "an anonymous client (no credentials found)"
            raise RegistryError(
                f"the token service {realm} of {self.registry_url} refused a token for '{scope}' to {who}: "
                f"{reply.status_code}",
                fix=self._credentials_fix() if not self.credentials
                else f"correct the password in {self.credentials.source}, or ask for access to the repository")
        try:
            body = reply.json()
            token = body.get("token") or body["access_token"]
        except (ValueError, KeyError, AttributeError):
            raise RegistryError(f"the token service {realm} answered {reply.status_code} without a token",
                                fix="check the registry's auth.token.realm setting") from None
        return token, float(body.get("expires_in") or DEFAULT_TOKEN_LIFETIME)

    def _require_credentials(self) -> Credentials:
        if self.credentials is None:
            raise RegistryError(f"{self.registry_url} asks for credentials and none were found",
                                fix=self._credentials_fix())
        return self.credentials

    def _credentials_fix(self) -> str:
        host = self.registry_url.split("://", 1)[-1]
        return (f"set {USERNAME_ENV} and {PASSWORD_ENV}, or add an 'auths' entry for {host} to the docker "
                "client config ($DOCKER_CONFIG/config.json or ~/.docker/config.json, e.g. with `docker login`)")


def _basic_header(credentials: Credentials) -> str:
    return requests.auth._basic_auth_str(credentials.username, credentials.password)
