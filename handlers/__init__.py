"""Service-task handlers, addressed by their BPMN operator id `<module>/<function>`."""

from collections.abc import Callable

from handlers import adapters
from handlers import eds
from handlers import licensing
from handlers import payment
from handlers import portal
from handlers import registry


def _register(*functions: Callable[..., dict]) -> dict[str, Callable[..., dict]]:
    """Return the functions keyed by operator id; raise ValueError on a duplicate id."""
    handlers: dict[str, Callable[..., dict]] = {}
    for function in functions:
        operator_id = f"{function.__module__.rsplit('.', 1)[-1]}/{function.__name__}"
        if operator_id in handlers:
            raise ValueError(f"handler {operator_id} registered twice")
        handlers[operator_id] = function
    return handlers


HANDLERS: dict[str, Callable[..., dict]] = _register(
    registry.lookup_applicant,
    portal.check_session,
    payment.verify,
    licensing.register_application,
    licensing.issue_licence,
    licensing.record_refusal,
    eds.verify_request_signature,
    eds.sign_document,
)

# the state system each handler module asks: what a case waiting for its job waits for
_SYSTEM_OF_MODULE = {"registry": "GBD FL/UL (registries)", "portal": adapters.SYSTEMS["portal"],
                     "payment": adapters.SYSTEMS["pep"], "licensing": adapters.SYSTEMS["elicense"],
                     "eds": adapters.SYSTEMS["nca"]}


def system_of(operator_id: str) -> str:
    """Return the name of the state system a handler (by operator id) asks."""
    return _SYSTEM_OF_MODULE.get(operator_id.split("/", 1)[0], operator_id)


# handler parameters that carry secrets (a portal session token, the applicant's signed request):
# the journal and the read views show them only as a hash (app.audit.redaction)
SECRET_PARAMETERS: frozenset[str] = frozenset({"session", "signed_request"})


def configure(*, urls: dict[str, str], keys_dir: str, trust_chain: str,
              timeout: float = 5.0) -> None:
    """Point the handlers at the state systems, the signing keys and the EDS trust anchors."""
    adapters.configure(urls, timeout)
    eds.configure(keys_dir=keys_dir, trust_chain=trust_chain,
                  crl_source=lambda: adapters.fetch_text("nca", "/crl.pem"))
