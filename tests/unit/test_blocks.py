from __future__ import annotations

import json
from typing import Any

from launchgate.notify.base import Notice
from launchgate.notify.blocks import MAX_FIELDS, STATUS_EMOJI, build_blocks, fallback_text
from launchgate.notify.console import ConsoleNotifier, format_line


def notice(**overrides: Any) -> Notice:
    base: dict[str, Any] = dict(
        event="eval_gate",
        role="engineering",
        service="support-bot",
        release_id="support-bot-20261122T010203Z-abcdef12",
        status="blocked",
        title="Eval gate blocked",
        text="Candidate scored 0.81 < baseline 0.84 + 0.02; see the eval report.",
        link="https://prefect.example/runs/123",
        fields={"score": "0.81", "baseline": "0.84"},
    )
    base.update(overrides)
    return Notice(**base)


def all_text(blocks: list[dict[str, Any]]) -> str:
    return json.dumps(blocks, ensure_ascii=False)


def test_blocks_have_title_text_fields_and_button() -> None:
    blocks = build_blocks(notice())
    assert blocks[0]["type"] == "section"
    assert STATUS_EMOJI["blocked"] in blocks[0]["text"]["text"]
    assert "Eval gate blocked" in blocks[0]["text"]["text"]
    assert "0.81 &lt; baseline" in blocks[1]["text"]["text"]  # mrkdwn control chars escaped
    fields = [f["text"] for b in blocks if "fields" in b for f in b["fields"]]
    assert "*Service*\nsupport-bot" in fields
    assert "*Release*\nsupport-bot-20261122T010203Z-abcdef12" in fields
    assert "*score*\n0.81" in fields and "*baseline*\n0.84" in fields
    button = blocks[-1]["elements"][0]
    assert blocks[-1]["type"] == "actions"
    assert button["type"] == "button" and button["url"] == "https://prefect.example/runs/123"


def test_non_web_link_is_shown_as_text_not_button() -> None:
    blocks = build_blocks(notice(link="s3://bucket/svc/releases/r1/"))
    assert all(b["type"] != "actions" for b in blocks)
    assert "s3://bucket/svc/releases/r1/" in all_text(blocks)


def test_no_link_no_release() -> None:
    blocks = build_blocks(notice(link=None, release_id=None, fields={}))
    assert all(b["type"] not in ("actions", "context") for b in blocks)
    assert "Release" not in all_text(blocks)


def test_limits_are_respected() -> None:
    many = {f"f{i:03d}": "v" * 5000 for i in range(60)}
    blocks = build_blocks(notice(title="T" * 5000, text="x" * 5000, fields=many))
    for block in blocks:
        if "text" in block:
            assert len(block["text"]["text"]) <= 3000
        for field in block.get("fields", []):
            assert len(field["text"]) <= 2000
        assert len(block.get("fields", [])) <= MAX_FIELDS
    assert len(blocks) <= 50
    assert "more field(s)" in all_text(blocks)


def test_every_status_has_an_emoji_and_fallback() -> None:
    for status in STATUS_EMOJI:
        text = fallback_text(notice(status=status))
        assert text.startswith(STATUS_EMOJI[status])
        assert "support-bot" in text and "Eval gate blocked" in text


def test_console_prints_one_line_to_stderr(capsys: Any) -> None:
    out = ConsoleNotifier().send(notice(title="multi\nline"), "#releases")
    err = capsys.readouterr().err
    assert out.ok and out.notifier == "console" and out.target == "#releases"
    assert err.count("\n") == 1
    assert "support-bot" in err and "multi line" in err and "https://prefect.example/runs/123" in err


def test_console_never_raises_on_broken_stream() -> None:
    class Broken:
        def write(self, _: str) -> int:
            raise OSError("stream closed")

        def flush(self) -> None:
            pass

    out = ConsoleNotifier(stream=Broken()).send(notice(), None)  # type: ignore[arg-type]
    assert not out.ok and "OSError" in (out.error or "")
    assert "no owner for engineering" in format_line(notice(), None)


def test_button_label_follows_the_link() -> None:
    def button(n: Notice) -> dict[str, Any]:
        return next(b for b in build_blocks(n) if b["type"] == "actions")["elements"][0]

    assert button(notice())["text"]["text"] == "Open evidence"
    paused = notice(event="approval_requested", status="info", link_label="Open paused run",
                    link="http://127.0.0.1:4200/runs/flow-run/0b1c")
    assert button(paused)["text"]["text"] == "Open paused run"
    assert button(notice(link_label="x" * 200))["text"]["text"].endswith("\N{HORIZONTAL ELLIPSIS}")
