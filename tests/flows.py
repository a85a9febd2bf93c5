"""Sequence-flow coverage of the suite: which flows drawn in bpmn/ the tests' cases took.

At the end of every test each case it made is replayed (tests/conftest.py); the replayed
workflow, which keeps its whole history, tells the flows it took (`engine.taken_flows`). At
the end of the run the report lists, per process, the flows taken out of those drawn.
"""

from collections import defaultdict
from pathlib import Path

from lxml import etree

from app.core import engine

BPMN_DIR = Path(__file__).resolve().parent.parent / "bpmn"
NS = {"bpmn": "http://www.omg.org/spec/BPMN/20100524/MODEL"}
TAKEN: dict[str, set] = defaultdict(set)


def record(workflow) -> None:
    """Add the flows a replayed workflow took to the run's record."""
    for process, source, target in engine.taken_flows(workflow):
        TAKEN[process].add((source, target))


def drawn() -> dict[str, dict[tuple[str, str], str]]:
    """Return {process id: {(source, target): flow id}} of every process in bpmn/."""
    flows = {}
    for path in sorted(BPMN_DIR.glob("*.bpmn")):
        root = etree.parse(str(path), etree.XMLParser(resolve_entities=False, no_network=True))
        for process in root.iterfind("bpmn:process", NS):
            flows[process.get("id")] = {
                (flow.get("sourceRef"), flow.get("targetRef")): flow.get("id")
                for flow in process.iterfind(".//bpmn:sequenceFlow", NS)}
    return flows


def report() -> list[str]:
    """Return the report's lines: per process, flows taken / drawn and those never taken."""
    lines = []
    total = covered = 0
    for process, flows in sorted(drawn().items()):
        taken = set(flows) & TAKEN.get(process, set())
        total, covered = total + len(flows), covered + len(taken)
        share = 100 * len(taken) / len(flows) if flows else 100.0
        lines.append(f"{process:70s} {len(taken):4d}/{len(flows):<4d} {share:6.1f} %")
        missing = sorted(flows[pair] for pair in set(flows) - taken)
        if missing and taken:  # a process no test reached is one line
            lines.append(f"    never taken: {', '.join(missing[:12])}"
                         + (" …" if len(missing) > 12 else ""))
    lines.append(f"{'all processes':70s} {covered:4d}/{total:<4d} "
                 f"{100 * covered / total if total else 100.0:6.1f} %")
    return lines
