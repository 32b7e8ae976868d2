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
import sys

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
        ws="websockets-sansio",
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
