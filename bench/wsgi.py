"""Call a WSGI app the way a WSGI server does: one environ per request, nothing else.

Werkzeug's test client adds its own machinery to every request (EnvironBuilder, a cookie jar,
response wrapping) that a server such as waitress does not run; this client builds the
environ from the request line, headers and body and calls the app, so what is timed is the
application's own request handling.
"""

import io
import json
from urllib.parse import urlsplit


class Answer:
    """The status and JSON body of one response."""

    def __init__(self, status: str, body: bytes):
        self.status_code = int(status.split(" ", 1)[0])
        self.body = body

    def get_json(self):
        """Return the body parsed as JSON."""
        return json.loads(self.body)


class WsgiClient:
    """A minimal WSGI caller with the test client's get/post signature."""

    def __init__(self, app):
        self.app = app

    def _call(self, method: str, url: str, headers: dict, body: bytes = b"") -> Answer:
        parts = urlsplit(url)
        environ = {
            "REQUEST_METHOD": method, "SCRIPT_NAME": "", "PATH_INFO": parts.path,
            "QUERY_STRING": parts.query, "SERVER_NAME": "127.0.0.1", "SERVER_PORT": "5000",
            "SERVER_PROTOCOL": "HTTP/1.1", "REMOTE_ADDR": "127.0.0.1",
            "wsgi.version": (1, 0), "wsgi.url_scheme": "http", "wsgi.input": io.BytesIO(body),
            "wsgi.errors": io.StringIO(), "wsgi.multithread": True, "wsgi.multiprocess": False,
            "wsgi.run_once": False, "CONTENT_LENGTH": str(len(body)),
            "CONTENT_TYPE": "application/json" if body else "",
        }
        for name, value in headers.items():
            environ["HTTP_" + name.upper().replace("-", "_")] = value
        status = []
        chunks = self.app(environ, lambda s, h, exc_info=None: status.append(s))
        try:
            payload = b"".join(chunks)
        finally:
            getattr(chunks, "close", lambda: None)()
        return Answer(status[0], payload)

    def get(self, url: str, headers: dict) -> Answer:
        """Send a GET."""
        return self._call("GET", url, headers)

    def post(self, url: str, json: dict, headers: dict) -> Answer:  # noqa: A002 - test-client name
        """Send a POST with a JSON body."""
        return self._call("POST", url, headers, globals()["json"].dumps(json).encode())
