"""Versioned process definitions: deploy bpmn/ with its forms, keep specs and forms cached."""

import hashlib
import inspect
import threading
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path

from flask import current_app
from sqlalchemy import select

import handlers
from app import forms
from app.audit import redaction
from app.core import engine
from app.core import store
from app.diagram import DiagramError
from app.diagram import read_processes
from app.forms import Form
from app.models import ProcessDefinition
from app.models import db
from app.timing import calendar


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


def digest_of(files: dict[str, str]) -> str:
    """Return the sha256 of a {name: text} map (names and texts, in name order)."""
    return hashlib.sha256("".join(f"{n}\0{x}\0" for n, x in sorted(files.items()))
                          .encode()).hexdigest()


def handlers_digest(registry: dict | None = None) -> str:
    """Return the sha256 of a handler registry: its operator ids and their modules' source."""
    registry = handlers.HANDLERS if registry is None else registry
    modules = {inspect.getmodule(function) for function in registry.values()}
    return digest_of({"operators": "\n".join(sorted(registry)),
                      **{f"module {m.__name__}": inspect.getsource(m) for m in modules}})


def calendar_version() -> str | None:
    """Return the working-day calendar's version, or None while the calendar has none."""
    version = getattr(calendar, "version", None)
    return version() if callable(version) else None


def fingerprint(sources: dict[str, str], registry: dict | None = None) -> dict:
    """Return the fingerprint of a definition version's sources with today's code.

    {bpmn, forms, handlers, calendar}: the digests of the diagram files and of the form files,
    of the handler registry (operator ids and module source) and the calendar's version.
    """
    forms_part = {n: x for n, x in sources.items() if n.startswith(forms.PREFIX)}
    bpmn_part = {n: x for n, x in sources.items() if n not in forms_part}
    return {"bpmn": digest_of(bpmn_part), "forms": digest_of(forms_part),
            "handlers": handlers_digest(registry), "calendar": calendar_version()}


def _sources(key: str, manifests: dict, files: dict, forms_dir: Path) -> tuple[list, dict]:
    """Return (processes reached, {file: text}) of a regulation: its diagrams and forms.

    Raises DiagramError naming the file if a form cannot be read or its schema is invalid.
    """
    reached = _closure(key, manifests)
    paths = sorted({files[pid] for pid in reached})
    sources = {p.name: p.read_text(encoding="utf-8") for p in paths}
    try:
        form_files = forms.read_folder(forms_dir, reached)
        forms.from_sources(form_files)
    except forms.FormError as err:
        raise DiagramError(f"process '{key}': {err}") from None
    return reached, {**sources, **form_files}


_SPECS_TEXT: dict[str, str] = {}  # sha256 of a version's sources -> its serialized specs


def _specs_text(digest: str, key: str, paths: list[Path]) -> str:
    """Return the serialized specs of process `key`, parsed once per process per content.

    Parsing is the slow part of a deploy; the same sources always give the same specs, so a
    second deploy of them (another database, a restart, every test's app) reuses the text.
    """
    text = _SPECS_TEXT.get(digest)
    if text is None:
        specs = engine.parse_specs(sorted(set(paths)), [key])[key]
        text = _SPECS_TEXT[digest] = store.dump_specs(specs)
    return text


def deploy_directory(bpmn_dir: Path, deployed_by: str, forms_dir: Path | None = None,
                     registry: dict | None = None, journal=None) -> list[ProcessDefinition]:
    """Deploy every regulation whose diagrams or forms changed; return the new versions.

    A version stores its diagrams and the forms of its processes (FORMS_DIR unless given) in
    `sources`; its `sha256` covers both, and `manifest["fingerprint"]` records the parts.
    Nothing is written unless every regulation's files are valid. `journal(conn, created)`,
    when given, records the deploy in the same transaction (app.audit.admin_log).
    """
    forms_dir = Path(forms_dir or current_app.config["FORMS_DIR"])
    manifests, files = scan(bpmn_dir)
    created = []
    for key, manifest in manifests.items():
        if not manifest["is_regulation"]:
            continue
        reached, sources = _sources(key, manifests, files, forms_dir)
        digest = digest_of(sources)
        latest = _latest(key)
        if latest and latest.sha256 == digest:
            continue
        full = dict(manifest, processes={pid: manifests[pid] for pid in reached},
                    fingerprint=fingerprint(sources, registry))
        created.append(ProcessDefinition(
            key=key, version=(latest.version + 1 if latest else 1), sha256=digest,
            sources=sources, specs=_specs_text(digest, key, [files[pid] for pid in reached]),
            manifest=full, deployed_by=deployed_by))
    db.session.add_all(created)
    if created and journal is not None:
        journal(db.session.connection(), created)
    db.session.commit()
    return created


def lanes_of(manifest: dict) -> dict[str, str]:
    """Return {lane id: name} of a version: its process's lanes and those of every fragment it
    calls (a regulation whose office or head work is in a shared fragment involves them too)."""
    lanes = {}
    for process in (manifest.get("processes") or {}).values():
        lanes.update(process.get("lanes") or {})
    lanes.update(manifest.get("lanes") or {})
    return lanes


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
    """A deployed version as the services use it: parsed specs, manifest and forms.

    `forms` maps "<process>/<task>" to the version's own `Form`s; `secrets` are the names
    the read views and the journal redact (app.audit.redaction) for this version. `sha256` is the
    version's, `fingerprint` its parts' digests with the code this process runs (each case
    records both when it starts).
    """

    id: int
    key: str
    version: int
    manifest: dict
    specs: tuple
    forms: dict = field(default_factory=dict)
    secrets: frozenset = field(default_factory=frozenset)
    sha256: str = ""
    fingerprint: dict = field(default_factory=dict)

    def form(self, process_key: str, task_id: str) -> Form:
        """Return the form of a user task (or forms.START) in this version; FormMissing if none."""
        found = self.forms.get(f"{process_key}/{task_id}")
        if found is None:
            raise forms.FormMissing(f"no form {forms.PREFIX}{process_key}/{task_id}{forms.SCHEMA}"
                                    f" in {self.key} v{self.version}")
        return found


def _version_forms(manifest: dict, sources: dict) -> dict:
    """Return the parsed forms stored with a version.

    A version deployed before forms were versioned (no fingerprint) stored none: it takes the
    forms in FORMS_DIR once, when first loaded, until a data migration stores them with it.
    """
    if "fingerprint" not in manifest:
        sources = forms.read_folder(Path(current_app.config["FORMS_DIR"]),
                                    manifest.get("processes", {}))
    return forms.from_sources(sources)


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
                    select(table.c.key, table.c.version, table.c.manifest, table.c.specs,
                           table.c.sources, table.c.sha256)
                    .where(table.c.id == definition_id)).one()
            loaded_forms = _version_forms(row.manifest, row.sources)
            loaded = LoadedDefinition(definition_id, row.key, row.version, row.manifest,
                                      store.load_specs(row.specs), loaded_forms,
                                      redaction.secret_names(loaded_forms), row.sha256,
                                      fingerprint(row.sources))
            with self._lock:
                self._loaded[definition_id] = loaded
        return loaded
