"""`python -m chatsite.serve [--server uvicorn|daphne] -b HOST -p PORT [-v N] [APP]`: chatsite's ASGI server.

uvicorn is the default (uvloop, httptools, websockets' sans-I/O protocol): on bench/fanout it opens
several times more authenticated sockets per second than daphne and holds them in less memory
(docs/performance.md). daphne stays one flag away, with daphne's other arguments passed through.

Either way every frame over MAX_FRAME_BYTES is refused the one documented way, a close frame with 1009:
daphne's own default drops the TCP connection, with no close frame, at 1 MiB and lets anything under
that reach the application. uvicorn reads no X-Forwarded-* headers here (daphne does not either):
chatsite applies NUM_PROXIES itself, and an address a proxy wrote is not trusted by default.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys

from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.extensions.permessage_deflate import ServerPerMessageDeflateFactory
from websockets.protocol import OPEN, Protocol
from websockets.server import ServerProtocol

from chatsite.socket_queue import SocketQueue

APP = "chatsite.asgi:application"
LOG_LEVELS = {0: "warning", 1: "info", 2: "debug"}  # daphne's -v


def _daphne(argv: list[str]) -> None:
    from daphne.cli import CommandLineInterface
    from daphne.server import Server

    class LimitedServer(Server):
        def __init__(self, *args, **kwargs):
            from chatsite.ws import MAX_FRAME_BYTES  # the application (and Django) is loaded by now

            kwargs["websocket_max_message_size"] = kwargs["websocket_max_frame_size"] = MAX_FRAME_BYTES
            ready = kwargs.get("ready_callable")

            def on_ready() -> None:
                # Autobahn's failByDrop=True would cut the connection without telling the client why.
                self.ws_factory.setProtocolOptions(failByDrop=False)
                if ready is not None:
                    ready()

            kwargs["ready_callable"] = on_ready
            super().__init__(*args, **kwargs)

    class LimitedCommandLineInterface(CommandLineInterface):
        server_class = LimitedServer

    LimitedCommandLineInterface().run(argv)


class SocketProtocol(WebSocketsSansIOProtocol):
    """uvicorn's websockets-sansio protocol, holding less for each open socket (5,000 idle ones per process).

    - The frames from the client wait in a SocketQueue (an asyncio.Queue is four deques, about 3 KB),
      which the consumer waits on together with its layer queue, with one future (chatsite.ws).
    - Flow control is a flag, and a future while a send waits, not an asyncio.Event (a deque, 760 bytes).
    - Once the handshake is answered, the parsed request and the response (their headers) are let go:
      websockets' parser kept the request in its generator's frame for the life of the connection.
    """

    _servers: dict[tuple[int, int], type[SocketProtocol]] = {}

    def __new__(cls, config, server_state, app_state, _loop=None):
        # What every connection of a server shares lives on a class made for that server: past 30
        # attributes an instance's dict stops sharing its keys with the others' (1.6 KB instead of 0.3).
        key = (id(config), id(server_state))
        if (server_class := cls._servers.get(key)) is None:
            if not config.loaded:
                config.load()
            shared = {
                "config": config,
                "app": staticmethod(config.loaded_app),  # a function: not to be bound to the protocol
                "loop": _loop or asyncio.get_event_loop(),
                "logger": logging.getLogger("uvicorn.error"),
                "root_path": config.root_path,
                "asgi_version": config.asgi_version,
                "app_state": app_state,
                "connections": server_state.connections,
                "tasks": server_state.tasks,
                "server_state": server_state,
                "close_timeout": 10.0,
                "ping_interval": config.ws_ping_interval,
                "ping_timeout": config.ws_ping_timeout,
            }
            server_class = cls._servers[key] = type(cls.__name__, (cls,), shared)
        return super().__new__(server_class)

    @property
    def default_headers(self) -> list[tuple[bytes, bytes]]:
        return self.server_state.default_headers  # uvicorn renews it every second (its Date header)

    def __init__(self, config, server_state, app_state, _loop=None):
        """uvicorn's WebSocketsSansIOProtocol.__init__ (0.54) for what is the connection's own."""
        self.transport = None
        self.server = self.client = self.scheme = None
        self.queue = SocketQueue()
        self.handshake_initiated = self.handshake_complete = self.close_sent = self.disconnected = False
        self.close_timer = self.initial_response = None
        extensions = []
        if config.ws_per_message_deflate:
            extensions = [
                ServerPerMessageDeflateFactory(
                    server_max_window_bits=12, client_max_window_bits=12, compress_settings={"memLevel": 5}
                )
            ]
        self.conn = ServerProtocol(extensions=extensions, max_size=config.ws_max_size, logger=self.logger)
        self.read_paused = False
        self.writable = _Writable()
        self.ping_timer = self.pong_timer = self.pending_ping_payload = None
        self.ping_sent_at = self.last_ping_rtt = 0.0
        self.frames = []
        self.curr_msg_data_type = "bytes"
        self.request = self.response = self.scope = None

    async def send(self, message) -> None:
        answering = not self.handshake_complete and message["type"] == "websocket.accept"
        await super().send(message)
        if answering and self.handshake_complete and self.conn.state is OPEN:
            self.request = self.response = None
            if not self.conn.reader.buffer:  # a client sends no frame before the 101: the parser holds none
                self.conn.parser = Protocol.parse(self.conn)
                next(self.conn.parser)

    def receive_nowait(self) -> dict:
        """receive() of a message already queued: what the consumer's own wait calls (asyncio.QueueEmpty if none)."""
        message = self.queue.get_nowait()
        if self.read_paused and self.queue.empty():
            self.read_paused = False
            self.transport.resume_reading()
        return message


