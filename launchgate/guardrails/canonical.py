"""Output contract: find the JSON answer in a model's text, and write it in canonical form.

Models wrap JSON in prose or code fences ("Here is the triage: {...}"); the contract is the JSON
object itself. ``extract`` takes the whole text if it parses, else the outermost ``{...}`` span.
``canonical`` writes it with keys in the schema's ``properties`` order (others after, sorted),
compact, so every caller gets byte-identical answers for equal content.
"""

from __future__ import annotations

import json
from typing import Any

from launchgate.gateway import jsoncodec

_DECODER = json.JSONDecoder()


def _loads(text: str) -> Any:
    return jsoncodec.loads(text)


def extract(text: str | None) -> tuple[Any, bool]:
    """(parsed JSON, had stray text around it); (None, False) when no JSON object is found."""
    if not text:
        return None, False
    stripped = text.strip()
    if stripped.startswith("{") and stripped.endswith("}"):
        try:
            return _loads(stripped), stripped != text
        except (ValueError, RecursionError):
            pass
    start = stripped.find("{")
    while start >= 0:
        try:
            obj, _ = _DECODER.raw_decode(stripped, start)
            return obj, True
        except (ValueError, RecursionError):
            start = stripped.find("{", start + 1)
    return None, False


def _ordered(obj: Any, schema: dict[str, Any] | None) -> Any:
    if isinstance(obj, dict):
        props = (schema or {}).get("properties") if isinstance(schema, dict) else None
        props = props if isinstance(props, dict) else {}
        keys = [k for k in props if k in obj]
        if len(keys) < len(obj):
            keys += sorted(k for k in obj if k not in props)
        return {k: _ordered(v, props.get(k)) if isinstance(v, dict | list) else v
                for k in keys for v in (obj[k],)}
    if isinstance(obj, list):
        items = schema.get("items") if isinstance(schema, dict) else None
        return [_ordered(v, items if isinstance(items, dict) else None) for v in obj]
    return obj


def canonical(obj: Any, schema: dict[str, Any] | None) -> str:
    """Compact JSON, keys in schema order; orjson where it writes what the stdlib would (see jsoncodec)."""
    return jsoncodec.dumps(_ordered(obj, schema)).decode("utf-8")
