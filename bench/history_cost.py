"""How a case's cost grows with its history: a 1,000-round corrections loop through the API.

An executor corrects one application N times (bench/corrections/corrections_loop.bpmn: a user
task in a loop) through Qyzmet's API. Printed, against targets from issue 7:

- the cost of the last completions ÷ the first (target ≤ 3×): does a long history slow a case?
- bytes of workflow state written per completion ÷ bytes of the submitted data (target
  ≤ 1.5×), the mean over the run: is the whole workflow rewritten on every step? (It is
  written every `STATE_SNAPSHOT_EVERY` journal entries; in between, the journal's tail is
  the rest of the state.) The journal entries a completion
  appends are printed apart and added beside: the journal is the case's record, holding the
  submitted data itself, a 64-hex hash chain and a state digest, so state + journal can never
  come within 1.5× of a 70-byte submission.
- the time to restore the running case from the database (target ≤ 10 ms): the worst of a
  whole snapshot cycle before the last round (snapshot + tails of every length), and the
  finished case's, beside raw SpiffWorkflow's own serializer restoring the same workflow.

    .venv/bin/python -m bench.history_cost [--rounds N] [--json]
"""

import argparse
import contextlib
import io
import json
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

from SpiffWorkflow.bpmn.serializer import BpmnWorkflowSerializer
from SpiffWorkflow.spiff.serializer.config import SPIFF_CONFIG
from sqlalchemy import func
from sqlalchemy import select

from app import create_app
from app.cli import prepare_demo
from app.core import store
from app.models import AuditEvent
from app.models import ProcessInstance
from app.models import db
from app.services import load_workflow
from bench.wsgi import WsgiClient

HERE = Path(__file__).resolve().parent / "corrections"
PROCESS = "corrections_loop"
PASSWORD = "bench-password"
WINDOW = 50  # completions compared at the start and at the end
TARGETS = {"growth": 3.0, "bytes": 1.5, "restore_ms": 10.0}


def make_app(folder: Path):
    """Create an app that deploys only the bench's corrections loop."""
    shutil.copytree(HERE, folder / "definitions")
    app = create_app({
        "TESTING": True, "SECRET_KEY": "bench-secret",
        "SQLALCHEMY_DATABASE_URI": f"sqlite:///{folder}/qyzmet.sqlite",
        "BPMN_DIR": str(folder / "definitions"), "FORMS_DIR": str(folder / "definitions/forms"),
        "PKI_DIR": str(folder / "pki"), "KEYS_DIR": str(folder / "keys"),
        "PASSWORD_HASH_METHOD": "pbkdf2:sha256:1000"})
    with app.app_context(), contextlib.redirect_stdout(io.StringIO()):
        prepare_demo(PASSWORD)
    return app


def held_bytes(instance_id: str) -> tuple[int, int, int]:
    """Return the bytes of the case's stored state, the journal seq it is a snapshot at, and
    the bytes of its whole journal."""
    events = AuditEvent.__table__
    journal = select(func.coalesce(func.sum(
        func.length(events.c.payload) + func.length(events.c.hash) * 2
        + func.length(events.c.at) + func.length(events.c.type)), 0)).where(
        events.c.instance_id == instance_id)
    instances = ProcessInstance.__table__
    state = select(func.length(instances.c.state), instances.c.state_seq).where(
        instances.c.id == instance_id)
    with db.engine.connect() as conn:
        size, seq = conn.execute(state).one()
        return size, seq, conn.execute(journal).scalar_one()


def run_loop(app, rounds: int) -> dict:
    """Correct one application `rounds` times; return per-completion seconds and bytes."""
    client = WsgiClient(app)
    token = client.post("/api/v1/auth/token", json={"username": "executor",
                                                     "password": PASSWORD}, headers={})
    headers = {"Authorization": f"Bearer {token.get_json()['token']}"}
    started = client.post("/api/v1/instances", json={"process": PROCESS,
                                                     "data": {"subject": "bench"}},
                          headers=headers).get_json()
    seconds, state_ratios, journal_ratios, restores = [], [], [], []
    cycle = app.config["STATE_SNAPSHOT_EVERY"]
    with app.app_context():
        _, seq_before, journal_before = held_bytes(started["id"])
        for number in range(1, rounds + 1):
            ready = client.get(f"/api/v1/tasks?instance={started['id']}&state=ready",
                               headers=headers).get_json()
            data = {"round": number, "note": f"Correction number {number} of the address",
                    "is_correct": number == rounds}
            t0 = time.perf_counter()
            answer = client.post(f"/api/v1/tasks/{ready[0]['id']}/complete",
                                 json={"data": data}, headers=headers)
            seconds.append(time.perf_counter() - t0)
            if answer.status_code != 200:
                raise SystemExit(f"round {number}: {answer.get_json()}")
            # a completion appends journal entries; every STATE_SNAPSHOT_EVERY entries (and at
            # the end) it also rewrites the state row
            state, seq, journal = held_bytes(started["id"])
            submitted = len(json.dumps(data))
            state_ratios.append((state if seq != seq_before else 0) / submitted)
            journal_ratios.append((journal - journal_before) / submitted)
            seq_before, journal_before = seq, journal
            if rounds - cycle < number < rounds:  # a whole snapshot cycle, tails of every length
                restores.append(restore_once(app, started["id"]))
    return {"id": started["id"], "seconds": seconds, "state_ratio": state_ratios,
            "journal_ratio": journal_ratios, "running_restores": restores}


