"""Reply -> Block Kit and a command's Form -> a modal view, as pure functions (no I/O), so rendering can be
unit-tested on its own.

Everything the core says is plain text, and some of it was typed by members (questions, poll options, reported
messages). So every piece of it goes into `plain_text` objects, which Slack never parses for mentions, links or
formatting. The only `mrkdwn` we emit is the sources line, whose links come from our own knowledge base, with
titles escaped. The top-level `text` (used for notifications and screen readers) is mrkdwn-parsed by Slack, so it
is escaped too: `<!channel>` typed by a member stays literal text there as well.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from bot.adapters.base import clip, form_id
from bot.core.commands import Form
from bot.core.records import Button, Reply, Source

# Slack's documented limits (https://docs.slack.dev/reference/block-kit/blocks).
HEADER_MAX = 150
SECTION_MAX = 3000
FIELD_MAX = 2000
FIELDS_PER_SECTION = 10
BUTTON_LABEL_MAX = 75
BUTTONS_PER_ACTIONS = 25
ACTION_ID_MAX = 255
VALUE_MAX = 2000
CONTEXT_ELEMENTS_MAX = 10
CONTEXT_TEXT_MAX = 3000
BLOCKS_MAX = 50
FALLBACK_MAX = 3000
MODAL_TITLE_MAX = 24
INPUT_LABEL_MAX = 2000
PLACEHOLDER_MAX = 150

# Slack has primary and danger only; "secondary" is the default look.
_STYLES = {"primary": "primary", "success": "primary", "danger": "danger"}
_SAFE_URL = re.compile(r"^https?://[^\s|<>]+$")


@dataclass(frozen=True)
class Rendered:
    """What chat.postMessage / chat.update / respond() need."""

    text: str  # escaped fallback for notifications
    blocks: list[dict[str, Any]]


def escape(text: str) -> str:
    """Escape Slack's three control characters so text shows literally in mrkdwn-parsed fields."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def plain(text: str, limit: int = SECTION_MAX) -> dict[str, Any]:
    # emoji=False: a member's ":shortcode:" stays the text they typed.
    return {"type": "plain_text", "text": clip(text, limit) or " ", "emoji": False}


def split_text(text: str, limit: int = SECTION_MAX) -> list[str]:
    """Split long text into chunks of at most `limit`, preferring paragraph, line, then word boundaries."""
    text = text.strip("\n")
    chunks: list[str] = []
    while len(text) > limit:
        window = text[:limit]
        cut = max(window.rfind("\n\n"), -1)
        if cut < limit // 2:
            cut = window.rfind("\n")
        if cut < limit // 2:
            cut = window.rfind(" ")
        if cut <= 0:
            cut = limit
        chunks.append(text[:cut].rstrip())
        text = text[cut:].lstrip()
    if text.strip():
        chunks.append(text)
    return chunks


def source_mrkdwn(source: Source) -> str:
    """One source for the context line: a link when the KB gives a safe http(s) URL, else title (citation)."""
    title = escape(source.title.replace("|", "/"))
    if source.url and _SAFE_URL.match(source.url):
        return f"<{escape(source.url)}|{title}>"
    if source.detail:  # the citation without the title it may repeat
        return f"{title} ({escape(source.detail)})"
    return title


def sources_block_text(sources: tuple[Source, ...]) -> str:
    text = "*Sources:* "
    for i, source in enumerate(sources):
        candidate = text + (" · " if i else "") + source_mrkdwn(source)
        if len(candidate) > CONTEXT_TEXT_MAX:
            break  # never cut a link in half
        text = candidate
    return text


def button_element(index: int, button: Button) -> dict[str, Any]:
    # action_id only has to be unique within the message; the core's id always travels in `value`.
    element: dict[str, Any] = {
        "type": "button",
        "action_id": f"{index}:{button.action_id}"[:ACTION_ID_MAX],
        "text": plain(button.label, BUTTON_LABEL_MAX),
        "value": button.action_id[:VALUE_MAX],
    }
    style = _STYLES.get(button.style)
    if style:
        element["style"] = style
    return element


def fallback_text(reply: Reply) -> str:
    """The notification text: title and text, escaped, never empty."""
    parts = [p for p in (reply.title, reply.text) if p]
    text = "\n".join(parts) or "(message)"
    return escape(clip(text, FALLBACK_MAX))


def render(reply: Reply, *, image_shown: bool | None = None) -> Rendered:
    """Block Kit for a reply. `image_shown=False` adds a note that an image could not be shown here."""
    blocks: list[dict[str, Any]] = []
    if reply.title:
        blocks.append({"type": "header", "text": plain(reply.title.replace("\n", " "), HEADER_MAX)})
    for chunk in split_text(reply.text or ""):
        blocks.append({"type": "section", "text": plain(chunk)})
    fields = [plain(f"{name}\n{value}" if value else name, FIELD_MAX) for name, value in reply.fields]
    for i in range(0, len(fields), FIELDS_PER_SECTION):
        blocks.append({"type": "section", "fields": fields[i:i + FIELDS_PER_SECTION]})
    if image_shown is None:
        image_shown = not reply.ephemeral
    context: list[dict[str, Any]] = []
    if reply.image is not None and not image_shown:
        context.append(plain(f"(This answer has an image, {reply.image.filename}, which Slack can only show in "
                             "a channel message, not in a private reply.)", CONTEXT_TEXT_MAX))
    if reply.sources:
        context.append({"type": "mrkdwn", "text": sources_block_text(reply.sources), "verbatim": True})
    if reply.footer:
        context.append(plain(reply.footer, CONTEXT_TEXT_MAX))
    if context:
        blocks.append({"type": "context", "elements": context[:CONTEXT_ELEMENTS_MAX]})
    elements = [button_element(i, b) for i, b in enumerate(reply.buttons)]
    action_blocks = [{"type": "actions", "elements": elements[i:i + BUTTONS_PER_ACTIONS]}
                     for i in range(0, len(elements), BUTTONS_PER_ACTIONS)]
    room = BLOCKS_MAX - len(action_blocks)
    if len(blocks) > room:
        # Keep the buttons (they are how members continue); trim the body and say so.
        blocks = blocks[: max(room - 1, 0)] + [{"type": "context", "elements": [plain("(Shortened to fit Slack.)")]}]
    blocks.extend(action_blocks)
    return Rendered(text=fallback_text(reply), blocks=blocks[:BLOCKS_MAX])


def form_view(command: str, form: Form, private_metadata: str) -> dict[str, Any]:
    """A modal for a command's Form: one plain-text input per field, block_id = the option name."""
    blocks = []
    for f in form.fields:
        element: dict[str, Any] = {"type": "plain_text_input", "action_id": "value", "multiline": bool(f.long)}
        if f.max_length:
            element["max_length"] = int(f.max_length)
        if f.placeholder:
            element["placeholder"] = plain(f.placeholder, PLACEHOLDER_MAX)
        blocks.append({"type": "input", "block_id": f.name, "optional": not f.required,
                       "label": plain(f.label, INPUT_LABEL_MAX), "element": element})
    return {
        "type": "modal",
        "callback_id": form_id(command),
        "private_metadata": private_metadata,
        "title": plain(form.title, MODAL_TITLE_MAX),
        "submit": plain("Submit", MODAL_TITLE_MAX),
        "close": plain("Cancel", MODAL_TITLE_MAX),
        "blocks": blocks,
    }
