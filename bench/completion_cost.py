"""Cost of one user-task completion: Qyzmet through its API vs raw SpiffWorkflow in memory.

The issue path of survey_license_east_kazakhstan_2016 (start + 8 user tasks), N instances on
three sides, interleaved: the floor (plain BpmnWorkflow, services answered from memory), Qyzmet
hot (workflow cache on), Qyzmet cold (cache off). See bench/README.md.
"""

import contextlib
import functools
import io
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.bpmn.script_engine import PythonScriptEngine
from SpiffWorkflow.spiff.parser.process import VALIDATOR
from SpiffWorkflow.spiff.parser.process import SpiffBpmnParser
from SpiffWorkflow.util.task import TaskState
from sqlalchemy import select

import bench
import handlers
import reference
from app import create_app
from app import diagram
from app.cli import prepare_demo
from app.models import AuditEvent
from app.models import ProcessInstance
from app.models import db
from bench.wsgi import WsgiClient
from reference import nca
from reference.server import ReferenceServer

ROOT = Path(__file__).resolve().parent.parent
PROCESS = "survey_license_east_kazakhstan_2016"
OUTCOME = "licence_issued"
PASSWORD = "bench-password"
TARGET = 3.0
WARMUP = 3
SIDES = ("floor", "floor_handlers", "hot", "cold", "hot_test_client")
START_DATA = {"applicant_iin_bin": "150140000012", "licence_case": "issue",
              "channel": "state_corporation"}
PATH = [
    ("attach_documents", "operator",
     {"page_count": 12, "certified_with_eds": True}),
    ("register_incoming", "office", {"incoming_number": "IN-2026/0001", "receipt_issued": True}),
    ("assign_executor", "head", {"executor": "executor"}),
    ("check_completeness", "executor", {"documents_complete": True}),
    ("check_qualification", "executor",
     {"qualification_met": True, "findings": "Staff and equipment meet the requirements"}),
    ("form_licence", "executor", {"licence_activity": "engineering_geodetic",
                                  "licence_category": "I"}),
    ("sign_licence", "head", {"confirm_signature": True}),
    ("send_result", "executor", {"sent_to_state_corporation": True}),
]
_AT = "2026-01-15T09:00:00+00:00"
_NUMBERS = {"licence_number": "KZ26LIC00000001", "application_number": "KZ-APP-2026-000001"}
_DOCUMENT = {**_NUMBERS, "holder_iin_bin": "150140000012", "holder_name": '"Shygys Geo Survey" LLP',
             "activity": "engineering_geodetic", "issued_at": _AT,
             "issuer": "Local executive body of East Kazakhstan region (state architectural "
                       "and construction control)"}
_PEM = "-----BEGIN CERTIFICATE-----\n" + "M" * 640 + "\n-----END CERTIFICATE-----\n"
CANNED = {  # shaped like what the real handlers return, keyed by operator id
    "registry/lookup_applicant": {"found": True, "kind": "legal_entity", "iin_bin": "150140000012",
                                  "name": '"Shygys Geo Survey" LLP', "head_iin": "850722400018",
                                  "registered_on": "2015-01-20"},
    "licensing/register_application": {"application_number": _NUMBERS["application_number"],
                                       "registered_at": _AT},
    "licensing/issue_licence": {"licence_number": _NUMBERS["licence_number"], "issued_at": _AT,
                                "document": _DOCUMENT},
    "eds/sign_document": {"algorithm": "ECDSA-P256-SHA256", "signer": "head", "certificate": _PEM,
                          "digest": "0" * 64, "signature": "M" * 96, "signed_at": _AT},
}


def require(condition, message: str) -> None:
    """Stop the run if `condition` is false (kept under python -O, unlike assert)."""
    if not condition:
        raise RuntimeError(message)


class CannedScriptEngine(PythonScriptEngine):
    """Plain SpiffWorkflow script engine whose service tasks answer from `CANNED`."""

    def call_service(self, task, operation_name, operation_params):
        """Return the canned JSON result of the operator."""
        return json.dumps(CANNED[operation_name])


