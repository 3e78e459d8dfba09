"""uvicorn's HTTP protocol with ``TCP_NODELAY`` on every accepted connection.

With ``--workers N`` uvicorn binds the listening socket itself without ``IPPROTO_TCP``, so
asyncio leaves Nagle's algorithm on for accepted connections, and every keep-alive request
after the first waits about 40 ms for the client's delayed ACK (Kludex/uvicorn#3149, open
as of uvicorn 0.54). ``scenescout serve`` passes :data:`NO_DELAY_PROTOCOL` as uvicorn's
``http`` implementation to set the option itself.
"""

from __future__ import annotations

import asyncio
import socket
from typing import Any, cast

try:  # the C parser, when uvicorn[standard] brought it
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol as _Base
except ImportError:  # pragma: no cover - depends on the installed extras
    from uvicorn.protocols.http.h11_impl import H11Protocol as _Base  # type: ignore[assignment]


def set_no_delay(transport: asyncio.BaseTransport) -> None:
    """Turn Nagle's algorithm off on a TCP transport's socket (others are left alone)."""
    sock = cast(socket.socket | None, transport.get_extra_info("socket"))
    if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class NoDelayHttpProtocol(_Base):
    """uvicorn's HTTP/1.1 protocol that sets ``TCP_NODELAY`` when a connection is made."""

    def connection_made(self, transport: Any) -> None:
        set_no_delay(transport)
        super().connection_made(transport)


NO_DELAY_PROTOCOL = f"{__name__}:NoDelayHttpProtocol"
"""The import string of :class:`NoDelayHttpProtocol`, for uvicorn's ``http`` option."""
