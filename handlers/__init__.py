"""Service-task handlers, addressed by their BPMN operator id `<module>/<function>`."""

from collections.abc import Callable

from handlers import eds
from handlers import licensing
from handlers import registry
from handlers import statedb


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
    licensing.register_application,
    licensing.issue_licence,
    licensing.record_refusal,
    eds.sign_document,
)


def configure(*, database_url: str, keys_dir: str) -> None:
    """Point the handlers at the state-systems database and the signing-key folder."""
    statedb.configure(database_url)
    eds.configure(keys_dir)
