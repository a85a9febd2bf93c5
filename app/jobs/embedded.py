"""The embedded worker: threads in the server that run jobs, no broker needed.

`./qyzmet serve` sets `JOBS = "embedded"`. Each thread drains what can run now (due jobs,
jobs whose worker's lease ran out, answers to apply), then sleeps until the next job comes
due, a commit submits new jobs, or `JOB_POLL_INTERVAL` passes.
"""

import datetime
import logging
import threading

from app.core import store
from app.jobs import queue
from app.jobs.dispatch import Dispatcher

log = logging.getLogger(__name__)


class Embedded(Dispatcher):
    """Wake the embedded worker threads when a commit makes jobs ready."""

    def __init__(self, drain):
        self.drain = drain  # runner.drain(rt, worker=…): run what can run now
        self.wake = threading.Event()
        self.stop = threading.Event()

    def submit(self, rt, job_ids, *, at=None):
        """Wake the threads; a job due later is found by their next pass."""
        self.wake.set()

    def start(self, app, threads: int, interval: float) -> None:
        """Start `threads` daemon worker threads for `app`."""
        for number in range(1, threads + 1):
            name = f"embedded-{number}"
            threading.Thread(target=self._run, args=(app, name, interval), name=f"qyzmet-{name}",
                             daemon=True).start()

    def _run(self, app, name: str, interval: float) -> None:
        while not self.stop.is_set():
            timeout = interval
            with app.app_context():
                try:
                    rt = app.extensions["qyzmet"]
                    self.drain(rt, worker=name)
                    with store.reading() as conn:
                        moment = queue.next_moment(conn)
                    if moment is not None:
                        wait = (moment - rt.clock.now()) / datetime.timedelta(seconds=1)
                        timeout = min(interval, max(0.05, wait))
                except Exception:
                    log.exception("the embedded worker %s failed a pass", name)
            self.wake.wait(timeout)
            self.wake.clear()
