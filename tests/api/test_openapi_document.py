"""The OpenAPI document is usable by client generators: binary archive, typed configuration body, refs resolve."""

from __future__ import annotations

from typing import Any

from tests.api.conftest import Api


def _refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        found = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return found + [ref for value in node.values() for ref in _refs(value)]
    if isinstance(node, list):
        return [ref for item in node for ref in _refs(item)]
    return []


async def test_the_document_declares_the_archive_as_binary_and_the_configuration_body_with_its_schema(
    api: Api,
) -> None:
    """The archive's gzip answer has a binary schema; applyConfiguration's JSON body is the configuration's schema."""
    document = (await api.client.get("/api/v1/openapi.json")).json()
    paths = document["paths"]
    archive = paths["/api/v1/projects/{project}/runs/{run}/archive"]["get"]["responses"]["200"]["content"]
    assert archive["application/gzip"]["schema"] == {"type": "string", "format": "binary"}
    body = paths["/api/v1/admin/configuration"]["put"]["requestBody"]["content"]
    assert body["application/json"]["schema"] == {"$ref": "#/components/schemas/Configuration"}
    schemas = document["components"]["schemas"]
    assert "projects" in schemas["Configuration"]["properties"]
    assert {"ProjectConfig", "JobConfig", "ScheduleConfig"} <= set(schemas)
    unresolved = [ref for ref in _refs(document) if ref.removeprefix("#/components/schemas/") not in schemas]
    assert not unresolved, unresolved
