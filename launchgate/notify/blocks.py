"""Block Kit rendering of a Notice (pure; no slack-sdk import, so it is unit-testable).

Slack rejects a whole message (``invalid_blocks``) when one element breaks a limit, which would
lose the notice entirely, so every piece of text is clipped to the documented limits here.
"""

from __future__ import annotations

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


def build_blocks(notice: Notice) -> list[dict[str, Any]]:
    title = f"{emoji(notice.status)} *{escape(notice.title)}*"
    blocks: list[dict[str, Any]] = [
        {"type": "section", "text": {"type": "mrkdwn", "text": clip(title, SECTION_TEXT_MAX)}},
        {"type": "section", "text": {"type": "mrkdwn", "text": clip(escape(notice.text), SECTION_TEXT_MAX)}},
    ]
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
