"""An HTTP/1.1 proxy in front of the real S3 server that fails chosen requests.

Faults are injected at the protocol boundary, not by patching boto3: the client talks to
this proxy as if it were the server. Each client request is parsed (request line, headers,
``Content-Length`` body), forwarded unchanged to the upstream on a fresh connection, and the
response relayed back. The Host header is forwarded as sent, so SigV4 signatures stay valid.
``Expect: 100-continue`` is answered by the proxy itself, or, for a request chosen to fail,
answered with the failure before the body is sent (what a real overloaded server does).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from urllib.parse import parse_qs, urlsplit

FailRule = Callable[[str, str, dict[str, list[str]]], bool]
"""(method, path, query) → whether to answer 503 instead of forwarding."""
ResponseFault = Callable[[str, str], str | None]
"""(method, path) → what to do to the upstream's answer: None relays it; ``flip`` changes one
byte of the body (same length: only a checksum can tell); ``truncate`` sends half the body
under the full Content-Length, then closes; ``reset`` closes after the status line."""

_UNAVAILABLE = (
    b"HTTP/1.1 503 Service Unavailable\r\n"
    b"Content-Type: application/xml\r\n"
    b"Connection: close\r\n"
    b"Content-Length: %d\r\n\r\n%s"
)
_BODY = b"<Error><Code>ServiceUnavailable</Code><Message>injected</Message></Error>"


def fail_upload_part(part_number: int, times: int) -> tuple[FailRule, list[int]]:
    """A rule failing the first ``times`` UploadPart requests of ``part_number``."""
    seen = [0]

    def rule(method: str, _path: str, query: dict[str, list[str]]) -> bool:
        if method != "PUT" or query.get("partNumber") != [str(part_number)]:
            return False
        seen[0] += 1
        return seen[0] <= times

    return rule, seen


class FaultyProxy:
    """Runs on its own event loop thread; ``endpoint`` is what clients use."""

    def __init__(self, upstream: str, rule: FailRule,
                 response_fault: ResponseFault | None = None) -> None:
        parts = urlsplit(upstream)
        self._up_host = parts.hostname or "127.0.0.1"
        self._up_port = parts.port or 80
        self._rule = rule
        self._response_fault = response_fault
        self.failed = 0
        self.mangled = 0
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="faulty-proxy")
        self._server: asyncio.base_events.Server | None = None
        self.port = 0

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> FaultyProxy:
        self._thread.start()
        self._ready.wait(10)
        return self

    def stop(self) -> None:
        async def close() -> None:
            if self._server is not None:
                self._server.close()
            # Finish the per-connection tasks here, on the live loop, not at GC time.
            current = asyncio.current_task()
            tasks = [t for t in asyncio.all_tasks() if t is not current]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        asyncio.run_coroutine_threadsafe(close(), self._loop).result(5)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
        self._loop.close()

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._server = self._loop.run_until_complete(
            asyncio.start_server(self._serve, "127.0.0.1", 0)
        )
        self.port = self._server.sockets[0].getsockname()[1]
        self._ready.set()
        self._loop.run_forever()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                method, target, _version = lines[0].split(" ", 2)
                headers = [line for line in lines[1:] if line]
                names = {h.split(":", 1)[0].strip().lower(): h for h in headers}
                length = int(names["content-length"].split(":", 1)[1]) if (
                    "content-length" in names
                ) else 0
                url = urlsplit(target)
                if self._rule(method, url.path, parse_qs(url.query)):
                    self.failed += 1
                    writer.write(_UNAVAILABLE % (len(_BODY), _BODY))
                    await writer.drain()
                    return  # Connection: close; the client never sent (or we drop) the body
                if "expect" in names:
                    writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
                    await writer.drain()
                    headers = [h for h in headers if not h.lower().startswith("expect:")]
                body = await reader.readexactly(length) if length else b""
                fault = self._response_fault(method, url.path) if self._response_fault else None
                await self._forward(method, target, headers, body, writer, fault)
                if fault is not None:
                    return  # the connection ends with the damaged answer
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.CancelledError):
            pass
        finally:
            writer.close()

    async def _forward(
        self,
        method: str,
        target: str,
        headers: list[str],
        body: bytes,
        client: asyncio.StreamWriter,
        fault: str | None = None,
    ) -> None:
        up_reader, up_writer = await asyncio.open_connection(self._up_host, self._up_port)
        try:
            kept = [h for h in headers if not h.lower().startswith("connection:")]
            request = f"{method} {target} HTTP/1.1\r\n" + "\r\n".join(
                [*kept, "Connection: close"]
            ) + "\r\n\r\n"
            up_writer.write(request.encode("latin-1") + body)
            await up_writer.drain()
            # Upstream closes after the response (Connection: close): relay until EOF,
            # rewriting its Connection header so the client may keep its connection.
            head = await up_reader.readuntil(b"\r\n\r\n")
            status_and_headers = [
                line
                for line in head.decode("latin-1").split("\r\n")
                if line and not line.lower().startswith("connection:")
            ]
            has_length = any(h.lower().startswith("content-length:") for h in status_and_headers)
            chunked = any(
                h.lower().startswith("transfer-encoding:") and "chunked" in h.lower()
                for h in status_and_headers
            )
            rest = await up_reader.read()
            if not has_length and not chunked and method != "HEAD":
                status_and_headers.append(f"Content-Length: {len(rest)}")
            ok = status_and_headers[0].split(" ")[1].startswith("2")
            if fault and ok and rest:
                self.mangled += 1
                if fault == "flip":
                    rest = rest[: len(rest) // 2] + bytes([rest[len(rest) // 2] ^ 1]) + rest[
                        len(rest) // 2 + 1:]
                elif fault == "truncate":
                    rest = rest[: len(rest) // 2]
                elif fault == "reset":
                    client.write((status_and_headers[0] + "\r\n").encode("latin-1"))
                    await client.drain()
                    client.transport.abort()
                    return
            client.write(("\r\n".join(status_and_headers) + "\r\n\r\n").encode("latin-1") + rest)
            await client.drain()
        finally:
            up_writer.close()