class HandlerScriptEngine(PythonScriptEngine):
    """Plain SpiffWorkflow script engine whose service tasks call Qyzmet's real handlers."""

    def call_service(self, task, operation_name, operation_params):
        """Call the handler with the evaluated parameters; return its JSON result."""
        params = {name: p["value"] for name, p in operation_params.items()}
        return json.dumps(handlers.HANDLERS[operation_name](**params))


def parse_specs() -> tuple:
    """Parse the bpmn files once; return (spec, subprocess_specs) of the process."""
    parser = SpiffBpmnParser(validator=VALIDATOR)
    parser.add_bpmn_files([str(p) for p in sorted((ROOT / "bpmn").glob("*.bpmn"))])
    return parser.get_spec(PROCESS), parser.get_subprocess_specs(PROCESS)


@functools.cache
def floor_start_data() -> dict:
    """Return the start data Qyzmet starts the case with: the form's and the service's fields."""
    manifest = diagram.read_processes(ROOT / "bpmn" / f"{PROCESS}.bpmn")[PROCESS]
    return {**START_DATA, **diagram.service_fields(manifest, PROCESS, 1,
                                                   START_DATA["licence_case"])}


def floor_instance(specs: tuple, engine: PythonScriptEngine) -> dict:
    """Run one instance in memory; return start, find and per-completion seconds."""
    clock = time.perf_counter
    t0 = clock()
    wf = BpmnWorkflow(specs[0], specs[1], script_engine=engine)
    for task in wf.get_tasks(state=TaskState.READY):
        task.data.update(floor_start_data())
    wf.do_engine_steps()
    out = {"start": clock() - t0, "find": 0.0, "complete": []}
    for bpmn_id, role, data in PATH:
        t0 = clock()
        ready = wf.get_tasks(state=TaskState.READY, manual=True)
        require([t.task_spec.bpmn_id for t in ready] == [bpmn_id], f"floor: {bpmn_id} not ready")
        task, t1 = ready[0], clock()
        task.data.update(data)
        task.data["actors"] = {**task.data.get("actors", {}), bpmn_id: role}  # read by the EDS
        task.run()
        wf.do_engine_steps()
        out["complete"].append(clock() - t1)
        out["find"] += t1 - t0
    ended = wf.get_tasks(state=TaskState.COMPLETED, spec_name=OUTCOME)
    require(wf.is_completed() and ended, f"floor: instance did not end at {OUTCOME}")
    return out


def start_state_systems(folder: Path) -> ReferenceServer:
    """Serve the reference state systems (with their PKI) on a free loopback port."""
    pki = folder / "pki"
    nca.ensure_pki(str(pki))
    systems = reference.create_app(f"sqlite:///{folder}/reference.sqlite",
                                   extra_blueprints=[nca.create_blueprint(str(pki))])
    return ReferenceServer(systems).start()


def make_app(folder: Path, systems: ReferenceServer):
    """Create a Qyzmet app with its databases and keys in `folder`, demo data ready."""
    app = create_app({
        "TESTING": True, "SECRET_KEY": "bench-secret",
        "SQLALCHEMY_DATABASE_URI": f"sqlite:///{folder}/qyzmet.sqlite",
        "REFERENCE_URL": systems.url, "PKI_DIR": str(folder / "pki"),
        "TRUST_CHAIN": str(folder / "pki" / "ca-chain.pem"), "KEYS_DIR": str(folder / "keys"),
        # service-task jobs run in the completing request after its commit, as the inline
        # handlers did before jobs: the figures stay comparable with the earlier runs
        "JOBS": "eager"})
    with app.app_context(), contextlib.redirect_stdout(io.StringIO()):
        prepare_demo(PASSWORD)
    return app


def auth_headers(client) -> dict:
    """Return {role: Authorization header} for every role on the path."""
    headers = {}
    for role in {"operator"} | {role for _, role, _ in PATH}:
        answer = client.post("/api/v1/auth/token", json={"username": role, "password": PASSWORD})
        require(answer.status_code == 200, f"token for {role}: {answer.get_json()}")
        headers[role] = {"Authorization": f"Bearer {answer.get_json()['token']}"}
    return headers


