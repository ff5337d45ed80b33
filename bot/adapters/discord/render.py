"""Reply -> Discord embeds, buttons, attachment and send/edit arguments; a command's Form -> a modal.

Pure translation: no network, no business rules.

Everything in a `Reply` is plain text. Discord renders markdown and mentions in embed titles, descriptions and
field values, so all of it is escaped here: a member who types `@everyone`, `<@&123>`, `**bold**` or
`[x](http://evil)` sees exactly that, and nobody is pinged (`AllowedMentions.none()` on every send is the
second guard). Footers and button labels are never rendered as markdown by Discord, so they only have mentions
neutralised (backslashes would show up literally there).
"""

from __future__ import annotations

import io
import re
from typing import Any, TypeVar

import discord
from discord.utils import escape_markdown, escape_mentions

from bot.adapters.base import ELLIPSIS, clip, form_id
from bot.core.commands import Form
from bot.core.records import Reply, Source

# Discord's limits (https://discord.com/developers/docs/resources/message#embed-object-embed-limits).
TITLE_MAX = 256
DESCRIPTION_MAX = 4096
FIELD_NAME_MAX = 256
FIELD_VALUE_MAX = 1024
FIELDS_MAX = 25
FOOTER_MAX = 2048
EMBEDS_MAX = 10
TOTAL_MAX = 6000
BUTTON_LABEL_MAX = 80
BUTTONS_PER_ROW = 5
BUTTONS_MAX = 25
CUSTOM_ID_MAX = 100

MODAL_TITLE_MAX = 45
MODAL_FIELDS_MAX = 5
INPUT_LABEL_MAX = 45
INPUT_DESCRIPTION_MAX = 100
INPUT_VALUE_MAX = 4000
PLACEHOLDER_MAX = 100

COLOUR = discord.Colour(0x5B7DB1)  # a calm blue
NO_MENTIONS = discord.AllowedMentions.none()

STYLES = {
    "primary": discord.ButtonStyle.primary,
    "secondary": discord.ButtonStyle.secondary,
    "danger": discord.ButtonStyle.danger,
    "success": discord.ButtonStyle.success,
}

# `<@id>`, `<@&id>`, `<#id>`, `</cmd:id>`, `<t:...>`, `<:emoji:id>`, `<a:emoji:id>`: Discord's angle-bracket syntax.
_ANGLE_SYNTAX = re.compile(r"<(?=[@#/:]|a:|t:)")


def neutralise(text: str) -> str:
    """Make mentions and Discord's <...> syntax inert; leaves markdown alone (for footers and labels)."""
    return _ANGLE_SYNTAX.sub("<\u200b", escape_mentions(text))


def escape(text: str) -> str:
    """Plain text -> text Discord shows literally in markdown-rendering places."""
    return neutralise(escape_markdown(text))


def split_text(text: str, size: int) -> list[str]:
    """Split into chunks of at most `size` characters, preferring line then word boundaries."""
    chunks: list[str] = []
    while len(text) > size:
        cut = text.rfind("\n", 0, size)
        if cut < size // 2:
            cut = text.rfind(" ", 0, size)
        if cut < size // 2:
            cut = size
        # Never split between a backslash and the character it escapes.
        while cut > 1 and text[cut - 1] == "\\" and (len(text[:cut]) - len(text[:cut].rstrip("\\"))) % 2:
            cut -= 1
        chunks.append(text[:cut].rstrip())
        text = text[cut:].lstrip("\n ")
    if text:
        chunks.append(text)
    return chunks


def _link_url(url: str) -> str | None:
    """A URL safe to put inside a markdown link, or None when it is not plain http(s)."""
    url = url.strip()
    if not re.match(r"https?://[^\s<>]+$", url):
        return None
    return url.replace("(", "%28").replace(")", "%29")