def restore_once(app, instance_id: str) -> float:
    """Return the seconds a restore of the case from the database takes (never from memory)."""
    row = db.session.get(ProcessInstance, instance_id)
    db.session.expire_all()
    with store.reading() as conn:
        t0 = time.perf_counter()  # lock version -1: never the workflow kept in memory
        load_workflow(app.extensions["qyzmet"], conn, instance_id, -1, row.definition_id)
        return time.perf_counter() - t0


def restore_ms(app, instance_id: str, repeat: int = 10) -> tuple[float, float]:
    """Return (Qyzmet's restore from its row, raw SpiffWorkflow's restore) in milliseconds."""
    runtime = app.extensions["qyzmet"]
    with app.app_context():
        row = db.session.get(ProcessInstance, instance_id)
        if row.status != "completed":
            raise SystemExit(f"the loop did not finish: {row.status}")
        with store.reading() as conn:
            timings = []
            for _ in range(repeat):
                t0 = time.perf_counter()  # lock version -1: never the workflow kept in memory
                workflow = load_workflow(runtime, conn, instance_id, -1, row.definition_id)
                timings.append(time.perf_counter() - t0)
    raw = BpmnWorkflowSerializer(BpmnWorkflowSerializer.configure(SPIFF_CONFIG))
    whole = raw.serialize_json(workflow)
    floor = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        raw.deserialize_json(whole)
        floor.append(time.perf_counter() - t0)
    return statistics.median(timings) * 1000, statistics.median(floor) * 1000


def report(rounds: int, loop: dict, restore: tuple[float, float]) -> dict:
    """Print the figures and return them."""
    seconds, window = loop["seconds"], min(WINDOW, max(1, len(loop["seconds"]) // 4))
    first = statistics.median(seconds[:window]) * 1000
    last = statistics.median(seconds[-window:]) * 1000
    state = statistics.mean(loop["state_ratio"])  # snapshots come every n entries: the mean
    journal = statistics.mean(loop["journal_ratio"])
    running = [s * 1000 for s in loop["running_restores"]] or [restore[0]]
    result = {"rounds": rounds, "first_ms": first, "last_ms": last, "growth": last / first,
              "bytes": state, "journal_bytes": journal, "combined_bytes": state + journal,
              "restore_ms": max(running), "restore_median_ms": statistics.median(running),
              "finished_restore_ms": restore[0], "raw_restore_ms": restore[1]}
    print(f"history cost - {PROCESS}, {rounds} corrections of one case through the API")
    print(f"completion, first {window}: {first:8.3f} ms   last {window}: {last:8.3f} ms")
    for name, label in (("growth", "last / first completion cost"),
                        ("bytes", "state bytes written per completion / submitted"),
                        ("restore_ms", "restore a running case, worst of a cycle, ms")):
        verdict = "PASS" if result[name] <= TARGETS[name] else "FAIL"
        print(f"  {label:50s} {result[name]:10.2f}  target <= {TARGETS[name]:g}  {verdict}")
    print(f"  journal bytes per completion / submitted             {journal:10.2f}"
          "  (the record: the data itself, a hash chain, digests)")
    print(f"  state + journal per completion / submitted           {state + journal:10.2f}")
    print(f"  restore a running case, median of a cycle, ms        "
          f"{result['restore_median_ms']:10.2f}")
    print(f"  restore the finished case (a snapshot), ms           {restore[0]:10.2f}")
    print(f"  raw SpiffWorkflow restoring the same workflow, ms    {restore[1]:10.2f}  (floor)")
    return result


def main(argv=None) -> int:
    """Run the bench; print the figures (and JSON with --json)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=1000, help="corrections (default 1000)")
    parser.add_argument("--json", action="store_true", help="also print the figures as JSON")
    args = parser.parse_args(argv)
    if args.rounds < 2:
        parser.error("--rounds must be at least 2")
    with tempfile.TemporaryDirectory(prefix="qyzmet-history-") as folder:
        app = make_app(Path(folder))
        loop = run_loop(app, args.rounds)
        result = report(args.rounds, loop, restore_ms(app, loop["id"]))
        with app.app_context():
            db.engine.dispose()
    if args.json:
        json.dump(result, sys.stdout)
        print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
