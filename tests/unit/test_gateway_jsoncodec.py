"""The gateway's fast JSON agrees with the json module wherever it is used."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest

from launchgate.gateway import jsoncodec
from launchgate.gateway.payload import parse_chat_request

SAMPLES: list[bytes] = [
    b'{"model":"m","messages":[{"role":"user","content":"h\\u00e9 \\u2028 \\n \\"q\\" \xf0\x9f\x99\x82"}],'
    b'"temperature":0.7,"top_p":1e-07,"max_tokens":400,"stream":false,"stop":null,"n":1,"seed":-5}',
    b'{"a": 18446744073709551615, "b": -9223372036854775808, "c": [1.5, 2.0, 3e10, 9.75e-05]}',
    b'{"big": 123456789012345678901234567890, "x": "y"}',
    b'{"lone": "\\ud800", "x": 1}',
    b'  {"spaces" : [ 1 , 2 ] }  ',
    b'{"dup": 1, "dup": 2}',
]
NOT_FINITE = [b'{"t": NaN}', b'{"t": Infinity}', b'{"t": -Infinity}', b'{"t": 1e400}']
INVALID = [b"{not json", b"\xff\xfe{", b"\xc3\x28", b"", b'{"a": 1} x']
OTHER_ENCODINGS = [json.dumps({"u": "x"}).encode("utf-16"), b'\xef\xbb\xbf{"bom": 1}']


def same(a: Any, b: Any) -> bool:
    """Equal, with NaN equal to NaN and int kept apart from float."""
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a):
        return math.isnan(b)
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


@pytest.mark.parametrize("raw", SAMPLES + NOT_FINITE + OTHER_ENCODINGS)
def test_loads_request_is_json_loads(raw: bytes) -> None:
    parsed, finite = jsoncodec.loads_request(raw)
    assert same(parsed, json.loads(raw))
    assert finite == (raw not in NOT_FINITE)


@pytest.mark.parametrize("raw", INVALID)
def test_loads_request_refuses_what_json_loads_refuses(raw: bytes) -> None:
    with pytest.raises((json.JSONDecodeError, UnicodeDecodeError)) as expected:
        json.loads(raw)
    with pytest.raises(expected.type):
        jsoncodec.loads_request(raw)


@pytest.mark.parametrize("raw", SAMPLES)
def test_dumps_writes_what_the_stdlib_writes(raw: bytes) -> None:
    obj = json.loads(raw)
    stdlib = json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode("utf-8", "surrogatepass")
    try:
        fast = jsoncodec.dumps(obj)
    except UnicodeEncodeError:  # a lone surrogate: the stdlib's text cannot be UTF-8 either
        assert "\ud800" in json.dumps(obj, ensure_ascii=False)
        return
    assert same(json.loads(fast), json.loads(stdlib))
    if b"e" not in stdlib.replace(b'"', b""):  # float spelling aside, the bytes are the same
        assert fast == stdlib


def test_not_finite_bodies_are_forwarded_by_the_stdlib() -> None:
    chat = parse_chat_request(b'{"model": "x", "temperature": NaN, "messages": [{"role": "user", "content": "hi"}]}')
    assert not chat.finite
    assert b'"temperature":NaN' in chat.upstream_body("deploy")  # as before, not orjson's null
    big = parse_chat_request(b'{"seed": 123456789012345678901234567890, '
                             b'"messages": [{"role": "user", "content": "a"}]}')
    assert b'"seed":123456789012345678901234567890' in big.upstream_body("deploy")


@pytest.mark.parametrize("raw", SAMPLES[:2] + SAMPLES[4:] + NOT_FINITE)
def test_loads_agrees_on_answers(raw: bytes) -> None:
    assert same(jsoncodec.loads(raw), json.loads(raw))
