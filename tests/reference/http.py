"""One HTTP call to the reference systems, for their tests."""

import json
import urllib.error
import urllib.request


def send(server, method, path, payload=None, key=None):
    """Send one request, with an Idempotency-Key if given; return (status, type, raw body)."""
    data = None if payload is None else json.dumps(payload).encode()
    headers = {"Content-Type": "application/json"}
    if key is not None:
        headers["Idempotency-Key"] = key
    request = urllib.request.Request(  # noqa: S310 - http on loopback only
        server.url + path, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:  # noqa: S310
            return answer.status, answer.headers["Content-Type"], answer.read()
    except urllib.error.HTTPError as error:
        with error:
            return error.code, error.headers["Content-Type"], error.read()


def call(server, method, path, payload=None, key=None):
    """Send one request; return (status, decoded JSON body)."""
    status, _, body = send(server, method, path, payload, key)
    return status, json.loads(body)
