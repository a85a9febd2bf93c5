"""Real Celery workers and a beat for tests: subprocesses on a real broker, one queue per test.

`Cluster(app.config, folder).start()` runs `celery worker` w1 and w2 (solo pool:
the worker process runs the task itself, so killing it kills the call) and one `celery beat`
(the sweep and the timers), all with the test app's settings as QYZMET_* variables, their
output in files of the test's folder. `stop()` kills their process groups and deletes the
queue. A broker that does not answer is a failure, not a skip: the machine and CI run both.
"""

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import kombu.pools
import pytest
import redis
from kombu import Connection

from app.jobs.celery_app import celery

ROOT = Path(__file__).resolve().parent.parent
CELERY = str(ROOT / ".venv" / "bin" / "celery")
BROKERS = {"redis": "redis://127.0.0.1:6379/0", "rabbitmq": "amqp://guest:guest@127.0.0.1:5672//"}
WORKERS = ("w1", "w2")
# the test app's settings the workers need, passed on as QYZMET_<name>
SHARED_SETTINGS = ("SQLALCHEMY_DATABASE_URI", "SECRET_KEY", "REFERENCE_URL", "PKI_DIR",
                   "TRUST_CHAIN", "KEYS_DIR", "JOBS", "CELERY_BROKER_URL", "CELERY_QUEUE",
                   "JOB_LEASE", "JOB_SWEEP_INTERVAL", "RETRY_DELAY", "STATE_SYSTEM_TIMEOUT",
                   "PASSWORD_HASH_METHOD")
READY_TIMEOUT = 20.0


def require_broker(url: str) -> None:
    """Fail the test (never skip) when the broker at `url` does not accept a connection."""
    try:
        with Connection(url, connect_timeout=3) as conn:
            conn.ensure_connection(max_retries=1, timeout=3)
        return
    except Exception as err:  # noqa: BLE001 - any failure to connect is the same failure
        problem = f"{type(err).__name__}: {err}"
    pytest.fail(f"broker {url} is unreachable ({problem}); these tests need Redis on "
                "127.0.0.1:6379 and RabbitMQ on 127.0.0.1:5672", pytrace=False)


def reset_celery_client() -> None:
    """Forget the test process's broker connections, so the next `configure` takes effect.

    The Celery app is one per process: its connection pool, producer pool and queue map are
    made once, from the first configuration. Tests configure it once per broker.
    """
    kombu.pools.reset()  # the producer pools, shared by connection URL across the process
    if celery._pool is not None:
        celery._pool.force_close_all()
        celery._pool = None
    celery.__dict__.pop("amqp", None)  # a cached property: the queues and the producer pool


def worker_environment(config) -> dict[str, str]:
    """Return the environment of a worker or beat that shares the test app's settings."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("QYZMET_")}
    for name in SHARED_SETTINGS:
        env[f"QYZMET_{name}"] = _as_variable(config[name])
    return env


def _as_variable(value) -> str:
    """Spell `value` so that `from_prefixed_env` reads it back (JSON when it parses)."""
    if isinstance(value, str):
        try:
            json.loads(value)
        except ValueError:
            return value  # read back as the string itself
    return json.dumps(value)


class Cluster:
    """Workers w1 and w2 and a beat for `config`'s broker and queue, logging into `folder`."""

    def __init__(self, config, folder: Path):
        self.config, self.folder = config, Path(folder)
        self.queue = config["CELERY_QUEUE"]
        self.processes: dict[str, subprocess.Popen] = {}

    def start(self) -> "Cluster":
        """Start the workers and the beat; wait until both workers consume the queue."""
        env = worker_environment(self.config)
        common = ["--without-gossip", "--without-mingle", "--without-heartbeat", "--loglevel",
                  "INFO"]
        for name in WORKERS:
            self._spawn(name, env, ["worker", "--pool", "solo", "--concurrency", "1", "-n",
                                    f"{name}@%h", "-Q", self.queue, *common])
        self._spawn("beat", env, ["beat", "--schedule", str(self.folder / "beat-schedule"),
                                  "--loglevel", "INFO"])
        for name in WORKERS:
            self._wait_for_log(name, " ready.")
        return self

    def _spawn(self, name: str, env: dict, arguments: list[str]) -> None:
        with open(self.log_path(name), "wb") as log:  # the child keeps its own descriptor
            self.processes[name] = subprocess.Popen(
                [CELERY, "-A", "app.jobs.celery_app", *arguments], cwd=ROOT, env=env,
                stdout=log, stderr=subprocess.STDOUT, start_new_session=True)

    def log_path(self, name: str) -> Path:
        """Return the file that process `name` writes its output to."""
        return self.folder / f"celery-{name}.log"

    def log(self, name: str) -> str:
        """Return what process `name` has written so far."""
        path = self.log_path(name)
        return path.read_text(errors="replace") if path.exists() else ""

    def _wait_for_log(self, name: str, marker: str) -> None:
        deadline = time.monotonic() + READY_TIMEOUT
        while marker not in self.log(name):
            if self.processes[name].poll() is not None:
                pytest.fail(f"celery {name} exited with {self.processes[name].returncode}:\n"
                            f"{self.log(name)}")
            if time.monotonic() > deadline:
                pytest.fail(f"celery {name} not ready after {READY_TIMEOUT} s:\n{self.log(name)}")
            time.sleep(0.1)

    def name_of(self, worker: str) -> str:
        """Return w1 or w2 for a job's `worker` column ("w1@host:pid"); KeyError otherwise."""
        node, _, pid = worker.rpartition(":")
        for name, process in self.processes.items():
            if name in WORKERS and node.startswith(f"{name}@") and pid == str(process.pid):
                return name
        raise KeyError(f"{worker!r} is none of the workers {self.pids()}")

    def pids(self) -> dict[str, int]:
        """Return the process id of each process, by name."""
        return {name: process.pid for name, process in self.processes.items()}

    def kill(self, name: str) -> None:
        """SIGKILL worker `name` (the solo pool runs the task in that very process)."""
        process = self.processes[name]
        os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout=10)

    def stop(self) -> None:
        """Kill every process group that is still alive, then delete the test queue."""
        for process in self.processes.values():
            if process.poll() is None:
                try:
                    os.killpg(process.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            process.wait(timeout=10)
        url = self.config["CELERY_BROKER_URL"]
        with Connection(url, connect_timeout=3) as conn:
            conn.default_channel.queue_delete(self.queue)
            conn.default_channel.exchange_delete(self.queue)  # kombu made one of that name
        if url.startswith("redis://"):
            forget_redis_queue(url, self.queue)

    def dump_logs(self) -> None:
        """Print every process's log (pytest shows it when the test failed)."""
        for name in self.processes:
            print(f"===== celery {name} (pid {self.processes[name].pid}) =====\n{self.log(name)}")


def forget_redis_queue(url: str, queue: str) -> None:
    """Delete what kombu keeps in Redis for `queue`: its keys and its unacknowledged messages.

    A killed worker's message stays in the shared `unacked` hash, to be restored into the
    queue an hour later; the test is over by then, so it goes now.
    """
    client = redis.Redis.from_url(url)
    try:
        keys = list(client.scan_iter(match=f"*{queue}*"))
        if keys:
            client.delete(*keys)
        for tag, entry in client.hgetall("unacked").items():
            _message, exchange, routing_key = json.loads(entry)
            if queue in (exchange, routing_key):
                client.hdel("unacked", tag)
                client.zrem("unacked_index", tag)
    finally:
        client.close()
