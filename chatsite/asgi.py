"""ASGI entry point: HTTP through Django, WebSockets through Channels (same origin, signed-in users)."""

import asyncio
import gc
import logging
import os
import signal
import sys
import threading

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chatsite.settings")

from chatsite.env import ConfigError

try:
    from django.core.asgi import get_asgi_application

    django_asgi_app = get_asgi_application()
except ConfigError as exc:
    sys.exit(f"chatsite: configuration error: {exc}")

from channels.routing import ProtocolTypeRouter, URLRouter
from django.conf import settings

from chatsite.origin import SameOriginValidator
from chatsite.routing import websocket_urlpatterns

logger = logging.getLogger("chatsite.asgi")

if settings.DEBUG:
    from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler

    django_asgi_app = ASGIStaticFilesHandler(django_asgi_app)


def _let_daphne_send_restart_codes() -> None:
    """daphne's autobahn refuses close codes 1012 (restart) and 1013 (try again later), though both
    are registered for servers to send (IANA): send their close frame directly instead.

    Only under daphne (its server module is loaded before the application): importing its protocol
    under uvicorn would load Twisted and autobahn into a process that never uses them.
    """
    if "daphne.server" not in sys.modules:  # uvicorn sends them as they are
        return
    from daphne.ws_protocol import WebSocketProtocol

    server_close = WebSocketProtocol.serverClose

    def serverClose(self, code=None):
        if code in (1012, 1013):
            self.sendCloseFrame(code=code, isReply=False)
        else:
            server_close(self, code)

    WebSocketProtocol.serverClose = serverClose


_let_daphne_send_restart_codes()


def _install_graceful_shutdown() -> None:
    """On SIGTERM: every socket finishes its frame in hand and is closed with 1012, then the server stops.

    daphne (Twisted's asyncio reactor) left SIGTERM unhandled once a socket was open, and its own
    shutdown cancels consumers without a close frame (clients saw 1006). uvicorn sends 1012 itself,
    but at once, before an in-flight frame's acknowledgement is back: its handler runs after ours.
    """
    loop = asyncio.get_running_loop()
    previous = signal.getsignal(signal.SIGTERM)

    async def drain_and_stop() -> None:
        from chatsite.ws import ashut_down_all

        logger.warning("SIGTERM: closing every socket with 1012, then stopping")
        try:
            await ashut_down_all()
            await asyncio.sleep(0.2)  # the close frames leave before the server drops connections
        finally:
            if _under_daphne():
                from twisted.internet import reactor

                reactor.stop()
            elif callable(previous):
                previous(signal.SIGTERM, None)  # uvicorn's own shutdown
            else:
                raise SystemExit(0)

    def on_sigterm(signum, frame) -> None:
        signal.signal(signal.SIGTERM, previous if callable(previous) else signal.SIG_DFL)  # a second one is final
        loop.call_soon_threadsafe(lambda: loop.create_task(drain_and_stop()))

    signal.signal(signal.SIGTERM, on_sigterm)


def _under_daphne() -> bool:
    # daphne itself or chatsite.serve (daphne with the frame limit): a Twisted reactor serving daphne.
    return "twisted.internet.reactor" in sys.modules and "daphne.server" in sys.modules and not _under_uvicorn()


def _under_uvicorn() -> bool:
    return "uvicorn.server" in sys.modules


_router = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        # No session or auth middleware: the consumer reads the session cookie and signs in from it in the
        # same DB call that authorizes it (chatsite.ws).
        "websocket": SameOriginValidator(URLRouter(websocket_urlpatterns)),
    }
)
_signals_installed = False

# A loaded server holds hundreds of thousands of long-lived objects (Django, the apps, their modules): a
# full collection walked them all with the event loop stopped, 100-130 ms on this project's bench machine,
# which was the fan-out bench's p99 at any load (docs/performance.md). Frozen here, collections skip them.
gc.collect()
gc.freeze()


async def application(scope, receive, send):
    global _signals_installed
    if not _signals_installed:
        # Installed from inside the server's event loop, on its first connection.
        _signals_installed = True
        if threading.current_thread() is threading.main_thread() and (_under_daphne() or _under_uvicorn()):
            _install_graceful_shutdown()
    return await _router(scope, receive, send)
