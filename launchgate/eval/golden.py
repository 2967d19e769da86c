"""Golden set and prompt loading: the inputs an evaluation is made of."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field, ValidationError

from launchgate.config.files import read_json, read_text
from launchgate.errors import DataFileError


class GoldenCase(BaseModel):
    id: str = Field(min_length=1)
    input: dict[str, Any]
    expected: dict[str, Any]
    tags: list[str] = Field(default_factory=list)


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 16), b""):
            h.update(chunk)
    return h.hexdigest()


def read_json_file(path: Path, what: str) -> Any:
    """A schema or other JSON file named by the config (launchgate/config/files.py says what can be wrong)."""
    return read_json(path, what)


def load_golden_set(path: Path, what: str = "golden set") -> list[GoldenCase]:
    """Parse the JSONL golden set. Structural problems are input errors naming the line."""
    lines = read_text(path, what).splitlines()
    cases: list[GoldenCase] = []
    problems: list[str] = []
    for lineno, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            cases.append(GoldenCase.model_validate_json(line))
        except ValidationError as exc:
            first = exc.errors(include_url=False)[0]
            field = ".".join(str(p) for p in first["loc"]) or "(line)"
            problems.append(f"line {lineno}: {field}: {first['msg']}")
        if len(problems) >= 10:
            break
    if problems:
        raise DataFileError(str(path), "malformed golden set rows:\n  " + "\n  ".join(problems))
    if not cases:
        raise DataFileError(str(path), "golden set is empty: add at least one case (one JSON object a line)")
    return cases


def load_prompt(path: Path, what: str = "prompt") -> str:
    text = read_text(path, what)
    if not text.strip():
        raise DataFileError(str(path), f"{what} is empty")
    return text


def render_messages(system_prompt: str, case_input: dict[str, Any]) -> list[dict[str, str]]:
    """The chat messages for one case: the versioned system prompt, then the input as JSON."""
    return [
        {"role": "system", "content": system_prompt},
        {"role": "user", "content": json.dumps(case_input, ensure_ascii=False, sort_keys=True)},
    ]
