"""Block Kit rendering of a Notice (pure; no slack-sdk import, so it is unit-testable).

Slack rejects a whole message (``invalid_blocks``) when one element breaks a limit, which would
lose the notice entirely, so every piece of text is clipped to the documented limits here.
"""

from __future__ import annotations

import re
from typing import Any

from launchgate.notify.base import Notice

STATUS_EMOJI: dict[str, str] = {
    "started": "\N{BLACK RIGHT-POINTING TRIANGLE}\ufe0f",
    "passed": "\N{WHITE HEAVY CHECK MARK}",
    "blocked": "\N{NO ENTRY}",
    "failed": "\N{CROSS MARK}",
    "rolled_back": "\N{LEFTWARDS ARROW WITH HOOK}\ufe0f",
    "promoted": "\N{ROCKET}",
    "info": "\N{INFORMATION SOURCE}\ufe0f",
    "alarm": "\N{POLICE CARS REVOLVING LIGHT}",
}

# Slack limits: section text 3000, field text 2000, at most 10 fields per section, button url
# 3000, fallback text is truncated by Slack at 40000 but notifications should stay short.
SECTION_TEXT_MAX = 3000
FIELD_TEXT_MAX = 2000
MAX_FIELDS = 10
MAX_FIELD_SECTIONS = 4
URL_MAX = 3000
FALLBACK_MAX = 3000
MAX_DETAIL_SECTIONS = 4


def emoji(status: str) -> str:
    return STATUS_EMOJI.get(status, STATUS_EMOJI["info"])


def escape(text: str) -> str:
    """Escape the three characters Slack mrkdwn treats as control characters."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "\N{HORIZONTAL ELLIPSIS}"


def fallback_text(notice: Notice) -> str:
    """Plain text for notifications and clients that cannot render blocks."""
    release = f" {notice.release_id}" if notice.release_id else ""
    text = f"{emoji(notice.status)} [{notice.service}{release}] {notice.title}: {notice.text}"
    if notice.link:
        text += f" ({notice.link})"
    return clip(text, FALLBACK_MAX)


def _field(label: str, value: str) -> dict[str, str]:
    return {"type": "mrkdwn", "text": clip(f"*{escape(label)}*\n{escape(value)}", FIELD_TEXT_MAX)}


def _is_web_link(link: str) -> bool:
    # Slack only accepts http(s) button URLs; s3:// or file paths would invalidate the message.
    return link.startswith(("https://", "http://")) and len(link) <= URL_MAX


_LINK = re.compile(r"\[([^\]]+)\]\((https?://[^)\s]+)\)")
_BOLD = re.compile(r"\*\*(.+?)\*\*")
_HEADING = re.compile(r"^#{1,6}\s+(.*)$", re.MULTILINE)


def markdown_to_mrkdwn(md: str) -> str:
    """The Markdown subset launchgate writes for people (headings, **bold**, [links](https://...),
    bullets, `code`) in Slack's mrkdwn, whose bold is *single* and links are <url|text>."""
    text = escape(md)
    text = _HEADING.sub(lambda m: f"*{m.group(1).strip()}*", text)
    text = _BOLD.sub(r"*\1*", text)
    return _LINK.sub(lambda m: f"<{m.group(2)}|{m.group(1)}>", text)


def _detail_sections(details: str) -> list[dict[str, Any]]:
    """Split at line ends into sections under Slack's per-section limit; say what did not fit."""
    chunks: list[str] = []
    current = ""
    for line in markdown_to_mrkdwn(details).splitlines():
        if current and len(current) + 1 + len(line) > SECTION_TEXT_MAX:
            chunks.append(current)
            current = ""
        current = f"{current}\n{line}" if current else clip(line, SECTION_TEXT_MAX)
    if current.strip():
        chunks.append(current)
    blocks: list[dict[str, Any]] = [{"type": "section", "text": {"type": "mrkdwn", "text": c}}
                                    for c in chunks[:MAX_DETAIL_SECTIONS]]
    if len(chunks) > MAX_DETAIL_SECTIONS:
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": "more in the evidence"}]})
    return blocks


def build_blocks(notice: Notice) -> list[dict[str, Any]]:
    title = f"{emoji(notice.status)} *{escape(notice.title)}*"
    blocks: list[dict[str, Any]] = [
        {"type": "section", "text": {"type": "mrkdwn", "text": clip(title, SECTION_TEXT_MAX)}},
        {"type": "section", "text": {"type": "mrkdwn", "text": clip(escape(notice.text), SECTION_TEXT_MAX)}},
    ]
    if notice.details:
        blocks.append({"type": "divider"})
        blocks += _detail_sections(notice.details)
    fields = [_field("Service", notice.service)]
    if notice.release_id:
        fields.append(_field("Release", notice.release_id))
    fields.append(_field("Status", notice.status.replace("_", " ")))
    fields.extend(_field(label, value) for label, value in notice.fields.items())
    # Slack caps a section at 10 fields (and a message at 50 blocks): spill into a few more
    # sections, then say how many were left out rather than fail the whole message.
    shown = fields[: MAX_FIELDS * MAX_FIELD_SECTIONS]
    for start in range(0, len(shown), MAX_FIELDS):
        blocks.append({"type": "section", "fields": shown[start : start + MAX_FIELDS]})
    if len(fields) > len(shown):
        more = f"+{len(fields) - len(shown)} more field(s) in the evidence"
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": more}]})
    if notice.link and _is_web_link(notice.link):
        blocks.append(
            {
                "type": "actions",
                "elements": [
                    {
                        "type": "button",
                        "text": {"type": "plain_text", "text": clip(notice.link_label or "Open evidence", 75),
                                 "emoji": True},
                        "url": notice.link,
                        "action_id": "open_evidence",
                    }
                ],
            }
        )
    elif notice.link:
        blocks.append(
            {
                "type": "context",
                "elements": [
                    {"type": "mrkdwn", "text": clip(f"Evidence: `{escape(notice.link)}`", SECTION_TEXT_MAX)}
                ],
            }
        )
    return blocks
