"""A minimal HTTP/1.1 keep-alive client on asyncio streams, for load generation.

It does only what the load benchmark needs (requests with a fixed set of headers, responses
framed by ``Content-Length``, chunked encoding or the end of the connection) at a fraction of
the CPU a general client spends per request: the load generator shares the server's cores, so
its own cost is taken from the server being measured (see ``benchmarks/http_load.py``).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from urllib.parse import urlsplit

_HEADER_END = b"\r\n\r\n"
_CRLF = b"\r\n"


class HttpError(Exception):
    """The server broke HTTP/1.1 framing, or closed the connection mid-response."""


class _ClosedBeforeAnswer(HttpError):
    pass


@dataclass(frozen=True, slots=True)
class Response:
    """A response: status code and the whole body (never decoded here)."""

    status: int
    body: bytes


@dataclass(frozen=True, slots=True)
class Origin:
    """Where requests go: ``http://host:port`` (HTTPS is not supported)."""

    host: str
    port: int

    @classmethod
    def from_url(cls, url: str) -> Origin:
        """The origin of an ``http://`` URL; a path in it is refused rather than dropped.

        Raises
        ------
        ValueError
            For another scheme, a missing host or a path.
        """
        parts = urlsplit(url)
        if parts.scheme != "http" or not parts.hostname:
            raise ValueError(f"expected a URL like http://127.0.0.1:8000, got {url!r}")
        if parts.path not in ("", "/") or parts.query:
            raise ValueError(f"give the server's origin without a path, got {url!r}")
        return cls(parts.hostname, parts.port or 80)

    @property
    def netloc(self) -> str:
        return f"{self.host}:{self.port}"


class Connection:
    """One keep-alive connection, reopened after the server closes it or an error.

    Requests on one connection run one at a time (no pipelining); use one connection per
    concurrent request.

    Parameters
    ----------
    origin
        The server.
    headers
        Sent with every request, e.g. ``{"Authorization": "Bearer ..."}``.
    timeout_s
        Limit for connecting and for each whole request.
    """

    def __init__(self, origin: Origin, headers: dict[str, str], timeout_s: float = 30.0) -> None:
        self.origin = origin
        self.timeout_s = timeout_s
        self._fixed_headers = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def request(self, method: str, path: str, body: bytes | None = None) -> Response:
        """Send one request and read its whole response.

        A kept-alive connection the server has closed meanwhile (it closes idle ones after a
        few seconds) is reopened and the request sent once more.

        Raises
        ------
        OSError
            When the server cannot be reached (the connection is reopened next time).
        HttpError
            When the response is not valid HTTP/1.1 or the connection dropped during it.
        TimeoutError
            When the request takes longer than ``timeout_s``.
        """
        try:
            async with asyncio.timeout(self.timeout_s):
                if self._writer is not None:
                    try:
                        return await self._exchange(method, path, body)
                    except _ClosedBeforeAnswer:
                        self.close()
                return await self._exchange(method, path, body)
        except BaseException:
            self.close()
            raise

    async def _exchange(self, method: str, path: str, body: bytes | None) -> Response:
        if self._writer is None:
            self._reader, self._writer = await asyncio.open_connection(
                self.origin.host, self.origin.port
            )
        reader, writer = self._reader, self._writer
        assert reader is not None
        head = f"{method} {path} HTTP/1.1\r\nHost: {self.origin.netloc}\r\n{self._fixed_headers}"
        if body is None:
            writer.write(f"{head}\r\n".encode())
        else:
            head += f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
            writer.write(head.encode() + body)
        try:
            raw_head = await reader.readuntil(_HEADER_END)
        except (asyncio.IncompleteReadError, ConnectionResetError, BrokenPipeError) as error:
            raise _ClosedBeforeAnswer(
                "the server closed the connection before answering"
            ) from error
        status, length, chunked, close = parse_head(raw_head)
        try:
            if chunked:
                payload = await _read_chunked(reader)
            elif length is not None:
                payload = await reader.readexactly(length)
            else:
                payload, close = await reader.read(), True
        except asyncio.IncompleteReadError as error:
            raise HttpError("the connection closed in the middle of a response body") from error
        if close:
            self.close()
        return Response(status, payload)

    def close(self) -> None:
        """Close the socket (the next request opens a new one)."""
        if self._writer is not None:
            self._writer.close()
        self._reader = self._writer = None


def parse_head(raw_head: bytes) -> tuple[int, int | None, bool, bool]:
    """Status line and headers of a response.

    Returns
    -------
    tuple
        ``(status, content_length, chunked, close)``: ``content_length`` is ``None`` when the
        header is absent; ``close`` when the server will close the connection after this
        response (``Connection: close`` or HTTP/1.0 without keep-alive).

    Raises
    ------
    HttpError
        When the status line or a framing header is malformed.
    """
    lines = raw_head.split(_CRLF)
    status_line = lines[0].split(b" ", 2)
    if len(status_line) < 2 or not status_line[0].startswith(b"HTTP/1."):
        raise HttpError(f"not an HTTP/1.x status line: {lines[0][:80]!r}")
    try:
        status = int(status_line[1])
    except ValueError:
        raise HttpError(f"bad status code in {lines[0][:80]!r}") from None
    length: int | None = None
    chunked = False
    keep_alive = status_line[0] != b"HTTP/1.0"
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"content-length":
            try:
                length = int(value)
            except ValueError:
                raise HttpError(f"bad Content-Length {value.strip()!r}") from None
        elif name == b"transfer-encoding":
            chunked = value.strip().lower().endswith(b"chunked")
        elif name == b"connection":
            tokens = {token.strip() for token in value.lower().split(b",")}
            keep_alive = b"keep-alive" in tokens or (keep_alive and b"close" not in tokens)
    return status, length, chunked, not keep_alive


async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
    parts: list[bytes] = []
    while True:
        size_line = await reader.readuntil(_CRLF)
        try:
            size = int(size_line.split(b";", 1)[0], 16)
        except ValueError:
            raise HttpError(f"bad chunk size line {size_line[:40]!r}") from None
        if size == 0:
            while await reader.readuntil(_CRLF) != _CRLF:  # trailers, up to the blank line
                pass
            return b"".join(parts)
        parts.append((await reader.readexactly(size + 2))[:-2])
