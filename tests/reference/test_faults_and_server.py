"""Injected faults, stopping and restarting the server, and the command line."""

import json
import subprocess
import sys
import time
import urllib.error
import urllib.request

import flask
import pytest

from reference import create_app
from reference.server import ReferenceServer
from tests.reference.http import call
from tests.reference.http import send

PERSON = "/gbdfl/persons/900115300003"
INVOICE = {"payer_iin_bin": "150140000012", "service": "survey_license", "amount_mci": 1}


def arm(server, **fault):
    """Arm a fault through /_control/faults."""
    status, body = call(server, "POST", "/_control/faults", fault)
    assert status == 201, body


def test_error_fault_hits_count_requests_of_its_system_only(service):
    arm(service, system="gbdfl", mode="error", count=2)
    assert call(service, "GET", "/gbdul/companies/150140000012")[0] == 200
    assert call(service, "GET", PERSON)[0] == 503
    assert call(service, "GET", PERSON)[0] == 503
    assert call(service, "GET", PERSON)[0] == 200


def test_slow_fault_delays_then_answers(service):
    arm(service, system="pep", mode="slow", count=1, delay=0.5)
    started = time.monotonic()
    status, invoice = call(service, "GET", "/pep/invoices/PEP-DEMO-PAID")
    assert time.monotonic() - started >= 0.5
    assert (status, invoice["status"]) == (200, "paid")
    started = time.monotonic()
    assert call(service, "GET", "/pep/invoices/PEP-DEMO-PAID")[0] == 200
    assert time.monotonic() - started < 0.5


def test_garbage_fault_answers_html(service):
    arm(service, system="elicense", mode="garbage")
    assert send(service, "GET", "/elicense/licences?holder=150140000012") == (
        200, "text/html; charset=utf-8", b"<html>oops")
    assert call(service, "GET", "/elicense/licences?holder=150140000012") == (200, [])


def test_wrong_schema_fault_answers_unexpected_json(service):
    arm(service, system="portal", mode="wrong_schema", count=1)
    status, content_type, body = send(service, "GET", "/portal/sessions/x")
    assert (status, content_type, json.loads(body)) == (
        200, "application/json", {"unexpected": True})
    assert call(service, "GET", "/portal/sessions/x")[0] == 404


def test_faulted_post_changes_nothing(service):
    arm(service, system="pep", mode="error")
    assert call(service, "POST", "/pep/invoices", INVOICE)[0] == 503
    year_number = call(service, "POST", "/pep/invoices", INVOICE)[1]["invoice_number"]
    assert year_number.endswith("-000001")


def test_clearing_faults(service):
    arm(service, system="gbdul", mode="error", count=5)
    assert call(service, "DELETE", "/_control/faults") == (200, {"cleared": True})
    assert call(service, "GET", "/gbdul/companies/150140000012")[0] == 200


@pytest.mark.parametrize("fault", [
    {"system": "nca", "mode": "error"},
    {"system": "pep", "mode": "explode"},
    {"system": "pep", "mode": "error", "count": 0},
    {"system": "pep", "mode": "slow", "delay": -1},
])
def test_bad_fault_is_refused(service, fault):
    status, body = call(service, "POST", "/_control/faults", fault)
    assert (status, body["error"]) == (400, "bad_request")


def test_no_control_without_faults(database):
    with ReferenceServer(create_app(database)) as server:
        fault = {"system": "pep", "mode": "error"}
        assert call(server, "POST", "/_control/faults", fault)[0] == 404


def test_stop_refuses_connections_and_start_serves_the_same_data(service, database):
    number = call(service, "POST", "/pep/invoices", INVOICE)[1]["invoice_number"]
    url = service.url
    service.stop()
    with pytest.raises(urllib.error.URLError) as refused:
        call(service, "GET", PERSON)
    assert isinstance(refused.value.reason, ConnectionRefusedError)
    service.start()
    assert service.url == url
    assert call(service, "GET", f"/pep/invoices/{number}")[0] == 200
    service.stop()
    with ReferenceServer(create_app(database), port=service.port) as fresh:
        assert fresh.url == url
        assert call(fresh, "GET", f"/pep/invoices/{number}")[0] == 200
    service.start()


def test_start_twice_is_an_error(service):
    with pytest.raises(RuntimeError):
        service.start()


def test_extra_blueprints_are_served(database):
    extra = flask.Blueprint("nca", __name__, url_prefix="/nca")
    extra.add_url_rule("/ping", "ping", lambda: {"pong": True})
    with ReferenceServer(create_app(database, extra_blueprints=[extra])) as server:
        assert call(server, "GET", "/nca/ping") == (200, {"pong": True})


def test_unexpected_error_answers_json_without_traceback(database):
    extra = flask.Blueprint("broken", __name__, url_prefix="/broken")
    extra.add_url_rule("/", "boom", lambda: 1 / 0)
    with ReferenceServer(create_app(database, extra_blueprints=[extra])) as server:
        status, content_type, body = send(server, "GET", "/broken/")
    assert (status, content_type) == (500, "application/json")
    assert json.loads(body)["error"] == "internal_error"
    assert b"Traceback" not in body


@pytest.mark.parametrize("arguments", [["--port", "x"], ["--port", "70000"], ["--bogus"],
                                       ["--database", "nonsense://"]])
def test_command_line_rejects_bad_arguments_in_one_line(arguments):
    done = subprocess.run([sys.executable, "-m", "reference", *arguments], capture_output=True,
                          text=True, timeout=60, check=False)
    assert done.returncode == 2
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr


def test_command_line_serves_until_killed(tmp_path):
    database = f"sqlite:///{tmp_path}/instance/reference.sqlite"
    with subprocess.Popen([sys.executable, "-m", "reference", "--port", "0",
                           "--database", database], stdout=subprocess.PIPE, text=True) as proc:
        try:
            line = proc.stdout.readline().strip()
            url = line.split()[-1]
            assert url.startswith("http://127.0.0.1:")
            with urllib.request.urlopen(url + PERSON, timeout=10) as answer:  # noqa: S310
                assert json.loads(answer.read())["surname"] == "Abenov"
        finally:
            proc.terminate()
            proc.wait(timeout=10)
