"""What "a web server does its job" means: it serves the page, 404s what is missing, names itself."""

from __future__ import annotations

import requests

from harness.probes.endpoint import Endpoint

TIMEOUT = (5.0, 10.0)
#: What a server that is still starting answers: no connection yet, a reset, a timeout.
NOT_READY = (OSError, requests.ConnectionError, requests.Timeout)


def get(endpoint: Endpoint, path: str = "/", timeout: float | tuple[float, float] = TIMEOUT) -> requests.Response:
    """GET a path, without following redirects, with short timeouts."""
    return requests.get(endpoint.url + path, timeout=timeout, allow_redirects=False)


def answers(endpoint: Endpoint, timeout: float = TIMEOUT[0]) -> None:
    """Return when the server answers HTTP at all (any status)."""
    get(endpoint, "/", timeout)


def assert_page(endpoint: Endpoint, heading: str, path: str = "/") -> None:
    """GET path is 200, text/html, and the page shows ``heading``."""
    __tracebackhide__ = True
    response = get(endpoint, path)
    assert response.status_code == 200, (
        f"{endpoint.target}: expected GET {path} to be 200, got {response.status_code}"
    )
    content_type = response.headers.get("Content-Type", "")
    assert content_type.startswith("text/html"), (
        f"{endpoint.target}: expected GET {path} to be text/html, got {content_type!r}"
    )
    assert heading in response.text, (
        f"{endpoint.target}: expected the page at {path} to contain {heading!r}; it begins "
        f"{response.text[:200]!r}"
    )


def assert_missing_is_404(endpoint: Endpoint, path: str = "/rvconform-missing-page") -> None:
    """A page that does not exist is 404."""
    __tracebackhide__ = True
    response = get(endpoint, path)
    assert response.status_code == 404, (
        f"{endpoint.target}: expected GET {path} to be 404, got {response.status_code}"
    )


def assert_server_header(endpoint: Endpoint, product: str) -> None:
    """The Server header names the product (e.g. nginx)."""
    __tracebackhide__ = True
    server = get(endpoint, "/").headers.get("Server", "")
    assert product in server.lower(), (
        f"{endpoint.target}: expected the Server header to name {product}, got {server!r}"
    )
