"""File answers shared by the API and the web views."""

from flask import Response

from app import queries
from app.audit import exports
from app.services import NotFound


def signed_document(rt, actor, instance_id: str, name: str) -> Response:
    """Answer an instance's signed document as an XML attachment."""
    xml = queries.signed_document(rt, actor, instance_id, name)
    return Response(xml, mimetype="application/xml",
                    headers={"Content-Disposition": f'attachment; filename="{name}.xml"'})


EXPORTS = {"jsonl": (exports.jsonl, "application/x-ndjson"),
           "csv": (exports.csv_text, "text/csv")}


def journal_export(rt, actor, instance_id: str, kind: str) -> Response:
    """Answer a case's journal as a JSON Lines or CSV attachment (404 for another kind)."""
    if kind not in EXPORTS:
        raise NotFound(f"no export '{kind}': export.jsonl or export.csv")
    make, mimetype = EXPORTS[kind]
    name, text = make(rt, actor, instance_id)
    return Response(text, mimetype=mimetype,
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})
