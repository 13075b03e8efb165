"""Who may use the HTTP doors: the client's address, the token, and the Host and Origin rules
that stop DNS rebinding and cross-site requests.

- An address of `--web-allow` needs no token. Without `--web-token` no other address may come;
  with it, any other address may, with the token.

- Without a token (only allowed on a loopback address), a request must name the server by an
  IP address or `localhost` in its `Host`: a rebound name (`evil.example` resolving to
  127.0.0.1) is refused, so a page on another site cannot reach the server through it. With a
  token, a rebound name gains nothing: the browser sends the token's cookie to the real name
  only.
- A request that changes something or makes audio (any method but GET, HEAD and OPTIONS) is
  refused when it comes from another origin (`Origin` not the server's own, `null` included).
  Scripts and clients such as `curl` or the `openai` package send no `Origin`.
- Every response says it may not be framed by another site (the app's page is framed by Home
  Assistant's ingress, which is the same origin).
"""

from __future__ import annotations

import ipaddress
import secrets
from urllib.parse import urlsplit

from fastapi import Request

TOKEN_COOKIE = "wyoming_tts_token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
OPEN_PATHS = frozenset({"/healthz", "/readyz"})  # container health checks ask without a token
HEADERS = {
    "X-Frame-Options": "SAMEORIGIN",
    "Content-Security-Policy": "frame-ancestors 'self'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


def address_allowed(host: str, allow: tuple[str, ...]) -> bool:
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    for entry in allow:
        try:
            if address in ipaddress.ip_network(entry, strict=False):
                return True
        except ValueError:
            continue
    return False


def token_given(request: Request) -> str:
    return (
        request.query_params.get("token")
        or request.cookies.get(TOKEN_COOKIE)
        or request.headers.get("authorization", "").removeprefix("Bearer ").strip()
    )


def token_ok(request: Request, token: str) -> bool:
    given = token_given(request)
    try:
        return bool(given) and secrets.compare_digest(given.encode(), token.encode())
    except (UnicodeEncodeError, TypeError):
        return False


def host_name(host_header: str) -> str:
    """The name in a Host header, without its port ("[::1]:8099" -> "::1")."""
    return urlsplit(f"//{host_header}").hostname or ""


def local_host(host_header: str) -> bool:
    """True when HOST_HEADER names the server by an IP address or as localhost."""
    name = host_name(host_header)
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


def same_origin(origin: str, host_header: str) -> bool:
    """True when ORIGIN (an Origin header) is the server's own, as the Host header names it."""
    if not origin or origin == "null":
        return False
    parts = urlsplit(origin)
    return parts.scheme in ("http", "https") and parts.netloc.lower() == host_header.lower()


def refusal(request: Request, token: str | None, allow: tuple[str, ...]) -> tuple[int, str] | None:
    """(status, sentence) when REQUEST may not be served; None when it may."""
    client = request.client.host if request.client else ""
    # An allowed address needs no token (the app's ingress proxy); with a token set, any other
    # address may come with it (the app's published port, for the speech API).
    trusted = bool(allow) and address_allowed(client, allow)
    if allow and not trusted and not token:
        return 403, "This address may not use this server's web port."
    host = request.headers.get("host", "")
    if not token and not allow and not local_host(host):
        return 403, "Use the server by its IP address or as localhost (this name is refused)."
    origin = request.headers.get("origin")
    if request.method not in SAFE_METHODS and origin is not None and not same_origin(origin, host):
        return 403, "Requests from another site are refused."
    if (
        token
        and not trusted
        and request.url.path not in OPEN_PATHS
        and not token_ok(request, token)
    ):
        return 401, "Open the page with ?token=YOUR_TOKEN (the server's --web-token)."
    return None