class _Writable:
    """The set / clear / wait of asyncio.Event that uvicorn's flow control uses, without its deque."""

    __slots__ = ("ready", "waiters")

    def __init__(self) -> None:
        self.ready = True
        self.waiters: list[asyncio.Future] | None = None

    def is_set(self) -> bool:
        return self.ready

    def set(self) -> None:
        self.ready = True
        waiters, self.waiters = self.waiters, None
        for waiter in waiters or ():
            if not waiter.done():
                waiter.set_result(None)

    def clear(self) -> None:
        self.ready = False

    async def wait(self) -> None:
        while not self.ready:
            waiter = asyncio.get_running_loop().create_future()
            self.waiters = [*(self.waiters or ()), waiter]
            await waiter


def _uvicorn(host: str, port: int, verbosity: int, app: str) -> None:
    import uvicorn
    from uvicorn.importer import import_from_string

    application = import_from_string(app)  # loads Django (settings, apps) before chatsite.ws
    from chatsite.ws import MAX_FRAME_BYTES

    uvicorn.run(
        application,
        host=host,
        port=port,
        loop="uvloop",
        http="httptools",
        ws=SocketProtocol,  # websockets-sansio, lighter
        ws_max_size=MAX_FRAME_BYTES,
        lifespan="off",  # Django's ASGI handler has no lifespan
        proxy_headers=False,
        log_level=LOG_LEVELS.get(verbosity, "debug"),
        access_log=verbosity >= 1,
    )


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m chatsite.serve", description=__doc__.split("\n\n")[0])
    parser.add_argument("--server", choices=["uvicorn", "daphne"], default="uvicorn")
    parser.add_argument("-b", "--bind", default="127.0.0.1")
    parser.add_argument("-p", "--port", type=int, default=8000)
    parser.add_argument("-v", "--verbosity", type=int, default=1)
    args, rest = parser.parse_known_args(argv)
    if args.server == "daphne":
        _daphne(["-b", args.bind, "-p", str(args.port), "-v", str(args.verbosity), *(rest or [APP])])
        return
    if len(rest) > 1 or (rest and rest[0].startswith("-")):
        parser.error(f"uvicorn takes no further arguments here: {' '.join(rest)}")
    _uvicorn(args.bind, args.port, args.verbosity, rest[0] if rest else APP)


if __name__ == "__main__":
    main(sys.argv[1:])
