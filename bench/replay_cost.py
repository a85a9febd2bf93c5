"""What replay and verification cost an auditor: a case replayed ÷ the engine time of its run.

N cases of survey_license_east_kazakhstan_2016 run the issue path through the API (start + 8
user tasks, 4 service tasks answered by the reference state systems), as bench/completion_cost.py
runs them. While they run, the engine's own operations (start, complete, deliver, retry, wake)
are timed: the engine time of the original run, the floor. Then, in the same process:

- every case is replayed from its journal (`app.audit.replay`: read the journal, feed every
  recorded input to a fresh workflow, digest the state after each); per case, replay time ÷
  the engine time of its original run (target ≤ 1.5×), with the replay's own engine time
  beside it (what is left is reading the journal and the state digests);
- the whole journal's hash chains are verified at once (`app.audit.verification.verify_all`):
  cases verified per second, beside the floor of reading the same rows; and the batch replay
  (`app.audit.replay_batch`) in cases per second.

    .venv/bin/python -m bench.replay_cost [--cases N] [--json]
"""

import contextlib
import functools
import statistics
import sys
import tempfile
import time
from pathlib import Path

from sqlalchemy import select

import bench
from app.audit import replay
from app.audit import replay_batch
from app.audit import verification
from app.core import engine
from app.core import store
from bench.completion_cost import PROCESS
from bench.completion_cost import auth_headers
from bench.completion_cost import make_app
from bench.completion_cost import qyzmet_instance
from bench.completion_cost import require
from bench.completion_cost import start_state_systems
from bench.wsgi import WsgiClient

TARGET = 1.5
ENGINE_OPERATIONS = ("start", "complete", "deliver", "retry", "wake")
JOURNAL = (store.EVENTS.c.instance_id, store.EVENTS.c.seq, store.EVENTS.c.type,
           store.EVENTS.c.actor, store.EVENTS.c.at, store.EVENTS.c.payload,
           store.EVENTS.c.prev_hash, store.EVENTS.c.hash)


class EngineClock:
    """Time the engine's operations while it is attached: the seconds spent inside them."""

    def __init__(self):
        self.seconds = 0.0

    @contextlib.contextmanager
    def attached(self):
        originals = {name: getattr(engine, name) for name in ENGINE_OPERATIONS}
        for name, original in originals.items():
            setattr(engine, name, self._timed(original))
        try:
            yield self
        finally:
            for name, original in originals.items():
                setattr(engine, name, original)

    def _timed(self, operation):
        @functools.wraps(operation)
        def timed(*args, **kwargs):
            t0 = time.perf_counter()
            try:
                return operation(*args, **kwargs)
            finally:
                self.seconds += time.perf_counter() - t0
        return timed

    def lap(self) -> float:
        """Return the seconds since the last lap (and start a new one)."""
        seconds, self.seconds = self.seconds, 0.0
        return seconds


def run_cases(app, count: int) -> dict:
    """Run `count` cases through the API; return {case id: engine seconds of its run}."""
    client = WsgiClient(app)
    headers = auth_headers(app.test_client())  # tokens once; the cases run through WSGI
    engine_seconds, clock = {}, EngineClock()
    with clock.attached():
        for _ in range(count):
            clock.lap()
            case = qyzmet_instance(client, headers)
            engine_seconds[case["id"]] = clock.lap()
    return engine_seconds


def replay_cases(app, engine_seconds: dict) -> list[dict]:
    """Replay every case; return per case its replay seconds, the replay's engine seconds and
    the original run's engine seconds."""
    runtime, clock, timings = app.extensions["qyzmet"], EngineClock(), []
    with app.app_context():
        first = next(iter(engine_seconds))
        require(replay.replay(runtime, first)["ok"], f"{first} does not replay")  # parse once
        with clock.attached():
            for instance_id, original in engine_seconds.items():
                clock.lap()
                t0 = time.perf_counter()
                result = replay.replay(runtime, instance_id)
                seconds = time.perf_counter() - t0
                require(result["ok"], f"{instance_id}: {result['divergence']}")
                timings.append({"replay": seconds, "replay_engine": clock.lap(),
                                "original_engine": original})
    return timings


