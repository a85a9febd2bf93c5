"""Through the README's run command: attacks are refused on the real server, and stopping the
command stops everything it started (finding 12)."""

import json
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "qyzmet-demo"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def _request(url, *, data=None, headers=None, method=None):
    """Return (status, headers, body) without following redirects."""
    opener = urllib.request.build_opener(_NoRedirect)
    request = urllib.request.Request(url, data=data, headers=headers or {}, method=method)
    try:
        with opener.open(request, timeout=10) as answer:
            return answer.status, answer.headers, answer.read()
    except urllib.error.HTTPError as err:
        return err.code, err.headers, err.read()


@pytest.fixture(scope="module")
def served():
    """Run `./qyzmet serve` on free ports; yield (base URL, process, ports)."""
    port, reference_port = _free_port(), _free_port()
    process = subprocess.Popen(
        [str(ROOT / "qyzmet"), "serve", "--port", str(port), "--reference-port",
         str(reference_port)], cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True)
    deadline = time.monotonic() + 120
    while not _listening(port):
        assert process.poll() is None, "./qyzmet serve ended early"
        assert time.monotonic() < deadline, "./qyzmet serve did not answer in 120 s"
        time.sleep(0.3)
    yield f"http://127.0.0.1:{port}", process, (port, reference_port)
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGKILL)


def test_attacks_are_refused_by_the_running_server(served):
    base = served[0]
    login = f"{base}/login?next=/%09/evil.example"
    form = f"username=operator&password={PASSWORD}".encode()
    status, _, _ = _request(login, data=form, headers={
        "Content-Type": "application/x-www-form-urlencoded"})
    assert status == 400  # no session, no CSRF token
    body = json.dumps({"username": "head", "password": "wrong"}).encode()
    codes = [_request(f"{base}/api/v1/auth/token", data=body,
                      headers={"Content-Type": "application/json"})[0] for _ in range(8)]
    assert codes[:5] == [401] * 5 and set(codes[5:]) == {429}
    deep = b'{"username": ' + b"[" * 10_000 + b"]" * 10_000 + b"}"
    status, headers, _ = _request(f"{base}/api/v1/auth/token", data=deep,
                                  headers={"Content-Type": "application/json"})
    assert status in (400, 429)
    assert headers["X-Frame-Options"] == "DENY"


def _api(base, method, path, token=None, *, body=None, raw=None):
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    status, _, answer = _request(f"{base}/api/v1{path}", data=data, headers=headers,
                                 method=method)
    return status, (json.loads(answer) if answer else None)


def test_the_api_refuses_hostile_input_on_the_running_server(served):
    base = served[0]
    operator = _api(base, "POST", "/auth/token",
                    body={"username": "operator", "password": PASSWORD})[1]["token"]
    portal = _api(base, "POST", "/auth/token",
                  body={"username": "portal", "password": PASSWORD})[1]["token"]
    process = "survey_license_east_kazakhstan_2016"
    start = {"applicant_iin_bin": "150140000012", "licence_case": "issue"}
    surrogate = b'{"process": "%s", "data": {"applicant_iin_bin": "\\ud800"}}' % process.encode()
    assert _api(base, "POST", "/instances", operator, raw=surrogate)[0] == 422
    fee = _api(base, "POST", "/instances", operator,
               body={"process": process, "data": {**start, "fee_mci": 1}})
    assert fee[0] == 422 and "fee_mci" in fee[1]["errors"]
    status, started = _api(base, "POST", "/instances", operator,
                           body={"process": process, "data": start})
    assert status == 201
    assert _api(base, "GET", f"/instances/{started['id']}", portal)[0] == 404
    tasks, deadline = [], time.monotonic() + 20  # the registry look-up runs as a job first
    while not tasks and time.monotonic() < deadline:
        tasks = _api(base, "GET", f"/tasks?instance={started['id']}&state=ready", operator)[1]
        time.sleep(0.1)
    for _ in range(5):
        assert _api(base, "POST", f"/tasks/{tasks[0]['id']}/claim", operator)[0] == 200
    history = _api(base, "GET", f"/instances/{started['id']}/history", operator)[1]
    assert [e["type"] for e in history].count("task_claimed") == 1
    assert _api(base, "DELETE", "/auth/token", operator)[0] == 204
    assert _api(base, "GET", "/processes", operator)[0] == 401


def test_stopping_the_run_command_stops_the_server_and_the_reference_systems(served):
    _, process, ports = served
    os.kill(process.pid, signal.SIGTERM)
    process.wait(timeout=30)
    deadline = time.monotonic() + 15
    while any(_listening(p) for p in ports) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not any(_listening(p) for p in ports)
