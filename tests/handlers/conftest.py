"""Fixtures for handler tests: the handlers pointed at the session's reference state systems."""

import json
import urllib.request

import pytest

import handlers
from app import config


@pytest.fixture
def systems(state_systems, pki_dir, tmp_path):
    """Configure the handlers against the reference systems; return a fault injector."""
    keys = tmp_path / "keys"
    keys.mkdir()
    for suffix in (".key.pem", ".cert.pem"):
        (keys / f"head{suffix}").write_bytes((pki_dir / "holders" / f"head{suffix}").read_bytes())
    urls = config.state_system_urls({"REFERENCE_URL": state_systems.url, "STATE_SYSTEM_URLS": {}})
    handlers.configure(urls=urls, keys_dir=str(keys), trust_chain=str(pki_dir / "ca-chain.pem"),
                       timeout=1.0)

    def fault(system: str, mode: str, count: int = 1, delay: float = 0.0) -> None:
        body = json.dumps({"system": system, "mode": mode, "count": count, "delay": delay})
        request = urllib.request.Request(f"{state_systems.url}/_control/faults", method="POST",
                                         data=body.encode(),
                                         headers={"Content-Type": "application/json"})
        urllib.request.urlopen(request).close()  # noqa: S310 - loopback test server

    return fault
