"""How ``scenescout serve`` runs uvicorn: ``TCP_NODELAY`` on every connection, and one
listening socket per worker.

With ``--workers N`` uvicorn binds the listening socket itself without ``IPPROTO_TCP``, so
asyncio leaves Nagle's algorithm on for accepted connections, and every keep-alive request
after the first waits about 40 ms for the client's delayed ACK (Kludex/uvicorn#3149, open
as of uvicorn 0.54). ``scenescout serve`` passes :data:`NO_DELAY_PROTOCOL` as uvicorn's
``http`` implementation to set the option itself.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import sys
from typing import Any, cast

import uvicorn
from uvicorn.config import STARTUP_FAILURE
from uvicorn.supervisors import multiprocess

try:  # the C parser, when uvicorn[standard] brought it
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol as _Base
except ImportError:  # pragma: no cover - depends on the installed extras
    from uvicorn.protocols.http.h11_impl import H11Protocol as _Base  # type: ignore[assignment]

logger = logging.getLogger("uvicorn.error")


def set_no_delay(transport: asyncio.BaseTransport) -> None:
    """Turn Nagle's algorithm off on a TCP transport's socket (others are left alone)."""
    sock = cast(socket.socket | None, transport.get_extra_info("socket"))
    if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class CoalescingTransport:
    """A transport whose writes made in one event-loop step leave in one ``send``.

    uvicorn writes a response's head and body separately. With ``TCP_NODELAY`` each write is
    a system call and a TCP segment of its own; on loopback the sender's call also runs the
    receiver's TCP path, so a second write per response costs the server real CPU. Writes are
    joined here and flushed by a callback the loop runs as soon as the current step ends (the
    head and body of a response are written in the same step). Closing flushes first; every
    other attribute is the wrapped transport's.
    """

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._pending: list[bytes] = []

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if not self._pending:
            self._loop.call_soon(self._flush)
        self._pending.append(bytes(data))

    def writelines(self, chunks: Any) -> None:
        for chunk in chunks:
            self.write(chunk)

    def get_write_buffer_size(self) -> int:
        return self._transport.get_write_buffer_size() + sum(map(len, self._pending))

    def close(self) -> None:
        self._flush()
        self._transport.close()

    def write_eof(self) -> None:
        self._flush()
        self._transport.write_eof()

    def _flush(self) -> None:
        if self._pending and not self._transport.is_closing():
            data = self._pending[0] if len(self._pending) == 1 else b"".join(self._pending)
            self._transport.write(data)
        self._pending.clear()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


class NoDelayHttpProtocol(_Base):
    """uvicorn's HTTP/1.1 protocol that sets ``TCP_NODELAY`` when a connection is made, and
    writes each response in one ``send`` (:class:`CoalescingTransport`)."""

    def connection_made(self, transport: Any) -> None:
        set_no_delay(transport)
        super().connection_made(
            CoalescingTransport(transport, asyncio.get_running_loop())  # type: ignore[arg-type]
        )


NO_DELAY_PROTOCOL = f"{__name__}:NoDelayHttpProtocol"
"""The import string of :class:`NoDelayHttpProtocol`, for uvicorn's ``http`` option."""


# --- several workers: one listening socket each ------------------------------------------

BALANCED = sys.platform == "linux" and hasattr(socket, "SO_REUSEPORT")
"""Whether workers can listen on sockets of their own (Linux ``SO_REUSEPORT``)."""


def reuse_port_socket(host: str, port: int) -> socket.socket:
    """A TCP socket bound to ``host:port`` with ``SO_REUSEPORT``, not yet listening.

    Every socket of a ``SO_REUSEPORT`` group that listens gets its own accept queue, and
    Linux spreads new connections over them by a hash of their addresses.

    Raises
    ------
    OSError
        When the address is taken by a socket outside the group (or is not local).
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    return sock


def claim_port(host: str, port: int) -> socket.socket:
    """Reserve ``host:port`` for workers' ``SO_REUSEPORT`` sockets (bound, not listening).

    Sockets of one ``SO_REUSEPORT`` group may all listen, so a second server (or the workers
    a killed one left behind) could silently share the port with this one. A plain bind is
    tried first: it fails while anything listens on the address, whatever its options.

    Raises
    ------
    OSError
        When the address is in use.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.bind((host, port))
    return reuse_port_socket(host, port)


class OwnSocketProcess(multiprocess.Process):
    """A uvicorn worker that listens on a ``SO_REUSEPORT`` socket of its own.

    uvicorn's workers share the parent's listening socket: the worker whose event loop is
    least busy accepts most new connections (eight connections opened together often all
    went to one of two workers), so one worker computes while the other idles
    (Kludex/uvicorn#2467, open as of uvicorn 0.54). Sockets of their own give each worker
    an accept queue that the kernel fills evenly.
    """

    def target(self, sockets: list[socket.socket] | None = None) -> None:  # pragma: no cover
        # Runs in the worker process (coverage does not follow it there).
        super().target([reuse_port_socket(self.config.host, self.config.port)])


def run_workers(config: uvicorn.Config) -> None:
    """Serve ``config``: in this process for one worker, else with ``config.workers``
    worker processes, each on its own listening socket where the platform allows
    (:class:`OwnSocketProcess`), else on uvicorn's shared one.

    The parent binds the address first without listening, so an address already in use
    fails here, once, with uvicorn's exit code for a failed start-up.
    """
    if config.workers == 1:
        server = uvicorn.Server(config)
        server.run()
        if not server.started:
            sys.exit(STARTUP_FAILURE)
        return
    if not BALANCED:
        multiprocess.Multiprocess(config, sockets=[config.bind_socket()]).run()
        return
    try:
        reserved = claim_port(config.host, config.port)
    except OSError as error:
        logger.error(
            "cannot listen on %s:%d: %s (is another server running there?)",
            config.host,
            config.port,
            error,
        )
        sys.exit(STARTUP_FAILURE)
    with reserved:
        # uvicorn's supervisor makes every worker (at start, on restart after a crash, on
        # SIGHUP and SIGTTIN) with its module's ``Process``: in this parent it is ours.
        multiprocess.Process = OwnSocketProcess  # type: ignore[misc]
        multiprocess.Multiprocess(config, sockets=[]).run()
