"""Versioned process definitions: deploy the diagrams in bpmn/, keep parsed specs cached."""

import hashlib
import threading
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select

from app import engine
from app import store
from app.diagram import DiagramError
from app.diagram import read_processes
from app.models import ProcessDefinition
from app.models import db


def _called(manifest: dict) -> set[str]:
    return {t["called"] for t in manifest["tasks"].values() if t.get("called")}


def _closure(key: str, manifests: dict) -> list[str]:
    """Return `key` and every process it reaches through call activities."""
    seen, todo = [], [key]
    while todo:
        pid = todo.pop()
        if pid in seen:
            continue
        if pid not in manifests:
            raise DiagramError(f"process '{key}' calls '{pid}', which no file in bpmn/ defines")
        seen.append(pid)
        todo.extend(sorted(_called(manifests[pid])))
    return seen


def scan(bpmn_dir: Path) -> tuple[dict, dict]:
    """Return ({process id: manifest}, {process id: file path}) for every file in bpmn_dir."""
    manifests, files = {}, {}
    for path in sorted(bpmn_dir.glob("*.bpmn")):
        for pid, manifest in read_processes(path).items():
            manifests[pid], files[pid] = manifest, path
    return manifests, files


def _latest(key: str) -> ProcessDefinition | None:
    return db.session.scalars(select(ProcessDefinition).where(ProcessDefinition.key == key)
                              .order_by(ProcessDefinition.version.desc()).limit(1)).first()


def deploy_directory(bpmn_dir: Path, deployed_by: str) -> list[ProcessDefinition]:
    """Deploy every regulation in bpmn_dir whose sources changed; return the new versions."""
    manifests, files = scan(bpmn_dir)
    created = []
    for key, manifest in manifests.items():
        if not manifest["is_regulation"]:
            continue
        reached = _closure(key, manifests)
        paths = sorted({files[pid] for pid in reached})
        sources = {p.name: p.read_text(encoding="utf-8") for p in paths}
        digest = hashlib.sha256("".join(f"{n}\0{x}\0" for n, x in sorted(sources.items()))
                                .encode()).hexdigest()
        latest = _latest(key)
        if latest and latest.sha256 == digest:
            continue
        specs = engine.parse_specs(paths, [key])[key]
        full = dict(manifest, processes={pid: manifests[pid] for pid in reached})
        row = ProcessDefinition(key=key, version=(latest.version + 1 if latest else 1),
                                sha256=digest, sources=sources, specs=store.dump_specs(specs),
                                manifest=full, deployed_by=deployed_by)
        db.session.add(row)
        created.append(row)
    db.session.commit()
    return created


def all_definitions() -> list[ProcessDefinition]:
    """Return every deployed version of every process, oldest first per process."""
    return list(db.session.scalars(select(ProcessDefinition).order_by(ProcessDefinition.key,
                                                                      ProcessDefinition.version)))


def latest_definitions() -> list[ProcessDefinition]:
    """Return the newest version of every deployed process."""
    return list({row.key: row for row in all_definitions()}.values())


def latest(key: str) -> ProcessDefinition | None:
    """Return the newest version of a process, or None."""
    return _latest(key)


@dataclass(frozen=True)
class LoadedDefinition:
    """A deployed version as the services use it: parsed specs and the manifest."""

    id: int
    key: str
    version: int
    manifest: dict
    specs: tuple


class DefinitionCache:
    """Loaded definitions by id; a deployed version never changes, so nothing expires."""

    def __init__(self):
        self._loaded: dict[int, LoadedDefinition] = {}
        self._lock = threading.Lock()

    def get(self, definition_id: int) -> LoadedDefinition:
        """Return the loaded definition version with this id."""
        loaded = self._loaded.get(definition_id)
        if loaded is None:
            table = ProcessDefinition.__table__
            with db.engine.connect() as conn:
                row = conn.execute(
                    select(table.c.key, table.c.version, table.c.manifest, table.c.specs)
                    .where(table.c.id == definition_id)).one()
            loaded = LoadedDefinition(definition_id, row.key, row.version, row.manifest,
                                      store.load_specs(row.specs))
            with self._lock:
                self._loaded[definition_id] = loaded
        return loaded