def source_line(source: Source) -> str:
    # Brackets are always escaped inside link text (escape() only escapes complete [text](url) patterns).
    title = escape(source.title.replace("[", "\x00").replace("]", "\x01"))
    title = title.replace("\x00", "\\[").replace("\x01", "\\]")
    url = _link_url(source.url) if source.url else None
    if url:
        return f"• [{title}]({url})"
    where = source.detail or source.url  # the citation without the title it may repeat
    return f"• {title} — {escape(where)}" if where else f"• {title}"


def sources_text(sources: tuple[Source, ...], limit: int = FIELD_VALUE_MAX) -> str:
    """One line per source: a markdown link for web sources, the title and citation otherwise."""
    lines = [source_line(s) for s in sources]

    def first(k: int) -> str:
        more = [f"…and {len(lines) - k} more"] if k < len(lines) else []
        return "\n".join(lines[:k] + more)

    shown = len(lines)
    while shown > 1 and len(first(shown)) > limit:
        shown -= 1
    return clip(first(shown), limit)


def attachment_name(filename: str) -> str:
    """Discord addresses attachments by name in `attachment://`; keep it to safe characters."""
    name = re.sub(r"[^A-Za-z0-9._-]", "_", filename).strip("._") or "image.png"
    return name[-100:]


def render_embeds(reply: Reply) -> list[discord.Embed]:
    """The reply as at most 10 embeds and 6000 characters: title and text first, fields/sources/footer last."""
    title = clip(escape(reply.title), TITLE_MAX) if reply.title else None
    footer = clip(neutralise(reply.footer), FOOTER_MAX) if reply.footer else None
    fields = [(clip(escape(n) or "\u200b", FIELD_NAME_MAX), clip(escape(v) or "\u200b", FIELD_VALUE_MAX))
              for n, v in reply.fields]
    if reply.sources:
        fields = fields[: FIELDS_MAX - 1] + [("Sources", sources_text(reply.sources))]
    fields = fields[:FIELDS_MAX]

    def fixed_size() -> int:
        return len(title or "") + len(footer or "") + sum(len(n) + len(v) for n, v in fields)

    # Title, footer (the disclaimer) and sources are never dropped; other fields go first if space runs out.
    while fixed_size() > TOTAL_MAX - 200 and len(fields) > (2 if reply.sources else 1):
        fields.pop(-2 if reply.sources else -1)

    text = escape(reply.text.strip())
    budget = max(0, TOTAL_MAX - fixed_size())
    if len(text) > budget:
        text = clip(text, budget)
    chunks = split_text(text, DESCRIPTION_MAX) if text else []
    if len(chunks) > EMBEDS_MAX:
        chunks = chunks[: EMBEDS_MAX - 1] + [clip(chunks[EMBEDS_MAX - 1], DESCRIPTION_MAX - 1) + ELLIPSIS]

    embeds = [discord.Embed(colour=COLOUR, description=chunk) for chunk in chunks] or [discord.Embed(colour=COLOUR)]
    if title:
        embeds[0].title = title
    last = embeds[-1]
    for name, value in fields:
        last.add_field(name=name, value=value, inline=False)
    if footer:
        last.set_footer(text=footer)
    if reply.image is not None:
        last.set_image(url=f"attachment://{attachment_name(reply.image.filename)}")
    if not (title or chunks or fields or footer or reply.image):
        last.description = "\u200b"
    return embeds


def image_file(reply: Reply) -> discord.File | None:
    if reply.image is None:
        return None
    return discord.File(io.BytesIO(reply.image.data), filename=attachment_name(reply.image.filename))


