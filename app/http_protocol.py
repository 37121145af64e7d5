"""uvicorn's httptools protocol, with TCP_NODELAY set on every connection it serves.

app/serve.py runs uvicorn on the standard library's event loop. asyncio turns Nagle's algorithm off
by itself only for sockets that say IPPROTO_TCP, and the listening socket uvicorn binds for several
workers says 0: a response's header and body, written apart, would then wait for the client's
delayed ACK, some 40 ms a request (measured with bench/app_bench.py: 1,450 req/s at 2 workers).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

INET = (socket.AF_INET, socket.AF_INET6)


class NoDelayHttpToolsProtocol(HttpToolsProtocol):
    def connection_made(self, transport: asyncio.Transport) -> None:
        sock = transport.get_extra_info("socket")
        if sock is not None and sock.family in INET:
            # OSError: the connection is already gone, which uvicorn finds out on its own.
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        super().connection_made(transport)