def _verify_everything() -> int:
    """Verify every hash chain (cases and the admin chain) at once; return how many."""
    result = verification.verify_all()
    require(result["ok"], f"broken chains: {result['broken']}")
    return result["cases"]


def _read_journal() -> int:
    """The floor of verification: read every journal row it reads, in its order; return the
    number of cases."""
    with store.reading() as conn:
        rows = conn.execute(select(*JOURNAL).order_by(*JOURNAL[:2])).all()
    return len({row.instance_id for row in rows})


def best_of(repeat: int, work) -> tuple[float, object]:
    """Return (the fastest of `repeat` runs of `work`, its result)."""
    best, result = float("inf"), None
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = work()
        best = min(best, time.perf_counter() - t0)
    return best, result


def measure(count: int) -> dict:
    """Run the cases, replay them, verify them; return the figures."""
    with tempfile.TemporaryDirectory(prefix="qyzmet-replay-bench-") as tmp:
        folder = Path(tmp)
        systems = start_state_systems(folder)  # its PKI in folder/pki, where the app looks
        try:
            app = make_app(folder, systems)
            engine_seconds = run_cases(app, count)
            timings = replay_cases(app, engine_seconds)
            with app.app_context():
                verify_seconds, verified = best_of(5, _verify_everything)
                read_seconds, read = best_of(5, _read_journal)
                runtime = app.extensions["qyzmet"]
                chosen = replay_batch.Selection(process=PROCESS, limit=replay_batch.MAX_LIMIT)
                t0 = time.perf_counter()
                batch = replay_batch.replay_batch(runtime, chosen)
                batch_seconds = time.perf_counter() - t0
        finally:
            systems.stop()
    require(batch["ok"] == batch["cases"] == count, f"batch replay: {batch}")
    ratios = [t["replay"] / t["original_engine"] for t in timings]
    total = {key: sum(t[key] for t in timings) for key in timings[0]}
    return {
        "cases": count,
        "original_engine_ms": 1000 * total["original_engine"] / count,
        "replay_ms": 1000 * total["replay"] / count,
        "replay_engine_ms": 1000 * total["replay_engine"] / count,
        "ratio_median": statistics.median(ratios),
        "ratio_total": total["replay"] / total["original_engine"],
        "verified_cases": verified, "verified_per_second": verified / verify_seconds,
        "read_floor_per_second": read / read_seconds,
        "verify_over_read": verify_seconds / read_seconds,
        "batch_replayed_per_second": batch["cases"] / batch_seconds,
    }


def print_table(result: dict) -> None:
    """Print the figures, the ratios against the floors measured in this run."""
    passed = "PASS" if result["ratio_median"] <= TARGET else "FAIL"
    print(f"{result['cases']} cases of {PROCESS} (issue path), replayed and verified")
    print(f"engine time of the original run (floor)  {result['original_engine_ms']:8.2f} ms/case")
    print(f"replay (read + feed + digest each step)  {result['replay_ms']:8.2f} ms/case")
    print(f"  of which the engine                    {result['replay_engine_ms']:8.2f} ms/case")
    print(f"replay ÷ original engine time: median {result['ratio_median']:.2f}×, "
          f"all cases {result['ratio_total']:.2f}× (target ≤ {TARGET}×: {passed})")
    print(f"hash chains verified: {result['verified_per_second']:,.0f} cases/s "
          f"({result['verified_cases']} chains); reading the same rows (floor): "
          f"{result['read_floor_per_second']:,.0f} cases/s; "
          f"verify ÷ read = {result['verify_over_read']:.2f}×")
    print(f"batch replay: {result['batch_replayed_per_second']:,.1f} cases/s")


def main(argv=None) -> int:
    """Parse arguments, measure, print."""
    return bench.command(__doc__, argv, count="cases", default=100, minimum=1,
                         what="cases to run", measure=measure, show=print_table)


if __name__ == "__main__":
    sys.exit(main())
