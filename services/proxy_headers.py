"""The headers an HTTP proxy of sandbench never copies across: hop-by-hop ones (RFC 9110 §7.6.1) and those a
WebSocket handshake sets itself. One table for serve's preview proxy (services/server/preview_proxy.py) and the
local forward of a Daytona preview link (services/forwards_preview.py)."""

from __future__ import annotations

HOP = frozenset(
    h.lower()
    for h in (
        "Connection",
        "Keep-Alive",
        "Proxy-Authenticate",
        "Proxy-Authorization",
        "Proxy-Connection",
        "TE",
        "Trailer",
        "Transfer-Encoding",
        "Upgrade",
        "Host",
    )
)
WS_OWN = frozenset(
    h.lower()
    for h in (
        "Sec-WebSocket-Key",
        "Sec-WebSocket-Version",
        "Sec-WebSocket-Protocol",
        "Sec-WebSocket-Extensions",
        "Sec-WebSocket-Accept",
        "Content-Length",
    )
)


def request_header_kept(name: str, *, websocket: bool, ws_own: frozenset[str] = WS_OWN) -> bool:
    """Whether a client's request header goes on to the upstream: never a hop-by-hop one, never an `X-Daytona-*`
    (the proxy sets the link's own), and on a WebSocket never one the handshake sets itself (`ws_own`)."""
    low = name.lower()
    return not (low in HOP or low.startswith("x-daytona-") or (websocket and low in ws_own))
