"""`python -m chatsite.serve [daphne's arguments] chatsite.asgi:application`: daphne with chatsite's frame limit.

Daphne's own default drops the TCP connection, with no close frame, on a WebSocket message over 1 MiB,
and lets anything under that reach the application. Here every frame over MAX_FRAME_BYTES is refused
the one documented way, as uvicorn does with `--ws-max-size`: a close frame with code 1009.
"""

from __future__ import annotations

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


if __name__ == "__main__":
    LimitedCommandLineInterface.entrypoint()
