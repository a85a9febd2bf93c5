"""Fixtures for browser tests: a live Qyzmet server on a random port and headless Chromium."""

import threading
from pathlib import Path

import pytest
from werkzeug.serving import make_server

from app import create_app
from app.models import db

CHROMIUM = Path("/usr/bin/chromium")
PASSWORD = "qyzmet-demo"
TIMEOUT_MS = 10_000
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic",
]


@pytest.fixture(scope="session")
def live_server(tmp_path_factory, state_systems, pki_dir, schemas):
    """Serve a freshly prepared demo app from a background thread; yield its base URL."""
    root = tmp_path_factory.mktemp("qyzmet-browser")
    app = create_app({
        "TESTING": True,
        "SECRET_KEY": "browser-tests",
        "SQLALCHEMY_DATABASE_URI": (schemas.uri(root) if schemas
                                    else f"sqlite:///{root / 'qyzmet.sqlite'}"),
        "REFERENCE_URL": state_systems.url, "PKI_DIR": str(pki_dir),
        "TRUST_CHAIN": str(pki_dir / "ca-chain.pem"), "KEYS_DIR": str(root / "keys"),
        # as `./qyzmet serve` runs: job worker threads beside the server
        "JOBS": "embedded", "JOB_POLL_INTERVAL": 0.2,
    })
    with app.app_context():
        from app.cli import prepare_demo  # noqa: PLC0415 - needs the app context
        prepare_demo(PASSWORD)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="qyzmet-live", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
        app.extensions["qyzmet"].jobs.stop.set()
        with app.app_context():
            db.engine.dispose()


@pytest.fixture(scope="session")
def browser():
    """Launch the system Chromium once per session; fail loudly when it is not installed."""
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: run the project's setup to install Debian chromium "
                    "(do not use `playwright install`)", pytrace=False)
    from playwright.sync_api import sync_playwright  # noqa: PLC0415 - only when browsers run

    playwright = sync_playwright().start()
    try:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True,
                                              args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()
    finally:
        playwright.stop()


@pytest.fixture
def page(browser, live_server):
    """A page in a fresh browser context whose relative URLs point at the live server."""
    context = browser.new_context(base_url=live_server)
    context.set_default_timeout(TIMEOUT_MS)
    try:
        yield context.new_page()
    finally:
        context.close()
