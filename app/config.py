"""Default configuration; instance/config.py or QYZMET_* environment variables override it."""

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
REFERENCE_PATHS = {"gbdfl": "/gbdfl", "gbdul": "/gbdul", "pep": "/pep", "elicense": "/elicense",
                   "portal": "/portal", "nca": "/nca"}


def defaults(instance_path: str) -> dict:
    """Return the default settings for an app whose instance folder is `instance_path`."""
    instance = Path(instance_path)
    return {
        "SECRET_KEY": None,
        "SQLALCHEMY_DATABASE_URI": f"sqlite:///{instance / 'qyzmet.sqlite'}",
        "BPMN_DIR": str(ROOT / "bpmn"), "FORMS_DIR": str(ROOT / "forms"),
        "KEYS_DIR": str(instance / "keys"),
        "PKI_DIR": str(instance / "pki"),
        "TRUST_CHAIN": str(instance / "pki" / "ca-chain.pem"),
        # the state systems: one base URL for the local reference services, or one per system
        "REFERENCE_URL": "http://127.0.0.1:5001",
        "STATE_SYSTEM_URLS": {},
        "STATE_SYSTEM_TIMEOUT": 5.0,
        # seconds before the first retry of an unavailable state system (then × the diagram's
        # backoff base per attempt, at most 10 minutes)
        "RETRY_DELAY": 5.0,
        "DEMO_PASSWORD": "qyzmet-demo",  # noqa: S105 - the documented demo default
        "MAX_CONTENT_LENGTH": 5 * 1024 * 1024,
        # what a diagram expression may build: {max_result_size, max_int_bits, max_depth}
        "EXPRESSION_LIMITS": {},
        # timers: "embedded" (a thread in the server; ./qyzmet serve) or "off" (tests, or
        # `flask --app app fire-timers` from cron); seconds between the embedded passes
        "SCHEDULER": "off", "SCHEDULER_INTERVAL": 5.0,
        # service-task jobs (app.jobs): "embedded" (threads in the server; ./qyzmet serve),
        # "celery" (workers on CELERY_BROKER_URL), "eager" (in the request: tests) or "off"
        # (rows wait for `flask --app app run-jobs`); a worker's lease on a job, in seconds
        "JOBS": "off", "JOB_THREADS": 4, "JOB_POLL_INTERVAL": 5.0, "JOB_LEASE": 60.0,
        "CELERY_BROKER_URL": "redis://127.0.0.1:6379/0",
        # journal entries between stored snapshots of a case's workflow state: in between, a
        # change writes only its journal entries, and a restore replays the journal's tail
        "STATE_SNAPSHOT_EVERY": 16,
        # ... and a change to a case restored from the database by replaying at least this many
        # changes stores one too (0: after any restore; cases read cold keep short tails)
        "STATE_SNAPSHOT_AFTER_REPLAYING": 0,
        # signed checkpoints of every journal (app.audit.checkpoints): the key in KEYS_DIR that
        # signs them (the provider's organisation key, which `flask --app app init-demo` takes
        # from the reference PKI; in production the provider's own EDS) and seconds between the
        # scheduler's (0: none)
        "CHECKPOINT_SIGNER": "provider", "CHECKPOINT_EVERY": 3600.0,
    }


def state_system_urls(config) -> dict[str, str]:
    """Return the base URL of every state system: STATE_SYSTEM_URLS, else the reference's."""
    base = config["REFERENCE_URL"].rstrip("/")
    return {name: config["STATE_SYSTEM_URLS"].get(name, base + path)
            for name, path in REFERENCE_PATHS.items()}
