"""How a committed job reaches a worker: the dispatchers `JOBS` chooses between.

- `Dispatcher` ("off"): nothing is sent; rows wait for `flask --app app run-jobs` or
  `runner.drain` (tests that step through a case);
- `Eager` ("eager", tests and scripts): the request that committed the jobs runs them after
  its commit, in its own thread, as far as they can go now;
- `Embedded` ("embedded", `./qyzmet serve`): worker threads in the server wake up;
- `CeleryDispatcher` ("celery", `app.jobs.celery_app`): a message per job on Redis or RabbitMQ.

Every dispatcher only *tells*: the job row is the truth, and a lost message is found again
by the sweep (the drains of the embedded threads, the beat's `sweep` under Celery).
"""

import datetime


class Dispatcher:
    """Send nothing: jobs wait in their rows for a drain."""

    eager = False

    def submit(self, rt, job_ids: list[int], *, at: datetime.datetime | None = None) -> None:
        """Tell a worker that these jobs can run (at `at`, or now)."""


class Eager(Dispatcher):
    """Run the jobs at once in the calling thread, after the caller's commit."""

    eager = True

    def __init__(self, run):
        self.run = run  # runner.run(rt, job_id, worker)

    def submit(self, rt, job_ids, *, at=None):
        """Run each job now if it is due; one not due yet waits for a drain."""
        if at is not None and at > rt.clock.now():
            return
        for job_id in job_ids:
            self.run(rt, job_id, "eager")
