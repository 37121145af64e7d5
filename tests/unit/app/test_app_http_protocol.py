"""The served connections have Nagle's algorithm off, also on the socket uvicorn binds for several
workers (its protocol number is 0, which asyncio reads as "not TCP" and leaves Nagle on)."""

from __future__ import annotations

import asyncio
import socket

from uvicorn.config import Config
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import ServerState

from app.http_protocol import NoDelayHttpToolsProtocol
from app.serve import HTTP_PROTOCOL


async def _app(scope: dict, receive: object, send: object) -> None:  # never called: no request is sent
    raise AssertionError(scope)


def _nodelay_of_served_connection(protocol_class: type[HttpToolsProtocol]) -> int:
    config = Config(app=_app, http=protocol_class, lifespan="off", log_config=None)
    config.load()
    # As uvicorn binds for several workers: socket(family) alone, so its protocol number is 0.
    listener = socket.socket(socket.AF_INET)
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    client = socket.create_connection(listener.getsockname())
    served, _ = listener.accept()
    assert served.proto == 0

    async def serve() -> int:
        loop = asyncio.get_running_loop()
        state = ServerState()
        transport, _ = await loop.connect_accepted_socket(
            lambda: protocol_class(config=config, server_state=state, app_state={}), served
        )
        try:
            return served.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
        finally:
            transport.close()
            await asyncio.sleep(0)

    try:
        return asyncio.run(serve())
    finally:
        client.close()
        listener.close()


def test_the_served_connection_has_nodelay() -> None:
    assert _nodelay_of_served_connection(NoDelayHttpToolsProtocol) != 0


def test_uvicorns_own_protocol_leaves_nagle_on_there() -> None:
    # Why the subclass exists: without it such a connection keeps Nagle's algorithm.
    assert _nodelay_of_served_connection(HttpToolsProtocol) == 0


def test_uvicorn_loads_the_protocol_from_the_option() -> None:
    config = Config(app=_app, http=HTTP_PROTOCOL, loop="asyncio", lifespan="off", log_config=None)
    config.load()
    assert config.http_protocol_class is NoDelayHttpToolsProtocol
