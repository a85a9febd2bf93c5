"""Does a start wait for a state system? `POST /api/v1/instances` with GBD frozen.

The reference registries are told to stall every request (fault injection, longer than the
adapter's timeout), and N applications are started through the API with the embedded job
workers running, as `./qyzmet serve` runs them. Printed: the start's latency with GBD frozen,
with GBD answering, the start's own write path (an app with no workers: validation, engine,
one transaction) and the floor — one local write of the same size (an INSERT and COMMIT
into the same SQLite database, `synchronous=FULL`) — with the ratios. Before service tasks
became jobs, a start with GBD frozen took 15.9 s (the retries slept inside the request).

    .venv/bin/python -m bench.frozen_start [--starts N] [--json]
"""

import argparse
import contextlib
import io
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

from sqlalchemy import text

import reference
from app import create_app
from app.cli import prepare_demo
from app.models import db
from bench.wsgi import WsgiClient
from reference import control
from reference import nca
from reference.server import ReferenceServer

PROCESS = "survey_license_east_kazakhstan_2016"
START = {"applicant_iin_bin": "150140000012", "licence_case": "issue"}
PASSWORD = "bench-password"


def make_apps(folder: Path, systems: ReferenceServer) -> tuple:
    """Return (an app with no job workers, one with embedded workers as `serve` runs it)."""
    config = {
        "TESTING": True, "SECRET_KEY": "bench-secret",
        "SQLALCHEMY_DATABASE_URI": f"sqlite:///{folder}/qyzmet.sqlite",
        "REFERENCE_URL": systems.url, "PKI_DIR": str(folder / "pki"),
        "TRUST_CHAIN": str(folder / "pki" / "ca-chain.pem"), "KEYS_DIR": str(folder / "keys"),
        "STATE_SYSTEM_TIMEOUT": 2.0, "RETRY_DELAY": 5.0,
        "PASSWORD_HASH_METHOD": "pbkdf2:sha256:1000"}
    setup = create_app({**config, "JOBS": "off"})  # the schema first, as `serve` does
    with setup.app_context(), contextlib.redirect_stdout(io.StringIO()):
        prepare_demo(PASSWORD)
    return setup, create_app({**config, "JOBS": "embedded"})


def starts(client, headers, n: int) -> list[float]:
    """Start `n` applications; return each request's seconds (all must answer 201 running)."""
    seconds = []
    for _ in range(n):
        t0 = time.perf_counter()
        answer = client.post("/api/v1/instances", json={"process": PROCESS, "data": START},
                             headers=headers)
        seconds.append(time.perf_counter() - t0)
        if answer.status_code != 201 or answer.get_json()["status"] != "running":
            raise SystemExit(f"start failed: {answer.status_code} {answer.get_json()}")
    return seconds


def local_writes(app, n: int, size: int) -> list[float]:
    """Time `n` single-row INSERT + COMMITs of `size` bytes into the app's own database."""
    seconds = []
    with app.app_context():
        with db.engine.begin() as conn:
            conn.execute(text("CREATE TABLE IF NOT EXISTS bench_write (id INTEGER PRIMARY KEY, "
                              "body TEXT NOT NULL)"))
        for _ in range(n):
            t0 = time.perf_counter()
            with db.engine.begin() as conn:
                conn.execute(text("INSERT INTO bench_write (body) VALUES (:body)"),
                             {"body": "x" * size})
            seconds.append(time.perf_counter() - t0)
    return seconds


def state_size(app) -> int:
    """Return the median size in bytes of the instance rows' state."""
    with app.app_context(), db.engine.connect() as conn:
        sizes = conn.execute(text("SELECT length(state) FROM process_instance")).scalars().all()
    return int(statistics.median(sizes))


def measure(n: int) -> dict:
    """Run the three sides and return their medians and p95s in milliseconds."""
    with tempfile.TemporaryDirectory(prefix="qyzmet-bench-") as folder:
        folder = Path(folder)
        nca.ensure_pki(str(folder / "pki"))
        systems = ReferenceServer(reference.create_app(
            f"sqlite:///{folder}/reference.sqlite", faults=True,
            extra_blueprints=[nca.create_blueprint(str(folder / "pki"))])).start()
        try:
            quiet, app = make_apps(folder, systems)
            client = WsgiClient(app)
            token = client.post("/api/v1/auth/token", json={"username": "operator",
                                                           "password": PASSWORD}, headers={})
            headers = {"Authorization": f"Bearer {token.get_json()['token']}"}
            starts(WsgiClient(quiet), headers, 5)  # warm up: parse caches, connections
            write_path = starts(WsgiClient(quiet), headers, n)  # nothing runs the jobs
            starts(client, headers, 5)
            healthy = starts(client, headers, n)
            board = systems.app.extensions[control.EXTENSION]
            board.arm("gbdul", control.Fault("slow", 10 * n, 30.0))
            frozen = starts(client, headers, n)
            writes = local_writes(app, n, state_size(app))
            app.extensions["qyzmet"].jobs.stop.set()
        finally:
            systems.stop()
    return {"n": n, "frozen": _stats(frozen), "healthy": _stats(healthy),
            "write_path": _stats(write_path), "local_write": _stats(writes)}


def _stats(seconds: list[float]) -> dict:
    ordered = sorted(seconds)
    return {"median_ms": round(statistics.median(ordered) * 1000, 3),
            "p95_ms": round(ordered[int(0.95 * (len(ordered) - 1))] * 1000, 3)}


def main(argv=None) -> int:
    """Measure and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--starts", type=int, default=50, help="starts per side (default 50)")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)
    result = measure(args.starts)
    floor = result["local_write"]["median_ms"]
    result["ratio_frozen"] = round(result["frozen"]["median_ms"] / floor, 2)
    result["ratio_healthy"] = round(result["healthy"]["median_ms"] / floor, 2)
    result["frozen_over_write_path"] = round(
        result["frozen"]["median_ms"] / result["write_path"]["median_ms"], 2)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(f"starts per side: {result['n']}")
        for side in ("frozen", "healthy", "write_path", "local_write"):
            stats = result[side]
            print(f"  {side:12} median {stats['median_ms']:8.2f} ms"
                  f"   p95 {stats['p95_ms']:8.2f} ms")
        print(f"start with GBD frozen / one local write: {result['ratio_frozen']}× "
              "(before jobs the start waited: 15,900 ms)")
        print(f"start with GBD answering / one local write: {result['ratio_healthy']}×")
        print(f"start with GBD frozen / the start's own write path (no workers): "
              f"{result['frozen_over_write_path']}×")
    return 0


if __name__ == "__main__":
    sys.exit(main())
