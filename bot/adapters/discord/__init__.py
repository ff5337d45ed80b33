"""The Discord adapter: discord.py app commands, embeds and buttons in front of the shared core.

`DiscordAdapter` (adapter.py) runs the client; inbound.py turns events into records, render.py turns a Reply
into embeds and buttons, respond.py answers interactions and commands.py builds the command tree.
"""

from bot.adapters.discord.adapter import DiscordAdapter, intents_for
from bot.adapters.discord.commands import menu_name
from bot.adapters.discord.render import CoreButton, escape, image_file, neutralise, render

__all__ = ["CoreButton", "DiscordAdapter", "escape", "image_file", "intents_for", "menu_name", "neutralise", "render"]