def qyzmet_instance(client, headers: dict) -> dict:
    """Run one instance through the API; return its id, start, find and completion seconds."""
    clock = time.perf_counter
    t0 = clock()
    answer = client.post("/api/v1/instances", json={"process": PROCESS, "data": START_DATA},
                         headers=headers["operator"])
    out = {"start": clock() - t0, "find": 0.0, "complete": []}
    require(answer.status_code == 201, f"start: {answer.get_json()}")
    out["id"] = answer.get_json()["id"]
    for bpmn_id, role, data in PATH:
        t0 = clock()
        ready = client.get(f"/api/v1/tasks?instance={out['id']}&state=ready",
                           headers=headers[role]).get_json()
        require([t["bpmn_id"] for t in ready] == [bpmn_id], f"{bpmn_id} not ready: {ready}")
        t1 = clock()
        answer = client.post(f"/api/v1/tasks/{ready[0]['id']}/complete", json={"data": data},
                             headers=headers[role])
        out["complete"].append(clock() - t1)
        out["find"] += t1 - t0
        require(answer.status_code == 200, f"{bpmn_id}: {answer.get_json()}")
    return out


def instance_facts(instance_id: str) -> dict:
    """Check an instance finished; return its state size, journal size, completion handler ms."""
    instance = db.session.get(ProcessInstance, instance_id)
    require((instance.status, instance.outcome) == ("completed", OUTCOME),
            f"instance {instance_id} is {instance.status}, outcome {instance.outcome}")
    rows = db.session.scalars(select(AuditEvent).where(AuditEvent.instance_id == instance_id)
                              .order_by(AuditEvent.seq)).all()
    handler_ms, completing = 0.0, False
    for row in rows:
        completing = completing or row.type == "task_completed"
        if completing and row.type == "service_called":
            handler_ms += json.loads(row.payload)["ms"]
    fields = [(r.instance_id, r.type, r.actor, r.at, r.payload, r.prev_hash, r.hash) for r in rows]
    text_bytes = sum(len(text.encode()) for row in fields for text in row)
    return {"state_bytes": len(instance.state.encode()), "journal_rows": len(rows),
            "journal_bytes": text_bytes + 8 * len(rows),  # + id and seq integers
            "journal_payload_bytes": sum(len(r.payload.encode()) for r in rows),
            "handler_ms": handler_ms}


class Bench:
    """The three sides, set up once and run one instance at a time."""

    def __init__(self, folder: Path):
        self.specs = parse_specs()
        self.engine = CannedScriptEngine()
        self.systems = start_state_systems(folder)
        self.app = make_app(folder, self.systems)
        self.test_client = self.app.test_client()
        self.client = WsgiClient(self.app)
        self.headers = auth_headers(self.test_client)
        self.live = self.app.extensions["qyzmet"].live
        self.capacity = self.live.capacity

    def run(self, side: str) -> dict:
        """Run one instance on `side`."""
        if side == "floor":
            return floor_instance(self.specs, self.engine)
        if side == "floor_handlers":
            return floor_instance(self.specs, HandlerScriptEngine())
        self.live.capacity = 0 if side == "cold" else self.capacity
        client = self.test_client if side == "hot_test_client" else self.client
        result = qyzmet_instance(client, self.headers)
        with self.app.app_context():
            result.update(instance_facts(result["id"]))
        return result


def measure(rounds: int) -> dict:
    """Warm up, then run `rounds` instances per side, rotating the order every round."""
    with tempfile.TemporaryDirectory(prefix="qyzmet-bench-") as folder:
        bench = Bench(Path(folder))
        for side in SIDES * WARMUP:
            bench.run(side)
        runs = {side: [] for side in SIDES}
        try:
            for i in range(rounds):
                for side in SIDES[i % len(SIDES):] + SIDES[:i % len(SIDES)]:
                    runs[side].append(bench.run(side))
        finally:
            bench.systems.stop()
    return runs


def _ms(seconds: float) -> float:
    """Return seconds as milliseconds, rounded to the microsecond."""
    return round(seconds * 1000, 3)


