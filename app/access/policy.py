"""Who may do what: one home for the rules that services, queries and views share.

- Auditors and admins read every application and its journal.
- Staff read the applications of processes in which they hold a lane (role), and work on the
  tasks of their lanes.
- Integration accounts (the egov.kz portal) act for applicants: they read only the
  applications they submitted themselves, never a State Corporation case or another's.
- Admins manage other people's credentials; admins, executors and operators retry incidents.

Read rules exist twice on purpose: as predicates for one row, and as SQL conditions for
lists, so that a list never filters after its LIMIT.
"""

from sqlalchemy import and_
from sqlalchemy import false
from sqlalchemy import true

from app.access.auth import Actor

READ_ALL_ROLES = frozenset({"auditor", "admin"})
INTEGRATION_ROLES = frozenset({"portal"})
RETRY_ROLES = frozenset({"admin", "executor", "operator"})
CREDENTIAL_ADMIN_ROLES = frozenset({"admin"})


def reads_everything(actor: Actor) -> bool:
    """Tell whether the actor reads every application (auditors, admins)."""
    return bool(actor.roles & READ_ALL_ROLES)


def is_integration(actor: Actor) -> bool:
    """Tell whether the actor is an integration account, limited to its own submissions."""
    return bool(actor.roles & INTEGRATION_ROLES) and not reads_everything(actor)


def may_read_instance(actor: Actor, started_by: str, lanes) -> bool:
    """Tell whether the actor may read an application started by `started_by`."""
    if reads_everything(actor):
        return True
    if is_integration(actor):
        return started_by == actor.username
    return bool(actor.roles & set(lanes))


def readable_instances(actor: Actor, started_by_column, definition_column, lanes_by_definition):
    """Return a SQL condition selecting the applications the actor may read.

    `lanes_by_definition` maps definition ids to their lanes.
    """
    if reads_everything(actor):
        return true()
    if is_integration(actor):
        return started_by_column == actor.username
    mine = [d for d, lanes in lanes_by_definition.items() if actor.roles & set(lanes)]
    return definition_column.in_(mine) if mine else false()


def may_work_on(actor: Actor, lane: str) -> bool:
    """Tell whether the actor may claim and complete a task of `lane`."""
    return lane in actor.roles


def may_read_task(actor: Actor, lane: str, started_by: str) -> bool:
    """Tell whether the actor may read a task of `lane` in an application by `started_by`."""
    if reads_everything(actor):
        return True
    if is_integration(actor):
        return started_by == actor.username and lane in actor.roles
    return lane in actor.roles


def readable_tasks(actor: Actor, lane_column, started_by_column):
    """Return a SQL condition selecting the tasks the actor may read."""
    if reads_everything(actor):
        return true()
    if is_integration(actor):
        return and_(lane_column.in_(actor.roles), started_by_column == actor.username)
    return lane_column.in_(actor.roles)


def may_start(actor: Actor, start_lanes) -> bool:
    """Tell whether the actor may start an application of a process."""
    return bool(actor.roles & set(start_lanes))


def may_retry(actor: Actor) -> bool:
    """Tell whether the actor may retry an instance in incident."""
    return bool(actor.roles & RETRY_ROLES)


def may_manage_credentials(actor: Actor) -> bool:
    """Tell whether the actor may end other people's sessions and tokens."""
    return bool(actor.roles & CREDENTIAL_ADMIN_ROLES)


CLOCK_ADMIN_ROLES = frozenset({"admin"})


def may_move_clock(actor: Actor) -> bool:
    """Tell whether the actor may read and move a manual clock (test and demo setups only)."""
    return bool(actor.roles & CLOCK_ADMIN_ROLES)


REPLAY_ROLES = frozenset({"auditor", "admin"})


def may_replay(actor: Actor) -> bool:
    """Tell whether the actor may replay a case from its journal (auditors, admins)."""
    return bool(actor.roles & REPLAY_ROLES)


ESCALATION_ROLES = frozenset({"head"})  # an overdue step is escalated to the lane's head


def may_see_escalations(actor: Actor) -> bool:
    """Heads see the overdue steps escalated to them; auditors and admins see all."""
    return bool(actor.roles & ESCALATION_ROLES) or reads_everything(actor)


# who starts an application arriving through each intake channel
CHANNEL_ROLES = {"state_corporation": "operator", "portal": "portal", "provider_office": "office"}


def may_use_channel(actor: Actor, channel) -> bool:
    """An application comes in through the channel of the role starting it (admins: any)."""
    role = CHANNEL_ROLES.get(channel) if isinstance(channel, str) else None
    return role is None or role in actor.roles or "admin" in actor.roles
