"""Compaction: drop the finished history no live task needs, so a case's state stays bounded.

SpiffWorkflow keeps every finished task in the task tree; a 1,000-round loop holds 4,000 tasks
and every save and restore walks them all. `compact` re-roots the top workflow's tree at the
lowest finished task that every task still needed hangs under, and drops the rest: the finished
tasks above that root, the finished branches beside it and the subprocesses of dropped tasks.

Kept, always: every task not finished (or in ERROR, which a retry sets READY again) with its
subtree, its ancestors up to the new root, and a finished root above it whose data the subtree
inherits; the completed end events (`engine._outcome`), the last completed task and the task
changed last (`engine.current_data`); the split a kept boundary or start join looks up. What the
engine counts in dropped tasks, the completed tasks of each element (`occurrence`), is carried in
a per-element counter that `app.core.store` writes with the state. Compaction is skipped, keeping
everything, where dropped tasks could still change what the engine does: a dropped parallel or
inclusive gateway that live work can reach again (apart from a parallel gateway on the root's
own ancestry, which SpiffWorkflow ignores), a dropped subprocess that is not finished, and
ad-hoc process specs (conditional paths start from the tree's root).
"""

from collections import Counter

from SpiffWorkflow.bpmn.specs.control import _EndJoin
from SpiffWorkflow.bpmn.specs.defaults import EndEvent
from SpiffWorkflow.bpmn.specs.mixins.parallel_gateway import ParallelGateway
from SpiffWorkflow.bpmn.specs.mixins.unstructured_join import UnstructuredJoin
from SpiffWorkflow.util.task import TaskState

CARRIED = "_qyzmet_completed"  # the workflow attribute holding the carried counter
_KEPT_STATES = TaskState.NOT_FINISHED_MASK | TaskState.ERROR


def completed_counts(workflow) -> Counter:
    """Return the top workflow's counter of completed tasks compaction dropped.

    Keyed by (process spec name, BPMN id); `app.core.store` writes and restores it with the state.
    """
    top = getattr(workflow, "top_workflow", workflow)
    counts = top.__dict__.get(CARRIED)
    if counts is None:
        counts = top.__dict__[CARRIED] = Counter()
    return counts


def compact(workflow) -> bool:
    """Drop the finished history of `workflow` that no live task needs; tell if it dropped any.

    The workflow is changed in place and behaves as before: the same ready tasks, data,
    occurrences, outcome and status, and the same engine decisions from here on.
    """
    if getattr(workflow.spec, "conditional_paths", None):
        return False
    root = _new_root(workflow)
    if root is None or root is workflow.task_tree:
        return False
    kept = _subtree_ids(workflow, root)
    dropped = [t for t in workflow.tasks.values() if t.id not in kept]
    subprocesses = _dropped_subprocesses(workflow, {t.id for t in dropped})
    if subprocesses is None or not _joins_allow(workflow, root, dropped):
        return False
    _count(workflow, dropped, subprocesses)
    _apply(workflow, root, kept, dropped, subprocesses)
    return True


def _path(task) -> list:
    """Return the task's ancestry from the tree's root down to the task itself."""
    path = []
    while task is not None:
        path.append(task)
        task = task.parent
    path.reverse()
    return path


def _in_top(workflow, task):
    """Return the top-level task that holds `task` (itself, or its subprocess's parent task)."""
    while task.workflow is not workflow:
        task = workflow.get_task_from_id(task.workflow.parent_task_id)
    return task


def _anchors(workflow) -> tuple[list, list]:
    """Return (live top-level tasks, finished tasks to keep) of the workflow."""
    live = [t for t in workflow.tasks.values() if t.state & _KEPT_STATES]
    finished = [t for t in workflow.tasks.values()
                if t.state == TaskState.COMPLETED and isinstance(t.task_spec, EndEvent)]
    if workflow.last_task is not None:
        finished.append(workflow.last_task)
    every = [t for owner in (workflow, *workflow.subprocesses.values())
             for t in owner.tasks.values()
             if t.state & TaskState.FINISHED_MASK or t.state == TaskState.READY]
    if every:
        latest = max(t.last_state_change for t in every)
        finished += [_in_top(workflow, t) for t in every if t.last_state_change == latest]
    return live, finished


