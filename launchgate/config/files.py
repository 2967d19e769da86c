"""Reading the files a person names: release.yaml, prompts, schemas, golden sets, the simulator's variants.

Whatever is wrong with such a file is something its author can fix, so every fault becomes a
DataFileError (exit 2) naming the file and the fault: missing, a directory or other non-file,
unreadable, not UTF-8 or binary, malformed JSON/YAML (with the line), a YAML key given twice.
Nothing here lets a UnicodeDecodeError or a parser's traceback reach the user.
"""

from __future__ import annotations

import json
import stat
from pathlib import Path
from typing import Any

import yaml
from yaml.constructor import ConstructorError

from launchgate.errors import DataFileError

_MERGE_TAG = "tag:yaml.org,2002:merge"


def read_bytes(path: str | Path, what: str) -> bytes:
    """The file's bytes; a missing, non-regular or unreadable file is a DataFileError."""
    path = Path(path)
    try:
        # stat first: reading a FIFO or /dev/zero would block or never end.
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise DataFileError(str(path), f"{what} not found") from None
    except OSError as exc:
        raise DataFileError(str(path), f"cannot read {what}: {exc.strerror or exc}") from None
    if stat.S_ISDIR(mode):
        raise DataFileError(str(path), f"{what} is a directory, expected a file")
    if not stat.S_ISREG(mode):
        raise DataFileError(str(path), f"{what} is not a regular file")
    try:
        return path.read_bytes()
    except OSError as exc:
        raise DataFileError(str(path), f"cannot read {what}: {exc.strerror or exc}") from None


def decode_text(data: bytes, path: str | Path, what: str) -> str:
    """UTF-8 text (a leading BOM, as some editors write, is dropped); binary content is refused."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise DataFileError(str(path), f"{what} is not UTF-8 text (byte 0x{data[exc.start]:02x} at line {line}, "
                                       f"offset {exc.start}): a binary file, or another encoding; save it as "
                                       f"UTF-8") from None
    if "\x00" in text:
        line = text.count("\n", 0, text.index("\x00")) + 1
        raise DataFileError(str(path), f"{what} contains NUL bytes (line {line}): a binary file, not text")
    return text


def read_text(path: str | Path, what: str) -> str:
    """A text file the user named, as a string."""
    return decode_text(read_bytes(path, what), path, what)


def read_json(path: str | Path, what: str) -> Any:
    """A JSON document the user named; malformed JSON and a key given twice name the line or key."""
    text = read_text(path, what)
    try:
        return json.loads(text, object_pairs_hook=_unique_pairs)
    except json.JSONDecodeError as exc:
        raise DataFileError(str(path), f"{what} is not valid JSON: line {exc.lineno}, column {exc.colno}: "
                                       f"{exc.msg}") from None
    except _DuplicateJsonKey as exc:
        raise DataFileError(str(path), f"{what}: key {exc.key!r} appears twice in one object; keep one "
                                       f"(JSON would silently use the last)") from None
    except RecursionError:
        raise DataFileError(str(path), f"{what} is nested too deeply to be a real document") from None


def read_yaml(path: str | Path, what: str) -> Any:
    """A YAML document the user named, loaded safely; a key given twice in a mapping is an error."""
    return parse_yaml(read_text(path, what), str(path), what)


def parse_yaml(text: str, source: str, what: str) -> Any:
    """``text`` as YAML (``source`` names it in errors: a path, or ``--set``)."""
    try:
        return yaml.load(text, Loader=UniqueKeyLoader)  # noqa: S506 - a SafeLoader subclass
    except DuplicateKeyError as exc:
        raise DataFileError(source, f"{what}: key {exc.key!r} appears twice in one mapping (line {exc.first_line} "
                                    f"and line {exc.second_line}); keep one: YAML would silently use the "
                                    f"last") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise DataFileError(source, f"{what} is not valid YAML: {where}{problem}") from None
    except RecursionError:
        raise DataFileError(source, f"{what} is nested too deeply to be a real document") from None


class DuplicateKeyError(ConstructorError):
    def __init__(self, key: Any, first: yaml.Node, second: yaml.Node) -> None:
        self.key = key
        self.first_line = first.start_mark.line + 1
        self.second_line = second.start_mark.line + 1
        super().__init__("while constructing a mapping", first.start_mark,
                         f"found duplicate key {key!r}", second.start_mark)


class UniqueKeyLoader(yaml.SafeLoader):
    """PyYAML's safe loader, except that a mapping may not give the same key twice.

    Plain PyYAML keeps the last value, so a second ``canary:`` section silently replaces the first.
    Keys pulled in by a merge (``<<: *base``) may still be overridden: that is what merges are for.
    """

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        if isinstance(node, yaml.MappingNode):
            seen: dict[Any, yaml.Node] = {}
            for key_node, _ in node.value:
                if key_node.tag == _MERGE_TAG:
                    continue
                key = self.construct_object(key_node, deep=deep)
                try:
                    first = seen.get(key)
                except TypeError:  # an unhashable key: the base class says so with its mark
                    continue
                if first is not None:
                    raise DuplicateKeyError(key, first, key_node)
                seen[key] = key_node
        return super().construct_mapping(node, deep=deep)


class _DuplicateJsonKey(ValueError):
    def __init__(self, key: str) -> None:
        self.key = key
        super().__init__(key)


def _unique_pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise _DuplicateJsonKey(key)
        out[key] = value
    return out
