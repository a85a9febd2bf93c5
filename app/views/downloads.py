"""File answers shared by the API and the web views."""

from flask import Response

from app import queries


def signed_document(rt, actor, instance_id: str, name: str) -> Response:
    """Answer an instance's signed document as an XML attachment."""
    xml = queries.signed_document(rt, actor, instance_id, name)
    return Response(xml, mimetype="application/xml",
                    headers={"Content-Disposition": f'attachment; filename="{name}.xml"'})
