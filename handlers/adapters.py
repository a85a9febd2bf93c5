"""HTTP/JSON clients of the state systems: one configured base URL each, typed errors.

Every call has a timeout; a timeout, a refused connection or a 5xx answer raises
`Unavailable` (transient: the engine retries it per the diagram's retry setting), an answer
that is not the promised JSON raises `BadAnswer`, and a 4xx the system explains raises
`HandlerError` with its message. State-changing calls carry an `Idempotency-Key`, so a
retry after a lost answer never registers or charges twice.
"""

from dataclasses import dataclass

import httpx

from handlers.errors import BadAnswer
from handlers.errors import HandlerError
from handlers.errors import Unavailable

SYSTEMS = {
    "gbdfl": "GBD FL (individuals registry)",
    "gbdul": "GBD UL (legal entities registry)",
    "pep": "PEP (payment gateway)",
    "elicense": "E-licensing",
    "portal": "e-government portal",
    "nca": "NCA (certification authority)",
}


@dataclass
class _Settings:
    urls: dict
    timeout: float
    client: httpx.Client | None = None


_settings = _Settings(urls={}, timeout=5.0)


def configure(urls: dict[str, str], timeout: float = 5.0) -> None:
    """Set the base URL of every state system (keys of SYSTEMS) and the per-call timeout."""
    unknown = set(urls) - set(SYSTEMS)
    if unknown:
        raise ValueError(f"unknown state systems: {', '.join(sorted(unknown))}")
    if _settings.client is not None:
        _settings.client.close()
    _settings.urls = {name: url.rstrip("/") for name, url in urls.items()}
    _settings.timeout = timeout
    _settings.client = httpx.Client(timeout=timeout)


def _send(system: str, method: str, path: str, **kwargs) -> httpx.Response:
    if system not in _settings.urls or _settings.client is None:
        raise HandlerError(f"{SYSTEMS.get(system, system)} is not configured")
    url = _settings.urls[system] + path
    try:
        answer = _settings.client.request(method, url, **kwargs)
    except httpx.TimeoutException:
        raise Unavailable(f"{SYSTEMS[system]} did not answer within "
                          f"{_settings.timeout:g} s ({method} {path})") from None
    except httpx.TransportError as err:
        raise Unavailable(f"{SYSTEMS[system]} is unreachable ({method} {path}): "
                          f"{type(err).__name__}") from None
    if answer.status_code >= 500:
        raise Unavailable(f"{SYSTEMS[system]} answered {answer.status_code} ({method} {path})")
    return answer


def call(system: str, method: str, path: str, *, body: dict | None = None,
         idempotency_key: str | None = None, absent_ok: bool = False) -> dict | list | None:
    """Call a state system and return its JSON answer (None for a 404 when `absent_ok`)."""
    headers = {"Idempotency-Key": idempotency_key} if idempotency_key else {}
    answer = _send(system, method, path, json=body, headers=headers)
    if answer.status_code == 404 and absent_ok:
        return None
    try:
        data = answer.json()
    except ValueError:
        raise BadAnswer(f"{SYSTEMS[system]} answered {answer.status_code} with something that "
                        f"is not JSON ({method} {path})") from None
    if answer.status_code >= 400:
        message = data.get("message") or data.get("error") if isinstance(data, dict) else None
        raise HandlerError(f"{SYSTEMS[system]} refused {method} {path}: "
                           f"{message or answer.status_code}")
    return data


def fetch_text(system: str, path: str) -> bytes:
    """GET a non-JSON resource (a CRL, a certificate chain) from a state system."""
    answer = _send(system, "GET", path)
    if answer.status_code != 200:
        raise BadAnswer(f"{SYSTEMS[system]} answered {answer.status_code} for GET {path}")
    return answer.content


def expect(system: str, data, fields: dict) -> dict:
    """Return `data` if it is an object whose `fields` have the given types, else BadAnswer."""
    if not isinstance(data, dict):
        raise BadAnswer(f"{SYSTEMS[system]} answered {type(data).__name__}, not an object")
    for name, kind in fields.items():
        if not isinstance(data.get(name), kind):
            raise BadAnswer(f"{SYSTEMS[system]} answer lacks '{name}' "
                            f"({getattr(kind, '__name__', kind)})")
    return data
