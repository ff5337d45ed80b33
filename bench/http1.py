"""Just enough HTTP/1.1 for bench/load.py's load generator, over keep-alive connections: a client that sends one
request at a time and reads the status, and the response_url receiver. aiohttp's client and server cost the cores
the bench shares with the bot processes several times what these do, and everything they do beyond this
(redirects, cookies, compression, pooling, routing) is unused here.
"""

from __future__ import annotations

import asyncio


def _head(data: bytearray) -> tuple[str, dict[str, str], int] | None:
    """The first line, the headers (lower-case names) and where the body starts, once a whole head has arrived."""
    end = data.find(b"\r\n\r\n")
    if end < 0:
        return None
    first, *lines = data[:end].decode("latin-1").split("\r\n")
    headers = {}
    for line in lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return first, headers, end + 4


class AnswerProtocol(asyncio.Protocol):
    """POST /response/<key> over keep-alive HTTP/1.1: resolve the key's waiter, answer 200 "ok" as Slack does."""

    def __init__(self, waiting: dict[str, asyncio.Future[None]]) -> None:
        self.waiting = waiting
        self.data = bytearray()
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.data += data
        while self.transport is not None and (head := _head(self.data)) is not None:
            first, headers, start = head
            length = int(headers.get("content-length", "0"))
            if len(self.data) < start + length:
                return
            del self.data[:start + length]
            future = self.waiting.pop(first.split(" ")[1].rsplit("/", 1)[-1], None)
            if future is not None and not future.done():
                future.set_result(None)
            self.transport.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\n"
                                 b"Content-Length: 2\r\n\r\nok")
            if headers.get("connection", "").lower() == "close":
                self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None


class _ClientProtocol(asyncio.Protocol):
    """One keep-alive HTTP/1.1 connection to a bot, one request at a time (each member waits for its answer)."""

    def __init__(self) -> None:
        self.data = bytearray()
        self.transport: asyncio.Transport | None = None
        self.status: asyncio.Future[int] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.data += data
        head = _head(self.data)
        if head is None or self.status is None or self.status.done():
            return
        first, headers, start = head
        if "chunked" in headers.get("transfer-encoding", ""):
            end = self.data.find(b"0\r\n\r\n", start)
            if end < 0:
                return
            start, length = end + 5, 0
        else:
            length = int(headers.get("content-length", "0"))
        if len(self.data) < start + length:
            return
        del self.data[:start + length]
        self.status.set_result(int(first.split(" ")[1]))
        if headers.get("connection", "").lower() == "close" and self.transport is not None:
            self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        if self.status is not None and not self.status.done():
            self.status.set_exception(ConnectionError("the bot closed the connection"))


class Connection:
    """A member's connection to one bot process, opened on first use and again after a failure."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.protocol: _ClientProtocol | None = None

    async def post(self, head: bytes, body: bytes) -> int:
        """Send one request (`head` is everything before the body) and return the response's status."""
        if self.protocol is None or self.protocol.transport is None:
            _, self.protocol = await asyncio.get_running_loop().create_connection(
                _ClientProtocol, "127.0.0.1", self.port)
        protocol = self.protocol
        assert protocol.transport is not None
        protocol.status = asyncio.get_running_loop().create_future()
        protocol.transport.write(head + body)
        return await protocol.status

    def close(self) -> None:
        if self.protocol is not None and self.protocol.transport is not None:
            self.protocol.transport.close()
        self.protocol = None
