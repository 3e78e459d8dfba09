"""The HTTP protocol ``scenescout serve`` runs turns Nagle's algorithm off."""

from __future__ import annotations

import socket
from typing import Any

from scenescout.api.serving import NO_DELAY_PROTOCOL, NoDelayHttpProtocol, set_no_delay


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
