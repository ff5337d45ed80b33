"""The Discord adapter: discord.py app commands, embeds and buttons in front of the shared core."""

from bot.adapters.discord.client import DiscordAdapter, intents_for, menu_name
from bot.adapters.discord.embeds import CoreButton, escape, image_file, neutralise, render

__all__ = ["CoreButton", "DiscordAdapter", "escape", "image_file", "intents_for", "menu_name", "neutralise", "render"]