def summarize(runs: list[dict]) -> dict:
    """Reduce one side's instance results to per-completion and per-instance figures."""
    times = [t for r in runs for t in r["complete"]]
    out = {"instances": len(runs), "completions": len(times),
           "per_completion_ms": _ms(sum(times) / len(times)),
           "p50_ms": _ms(statistics.median(times)),
           "p95_ms": _ms(statistics.quantiles(times, n=20)[-1]),
           "start_ms": _ms(statistics.mean(r["start"] for r in runs)),
           "find_ms": _ms(sum(r["find"] for r in runs) / len(times))}
    if "handler_ms" in runs[0]:
        for key in ("state_bytes", "journal_rows", "journal_bytes", "journal_payload_bytes"):
            out[key] = round(statistics.mean(r[key] for r in runs), 1)
        handler = sum(r["handler_ms"] for r in runs) / len(times)
        out["handler_ms"] = round(handler, 3)
        out["handler_share"] = round(handler / out["per_completion_ms"], 3)
        out["minus_handlers_ms"] = round(out["per_completion_ms"] - handler, 3)
    return out


def report(runs: dict) -> dict:
    """Build the machine-readable result: per side figures, ratios, verdicts."""
    sides = {side: summarize(runs[side]) for side in SIDES}
    floor = sides["floor_handlers"]["per_completion_ms"]
    memory_floor = sides["floor"]["per_completion_ms"]
    ratios = {}
    for side in ("hot", "cold", "hot_test_client"):
        cost = sides[side]["per_completion_ms"]
        ratio = cost / floor
        ratios[side] = {"ratio": round(ratio, 2), "pass": ratio <= TARGET,
                        "vs_canned_floor": round(cost / memory_floor, 2),
                        "minus_handlers_ratio": round(
                            sides[side]["minus_handlers_ms"] / memory_floor, 2)}
    return {"process": PROCESS, "target": f"<= {TARGET:g}x the floor", "sides": sides,
            "ratios": ratios}


def print_table(result: dict) -> None:
    """Print the compact human-readable table."""
    sides = result["sides"]
    print(f"completion cost - {result['process']}, issue path (8 user tasks), "
          f"{sides['floor']['instances']} instances per side, interleaved")
    print(f"{'side':<26}{'per compl.':>11}{'p50':>9}{'p95':>9}{'- handlers':>11}"
          f"{'start':>9}{'find':>9}  (ms)")
    labels = {"floor_handlers": "FLOOR: Spiff + handlers", "floor": "Spiff, canned answers",
              "hot": "Qyzmet API hot", "cold": "Qyzmet API cold",
              "hot_test_client": "hot, Werkzeug test client"}
    for side, label in labels.items():
        s = sides[side]
        minus = f"{s['minus_handlers_ms']:.3f}" if "minus_handlers_ms" in s else "-"
        print(f"{label:<26}{s['per_completion_ms']:>11.3f}{s['p50_ms']:>9.3f}{s['p95_ms']:>9.3f}"
              f"{minus:>11}{s['start_ms']:>9.3f}{s['find_ms']:>9.3f}")
    print(f"target: Qyzmet per completion {result['target']} (raw SpiffWorkflow running the same "
          "process in memory with the same handlers)")
    for side in ("hot", "cold", "hot_test_client"):
        r, s = result["ratios"][side], sides[side]
        print(f"  {side:<16}{r['ratio']:>7.2f}x  {'PASS' if r['pass'] else 'FAIL'}   "
              f"vs canned answers {r['vs_canned_floor']:.2f}x; without handler time "
              f"{r['minus_handlers_ratio']:.2f}x of it; handlers {s['handler_ms']:.3f} ms")
    hot = sides["hot"]
    print(f"per instance: state {hot['state_bytes']:.0f} B; journal {hot['journal_rows']:.0f} rows,"
          f" {hot['journal_bytes']:.0f} B ({hot['journal_payload_bytes']:.0f} B payload)")
    print("note: the FLOOR calls the same handlers as Qyzmet (HTTP to the reference state "
          "systems, XMLDSig signing)\nfrom a plain PythonScriptEngine; 'canned' answers service "
          "tasks from memory. '- handlers' removes the\njournalled handler time. 'find' = locating "
          "the ready task (GET /tasks), per completion, not in the cost.")


def main(argv=None) -> int:
    """Parse arguments, measure, print."""
    return bench.command(__doc__, argv, count="rounds", default=30, minimum=1,
                         what="instances per side", measure=lambda n: report(measure(n)),
                         show=print_table)


if __name__ == "__main__":
    sys.exit(main())
