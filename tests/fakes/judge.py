"""Replies for `FakeMistral` acting as a ragas judge (instructor's JSON mode).

ragas 0.4 asks its judge through instructor in `Mode.JSON`: the system message carries the
JSON schema of the expected answer and the request sets `response_format: json_object`.
`schema_reply` reads that schema and answers the smallest valid instance of it, so every
ragas metric gets a well-formed answer (its value means nothing):

    fake.chat_reply = schema_reply
"""

from __future__ import annotations

import json
from typing import Any

from tests.fakes.mistral import message_text

MARKER = "json_schema:"


def instance(schema: dict[str, Any], defs: dict[str, Any]) -> Any:
    """A minimal value that validates against `schema` (objects, arrays, scalars, refs)."""
    if "$ref" in schema:
        return instance(defs[schema["$ref"].rsplit("/", 1)[-1]], defs)
    if "anyOf" in schema:
        options = [s for s in schema["anyOf"] if s.get("type") != "null"]
        return instance(options[0], defs) if options else None
    if "enum" in schema:
        return schema["enum"][0]
    kind = schema.get("type")
    if kind == "object":
        props = schema.get("properties", {})
        return {name: instance(sub, defs) for name, sub in props.items()}
    if kind == "array":
        return [instance(schema.get("items", {}), defs)]
    return {"string": "oui", "integer": 1, "number": 1.0, "boolean": True}.get(str(kind))


def schema_reply(body: dict[str, Any]) -> str:
    """The chat reply to a JSON-mode request: an instance of the schema in its messages."""
    for message in body.get("messages") or []:
        text = message_text(message)
        if MARKER in text:
            start = text.index("{", text.index(MARKER))
            schema, _ = json.JSONDecoder().raw_decode(text[start:])
            return json.dumps(instance(schema, schema.get("$defs", {})), ensure_ascii=False)
    return "{}"
