"""A small token service for distribution's ``auth.token``: JWTs signed with a key made by the test.

It answers ``GET /token?service=...&scope=...``: with the right Basic credentials, a token granting the
scope's actions; anonymously, a token granting nothing (the registry then refuses reads); with wrong
credentials, 401. ``expired`` makes it hand out tokens that expired an hour ago.
"""

from __future__ import annotations

import base64
import json
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import jwt
import trustme
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

ISSUER = "rvconform-test-token-service"
SERVICE = "rvconform-test-registry"


@dataclass
class TokenService:
    """The running service; ``issued`` keeps every token it handed out (for the secret grep)."""

    username: str
    password: str
    directory: Path
    expired: bool = False
    issued: list[str] = field(default_factory=list)
    server: ThreadingHTTPServer | None = None

    def start(self) -> None:
        ca = trustme.CA(organization_name="rvconform test token signer")
        signer = ca.issue_cert("token-signer.test")
        self.root_bundle = self.directory / "token-root.pem"
        self.root_bundle.write_bytes(ca.cert_pem.bytes())
        self._key = signer.private_key_pem.bytes()
        chain = [signer.cert_chain_pems[0].bytes(), ca.cert_pem.bytes()]
        self._x5c = [base64.b64encode(x509.load_pem_x509_certificate(pem).public_bytes(Encoding.DER)).decode()
                     for pem in chain]
        service = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                status, body = service.answer(self.path, self.headers.get("Authorization", ""))
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def realm(self) -> str:
        assert self.server
        return f"http://127.0.0.1:{self.server.server_address[1]}/token"

    def registry_config(self) -> dict[str, str]:
        """distribution's ``auth.token`` section for this service."""
        return {"realm": self.realm, "service": SERVICE, "issuer": ISSUER, "rootcertbundle": str(self.root_bundle)}

    def answer(self, path: str, authorization: str) -> tuple[int, dict[str, object]]:
        query = parse_qs(urlsplit(path).query)
        user = self._user(authorization)
        if user is False:
            return 401, {"errors": [{"code": "UNAUTHORIZED", "message": "wrong username or password"}]}
        access = []
        for scope in query.get("scope", []):
            kind, name, actions = scope.split(":")
            if user:
                access.append({"type": kind, "name": name, "actions": actions.split(",")})
        now = int(time.time())
        lifetime = 300
        expires = now - 3600 if self.expired else now + lifetime
        claims = {"iss": ISSUER, "sub": user or "", "aud": query.get("service", [SERVICE])[0], "exp": expires,
                  "nbf": now - 7200 if self.expired else now - 10, "iat": now - 7200 if self.expired else now,
                  "jti": uuid.uuid4().hex, "access": access}
        token = jwt.encode(claims, self._key, algorithm="ES256", headers={"x5c": self._x5c, "typ": "JWT"})
        self.issued.append(token)
        return 200, {"token": token, "expires_in": lifetime}

    def _user(self, authorization: str) -> str | bool | None:
        """The authenticated user, None for anonymous, False for wrong credentials."""
        if not authorization.startswith("Basic "):
            return None
        username, _, password = base64.b64decode(authorization[6:]).decode().partition(":")
        return username if (username, password) == (self.username, self.password) else False

    def stop(self) -> None:
        if self.server:
            self.server.shutdown()
            self.server.server_close()
