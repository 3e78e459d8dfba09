"""How ``scenescout serve`` runs uvicorn: Nagle's algorithm off, one listening socket per
worker."""

from __future__ import annotations

import asyncio
import select
import socket
from typing import Any

import pytest

from scenescout.api.serving import (
    BALANCED,
    NO_DELAY_PROTOCOL,
    CoalescingTransport,
    NoDelayHttpProtocol,
    claim_port,
    reuse_port_socket,
    set_no_delay,
)


class _Transport:
    def __init__(self, sock: socket.socket | None) -> None:
        self.sock = sock

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return self.sock if name == "socket" else default


def test_an_accepted_connection_of_a_listener_bound_like_uvicorns_gets_no_delay() -> None:
    # uvicorn's --workers listener: proto left at 0, so asyncio would not set TCP_NODELAY.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        with socket.create_connection(listener.getsockname()) as client:
            accepted, _ = listener.accept()
            with accepted:
                assert accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 0
                set_no_delay(_Transport(accepted))  # type: ignore[arg-type]
                assert accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 1
                del client


def test_a_transport_without_a_tcp_socket_is_left_alone() -> None:
    set_no_delay(_Transport(None))  # type: ignore[arg-type]
    left, right = socket.socketpair(socket.AF_UNIX)
    with left, right:
        set_no_delay(_Transport(left))  # type: ignore[arg-type]


def test_the_import_string_names_the_protocol() -> None:
    module, name = NO_DELAY_PROTOCOL.split(":")
    imported = __import__(module, fromlist=[name])
    assert getattr(imported, name) is NoDelayHttpProtocol


@pytest.mark.skipif(not BALANCED, reason="SO_REUSEPORT balancing is Linux-only")
def test_connections_are_spread_over_the_workers_own_listening_sockets() -> None:
    first = reuse_port_socket("127.0.0.1", 0)
    port = first.getsockname()[1]
    second = reuse_port_socket("127.0.0.1", port)
    clients: list[socket.socket] = []
    with first, second:
        for listener in (first, second):
            listener.listen(128)
            listener.setblocking(False)
        try:
            # Spread by a hash of the client ports: all 64 on one socket has odds of 2**-63.
            clients = [socket.create_connection(("127.0.0.1", port)) for _ in range(64)]
            accepted = {first.fileno(): 0, second.fileno(): 0}
            while sum(accepted.values()) < len(clients):
                ready, _, _ = select.select([first, second], [], [], 5.0)
                assert ready, f"only {sum(accepted.values())} of {len(clients)} connections arrived"
                for listener in ready:
                    connection, _ = listener.accept()
                    connection.close()
                    accepted[listener.fileno()] += 1
        finally:
            for client in clients:
                client.close()
    assert all(count > 0 for count in accepted.values()), accepted


@pytest.mark.skipif(not BALANCED, reason="SO_REUSEPORT balancing is Linux-only")
def test_an_address_held_by_another_kind_of_listener_is_refused() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as plain:
        plain.bind(("127.0.0.1", 0))
        plain.listen()
        with pytest.raises(OSError):
            reuse_port_socket("127.0.0.1", plain.getsockname()[1]).close()


@pytest.mark.skipif(not BALANCED, reason="SO_REUSEPORT balancing is Linux-only")
def test_a_port_where_workers_of_another_server_listen_is_not_claimed() -> None:
    # A worker left behind by a killed server: its socket would happily share the port.
    with reuse_port_socket("127.0.0.1", 0) as stray:
        stray.listen()
        port = stray.getsockname()[1]
        with pytest.raises(OSError):
            claim_port("127.0.0.1", port).close()
    # Free again: claimed (bound, not listening), and the workers can join it.
    with claim_port("127.0.0.1", port), reuse_port_socket("127.0.0.1", port) as worker:
        worker.listen()


class _RecordingTransport:
    """The transport calls CoalescingTransport makes, recorded in order."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, bytes]] = []
        self.closing = False

    def write(self, data: bytes) -> None:
        self.calls.append(("write", data))

    def close(self) -> None:
        self.calls.append(("close", b""))
        self.closing = True

    def is_closing(self) -> bool:
        return self.closing

    def get_write_buffer_size(self) -> int:
        return 0

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return "peer" if name == "peername" else default


def test_writes_of_one_loop_step_leave_as_one_write() -> None:
    async def scenario() -> tuple[list[tuple[str, bytes]], list[tuple[str, bytes]], int]:
        inner = _RecordingTransport()
        outer = CoalescingTransport(inner, asyncio.get_running_loop())  # type: ignore[arg-type]
        outer.write(b"HTTP/1.1 200 OK\r\n\r\n")
        outer.write(memoryview(b"body"))
        before = list(inner.calls)
        buffered = outer.get_write_buffer_size()
        await asyncio.sleep(0)  # the loop runs the flush callback
        return before, inner.calls, buffered

    before, after, buffered = asyncio.run(scenario())
    assert before == []
    assert buffered == len(b"HTTP/1.1 200 OK\r\n\r\nbody")
    assert after == [("write", b"HTTP/1.1 200 OK\r\n\r\nbody")]


def test_close_sends_what_is_pending_first_and_other_calls_reach_the_transport() -> None:
    async def scenario() -> tuple[list[tuple[str, bytes]], Any]:
        inner = _RecordingTransport()
        outer = CoalescingTransport(inner, asyncio.get_running_loop())  # type: ignore[arg-type]
        outer.writelines([b"a", b"b"])
        outer.close()
        outer.write(b"late")  # after close: dropped, as a closed transport drops it
        await asyncio.sleep(0)
        return inner.calls, outer.get_extra_info("peername")

    calls, peer = asyncio.run(scenario())
    assert calls == [("write", b"ab"), ("close", b"")]
    assert peer == "peer"