def _new_root(workflow):
    """Return the lowest finished task above all that must stay, or None to keep everything."""
    live, finished = _anchors(workflow)
    anchors = live + finished
    if not anchors:
        return None
    paths = [_path(t) for t in anchors]
    if any(p[0] is not workflow.task_tree for p in paths):
        return None  # a task outside the tree: nothing is certain
    depth = 0
    while all(len(p) > depth + 1 for p in paths) and len({id(p[depth + 1]) for p in paths}) == 1:
        depth += 1
    root = paths[0][depth]
    while root is not None and root.state & _KEPT_STATES:
        root = root.parent  # the root's own data must be final: a finished task
    return _above_splits(workflow, root) if root is not None else None


def _above_splits(workflow, root):
    """Move `root` up to the split any kept boundary or start-event join looks up."""
    moved = True
    while moved:
        moved = False
        kept = _subtree_ids(workflow, root)
        for task_id in kept:
            task = workflow.tasks[task_id]
            split = getattr(task.task_spec, "split_task", None)
            found = task.find_ancestor(split) if split else None
            if found is not None and found.id not in kept:
                root, moved = found, True
                break
    return root


def _subtree_ids(workflow, root) -> set:
    """Return the ids of `root` and all its descendants."""
    ids, stack = set(), [root]
    while stack:
        task = stack.pop()
        ids.add(task.id)
        stack.extend(workflow.tasks[c] for c in task._children if c in workflow.tasks)
    return ids


def _dropped_subprocesses(workflow, dropped_ids: set) -> list | None:
    """Return the subprocesses under dropped tasks, or None if one of them is not finished."""
    found, parents, grew = [], set(dropped_ids), True
    while grew:
        grew = False
        for parent_id, sub in workflow.subprocesses.items():
            if parent_id in parents and sub not in found:
                if any(t.state & _KEPT_STATES for t in sub.tasks.values()):
                    return None
                found.append(sub)
                parents |= set(sub.tasks)
                grew = True
    return found


def _reachable(live) -> set:
    """Return the task specs that the live tasks' specs lead to (their outputs, transitively)."""
    seen, stack = set(), [t.task_spec for t in live]
    while stack:
        spec = stack.pop()
        if spec not in seen:
            seen.add(spec)
            stack.extend(spec.outputs)
    return seen


def _joins_allow(workflow, root, dropped) -> bool:
    """Tell whether no dropped gateway join could still change a join's decision or data."""
    joins = [t for t in dropped if isinstance(t.task_spec, UnstructuredJoin)
             and not isinstance(t.task_spec, _EndJoin)]
    if not joins:
        return True
    reachable = _reachable([t for t in workflow.tasks.values() if t.state & _KEPT_STATES])
    ancestry = {t.id for t in _path(root)}
    for task in joins:
        if task.task_spec not in reachable:
            continue
        # a parallel gateway skips the gateways above it; anything else may be read again
        if not (isinstance(task.task_spec, ParallelGateway) and task.id in ancestry):
            return False
    return True


def _count(workflow, dropped: list, subprocesses: list) -> None:
    """Add the completed tasks about to be dropped to the carried per-element counter."""
    counts = completed_counts(workflow)
    for owner, tasks in ((workflow, dropped), *((s, s.tasks.values()) for s in subprocesses)):
        for task in tasks:
            bpmn_id = getattr(task.task_spec, "bpmn_id", None)
            if task.state == TaskState.COMPLETED and bpmn_id is not None:
                counts[(owner.spec.name, bpmn_id)] += 1


def _apply(workflow, root, kept: set, dropped: list, subprocesses: list) -> None:
    """Cut the tree at `root`, keeping the remaining tasks in their order."""
    root._parent = None
    workflow.task_tree = root
    workflow.tasks = {task_id: t for task_id, t in workflow.tasks.items() if task_id in kept}
    gone = {t.id for t in dropped}
    for sub in subprocesses:
        gone |= set(sub.tasks)
        workflow.subprocesses.pop(sub.parent_task_id, None)
    events = workflow.event_manager.tasks
    for task_id in gone & set(events):
        events.pop(task_id)
