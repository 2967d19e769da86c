"""Reading and adjusting OpenAI chat payloads on their way through the gateway (pure).

The gateway forwards request and response bytes as they are, with two exceptions:

* the request's ``model`` is replaced by the chosen upstream's deployment name (clients name
  the service; stable and candidate are different deployments);
* a streamed request always asks the upstream for ``stream_options.include_usage``, because
  the cost log and the budget guard need token counts. If the client did not ask for usage
  itself, the usage-only chunk is removed from the stream again (``SSEAccumulator``), so the
  client sees exactly the stream shape it asked for.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from launchgate.gateway import jsoncodec


class PayloadError(ValueError):
    """The client's request body is unusable (400 invalid_request_error)."""

    def __init__(self, message: str, param: str | None = None) -> None:
        self.param = param
        super().__init__(message)


def message_text(content: Any) -> str:
    """Text of a message's ``content``: a string, or the text parts of a list of content parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(
            part.get("text", "") for part in content
            if isinstance(part, dict) and part.get("type") == "text" and isinstance(part.get("text"), str)
        )
    return ""


@dataclass
class ChatRequest:
    body: dict[str, Any]
    stream: bool
    client_wants_usage: bool
    system_prompt: str | None
    user_text: str  # the last user message: what the request asks (logged after redaction)
    finite: bool = True  # no NaN/Infinity in the body: the fast encoder writes it exactly

    @property
    def prompt_sha256(self) -> str | None:
        if self.system_prompt is None:
            return None
        return hashlib.sha256(self.system_prompt.encode("utf-8")).hexdigest()

    def effective_prompt_sha256(self, variant_prompt: str | None) -> str | None:
        """The hash of the system prompt the model actually got (the client's, else the variant's)."""
        if self.system_prompt is None and variant_prompt is not None:
            return hashlib.sha256(variant_prompt.encode("utf-8")).hexdigest()
        return self.prompt_sha256

    def upstream_body(self, model: str, variant_prompt: str | None = None) -> bytes:
        body = dict(self.body)
        body["model"] = model
        if self.system_prompt is None and variant_prompt is not None:
            body["messages"] = [{"role": "system", "content": variant_prompt}, *body["messages"]]
        if self.stream:
            options = dict(body.get("stream_options") or {})
            options["include_usage"] = True
            body["stream_options"] = options
        return jsoncodec.dumps(body) if self.finite else jsoncodec.dumps_stdlib(body)


def parse_chat_request(raw: bytes) -> ChatRequest:
    """Validate just what the gateway relies on; the upstream validates the rest."""
    try:
        body, finite = jsoncodec.loads_request(raw)
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise PayloadError("request body is not valid JSON") from None
    if not isinstance(body, dict):
        raise PayloadError("request body must be a JSON object")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages or not all(isinstance(m, dict) for m in messages):
        raise PayloadError("'messages' must be a non-empty list of message objects", "messages")
    stream = body.get("stream", False)
    if not isinstance(stream, bool):
        raise PayloadError("'stream' must be a boolean", "stream")
    options = body.get("stream_options")
    wants_usage = bool(isinstance(options, dict) and options.get("include_usage"))
    # "developer" is the newer OpenAI name for the system role.
    system = [message_text(m.get("content")) for m in messages if m.get("role") in ("system", "developer")]
    users = [m for m in messages if m.get("role") == "user"]
    return ChatRequest(
        body=body,
        stream=stream,
        client_wants_usage=wants_usage,
        system_prompt="\n".join(system) if system else None,
        user_text=message_text(users[-1].get("content")) if users else "",
        finite=finite,
    )


@dataclass
class Completion:
    """What the gateway learns from an upstream answer (streamed or not)."""

    content: str | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    finish_reason: str | None = None
    error_code: str | None = None


def _usage(obj: dict[str, Any], into: Completion) -> None:
    usage = obj.get("usage")
    if isinstance(usage, dict):
        p, c = usage.get("prompt_tokens"), usage.get("completion_tokens")
        into.input_tokens = p if isinstance(p, int) else into.input_tokens
        into.output_tokens = c if isinstance(c, int) else into.output_tokens


def read_completion(raw: bytes) -> Completion:
    """Content, usage and finish reason of a non-streamed completion; empty fields if unreadable."""
    out = Completion()
    try:
        obj = jsoncodec.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError):
        return out
    if not isinstance(obj, dict):
        return out
    _usage(obj, out)
    choices = obj.get("choices")
    if isinstance(choices, list) and choices and isinstance(choices[0], dict):
        message = choices[0].get("message") or {}
        if isinstance(message, dict):
            out.content = message_text(message.get("content"))
        out.finish_reason = choices[0].get("finish_reason")
    return out


def read_error_code(raw: bytes) -> str | None:
    """``error.code`` (or ``error.type``) of an OpenAI-style error body."""
    try:
        obj = jsoncodec.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None
    err = obj.get("error") if isinstance(obj, dict) else None
    if isinstance(err, dict):
        code = err.get("code") or err.get("type")
        return str(code)[:64] if code else None
    return None


_USAGE_ONLY = (b'"choices":[]', b'"choices": []')
_NULL_USAGE = (b', "usage": null', b',"usage":null', b'"usage": null, ', b'"usage":null,')


@dataclass
class SSEAccumulator:
    """Passes an upstream SSE byte stream on, keeping a copy to read once the stream is done.

    ``feed`` returns the bytes to forward now. Only whole events are forwarded (a partial event
    waits for its end; a client cannot use half an event either). With ``strip_usage`` the
    usage-only chunk (``"choices": []``) is dropped and ``"usage": null`` removed from the others.
    Parsing the events (content for the schema check, usage for cost) waits for ``finish``, so
    it adds nothing to the time-to-first-token the client sees.
    """

    strip_usage: bool = False
    _tail: bytes = b""
    _seen: list[bytes] = field(default_factory=list)

    def feed(self, data: bytes) -> bytes:
        buf = self._tail + data
        sep = b"\r\n\r\n" if b"\r\n\r\n" in buf else b"\n\n"  # SSE allows CRLF; most servers send LF
        end = buf.rfind(sep)
        if end < 0:
            self._tail = buf
            return b""
        whole, self._tail = buf[: end + len(sep)], buf[end + len(sep) :]
        self._seen.append(whole)
        if self.strip_usage and b'"usage"' in whole:
            return _without_usage(whole, sep)
        return whole

    def flush(self) -> bytes:
        """What is left when the upstream closes: a final event without its blank line."""
        tail, self._tail = self._tail, b""
        if not tail.strip():
            return b""
        self._seen.append(tail + b"\n\n")
        return _without_usage(tail, b"\n\n") if self.strip_usage else tail

    def finish(self) -> Completion:
        """Read every event seen: concatenated content deltas, usage, finish reason, error code."""
        out = Completion()
        parts: list[str] = []
        for line in b"".join(self._seen).split(b"\n"):
            if not line.startswith(b"data:"):
                continue
            payload = line[5:].strip()
            if not payload.startswith(b"{"):
                continue  # [DONE] or a keep-alive
            try:
                obj = jsoncodec.loads(payload)
            except (json.JSONDecodeError, UnicodeDecodeError):
                continue
            if not isinstance(obj, dict):
                continue
            if isinstance(obj.get("error"), dict):
                out.error_code = read_error_code(payload)
            _usage(obj, out)
            choices = obj.get("choices")
            for choice in choices if isinstance(choices, list) else []:
                if not isinstance(choice, dict):
                    continue
                delta = choice.get("delta")
                if isinstance(delta, dict) and isinstance(delta.get("content"), str):
                    parts.append(delta["content"])
                if choice.get("finish_reason"):
                    out.finish_reason = choice["finish_reason"]
        out.content = "".join(parts) if parts or out.finish_reason else None
        return out


def _is_usage_only(event: bytes) -> bool:
    return b'"usage"' in event and any(marker in event for marker in _USAGE_ONLY)


def _without_usage(events: bytes, sep: bytes) -> bytes:
    """Undo include_usage for a client that did not ask: drop the usage-only chunk, and the
    ``"usage": null`` that every other chunk then carries. A JSON key cannot occur unescaped
    inside a string value, so the plain byte replace cannot touch the content."""
    kept = [e + sep for e in events.split(sep) if e and not _is_usage_only(e)]
    out = b"".join(kept)
    for pattern in _NULL_USAGE:
        out = out.replace(pattern, b"")
    return out