class CoreButton(discord.ui.DynamicItem[discord.ui.Button], template=r"(?P<action>.{1,100})"):
    """Every button the bot shows. Its custom_id is the core's action id, which carries everything needed to
    handle a press, so buttons keep working after a restart with nothing kept in memory."""

    def __init__(self, action_id: str, label: str | None = None,
                 style: discord.ButtonStyle = discord.ButtonStyle.secondary, row: int | None = None) -> None:
        super().__init__(discord.ui.Button(label=label, style=style, custom_id=action_id), row=row)
        self.action_id = action_id

    @classmethod
    async def from_custom_id(cls, interaction: discord.Interaction, item: discord.ui.Item[Any],
                             match: re.Match[str], /) -> CoreButton:
        button = item if isinstance(item, discord.ui.Button) else None
        return cls(match["action"], label=button.label if button else None,
                   style=button.style if button else discord.ButtonStyle.secondary)

    async def callback(self, interaction: discord.Interaction) -> None:
        handler = getattr(interaction.client, "on_core_button", None)
        if handler is not None:
            await handler(interaction, self.action_id)


def render_view(reply: Reply) -> discord.ui.View | None:
    """Buttons as a view: 5 per row, 25 at most. Ids longer than Discord allows are skipped, never cut."""
    buttons = [b for b in reply.buttons if 0 < len(b.action_id) <= CUSTOM_ID_MAX][:BUTTONS_MAX]
    if not buttons:
        return None
    view = discord.ui.View(timeout=None)
    for n, button in enumerate(buttons):
        label = clip(neutralise(button.label.strip()), BUTTON_LABEL_MAX) or "…"
        style = STYLES.get(button.style, discord.ButtonStyle.secondary)
        view.add_item(CoreButton(button.action_id, label=label, style=style, row=n // BUTTONS_PER_ROW))
    return view


def render(reply: Reply) -> tuple[list[discord.Embed], discord.ui.View | None]:
    """A core Reply as Discord embeds and a view of buttons (None when it has none)."""
    return render_embeds(reply), render_view(reply)


_V = TypeVar("_V", discord.ui.View, discord.ui.Modal)


def detached(view: _V) -> _V:
    """Mark a view finished before sending, so discord.py keeps nothing in memory for it: buttons are served
    by the persistent CoreButton class and forms by their custom_id."""
    view.stop()
    return view


def message_kwargs(embeds: list[discord.Embed], view: discord.ui.View | None,
                   file: discord.File | None) -> dict[str, Any]:
    """The arguments of a new message (send, send_message, followup.send), mentions never allowed."""
    kwargs: dict[str, Any] = {"embeds": embeds, "allowed_mentions": NO_MENTIONS}
    if view is not None:
        kwargs["view"] = detached(view)
    if file is not None:
        kwargs["file"] = file
    return kwargs


def edit_kwargs(embeds: list[discord.Embed], view: discord.ui.View | None,
                file: discord.File | None) -> dict[str, Any]:
    """The arguments of an edit: buttons and attachments not given are removed, not kept."""
    return {"embeds": embeds, "view": detached(view) if view else None, "attachments": [file] if file else [],
            "allowed_mentions": NO_MENTIONS}


def form_modal(name: str, form: Form) -> discord.ui.Modal:
    """A command's Form as a modal whose custom_id names the command, so it is handled after a restart too."""
    modal = discord.ui.Modal(title=clip(form.title, MODAL_TITLE_MAX), custom_id=form_id(name)[:CUSTOM_ID_MAX])
    for f in form.fields[:MODAL_FIELDS_MAX]:
        text_input: discord.ui.TextInput[Any] = discord.ui.TextInput(
            style=discord.TextStyle.paragraph if f.long else discord.TextStyle.short,
            custom_id=f.name[:CUSTOM_ID_MAX], required=f.required,
            max_length=max(1, min(f.max_length, INPUT_VALUE_MAX)), placeholder=f.placeholder[:PLACEHOLDER_MAX] or None,
        )
        # Labels show 45 characters; a longer one is cut there and shown whole as the description below it.
        description = clip(f.label, INPUT_DESCRIPTION_MAX) if len(f.label) > INPUT_LABEL_MAX else None
        modal.add_item(discord.ui.Label(text=clip(f.label, INPUT_LABEL_MAX), component=text_input,
                                        description=description))
    return modal
