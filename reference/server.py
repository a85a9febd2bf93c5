"""Serve an app on loopback in a background thread that can be stopped and started again."""

import threading

from werkzeug.serving import BaseWSGIServer
from werkzeug.serving import WSGIRequestHandler
from werkzeug.serving import make_server

HOST = "127.0.0.1"
# how often serve_forever looks for shutdown(): stop() takes up to this long
POLL_INTERVAL = 0.05


class _QuietHandler(WSGIRequestHandler):
    """Close the connection after each answer and log no access lines.

    HTTP/1.0 means no keep-alive connection can outlive stop(): after it, nothing answers.
    """

    protocol_version = "HTTP/1.0"

    def log_request(self, code="-", size="-") -> None:
        """Skip the access log line."""


class ReferenceServer:
    """A threaded werkzeug server for app on 127.0.0.1; port 0 picks a free port once."""

    def __init__(self, app, port: int = 0) -> None:
        """Remember the app and the port; nothing listens until start()."""
        self.app = app
        self._port = port
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        """Return the port (the chosen one once port 0 has been started)."""
        return self._port

    @property
    def url(self) -> str:
        """Return the base URL, e.g. http://127.0.0.1:5001."""
        return f"http://{HOST}:{self._port}"

    @property
    def running(self) -> bool:
        """Return True between start() and stop()."""
        return self._server is not None

    def start(self) -> "ReferenceServer":
        """Listen on the port (the same one again after stop()) and serve in a daemon thread."""
        if self._server is not None:
            raise RuntimeError(f"already serving at {self.url}")
        server = make_server(HOST, self._port, self.app, threaded=True,
                             request_handler=_QuietHandler)
        self._port = server.server_port
        self._thread = threading.Thread(target=server.serve_forever, args=(POLL_INTERVAL,),
                                        daemon=True, name=f"reference-server-{self._port}")
        self._server = server
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and release the port; new connections are refused."""
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()
        self._server = None
        self._thread = None

    def __enter__(self) -> "ReferenceServer":
        """Start serving."""
        return self.start()

    def __exit__(self, *_exc) -> None:
        """Stop serving."""
        self.stop()
