"""Slack: slash commands, message shortcuts, buttons and modals from the core's command list, Block Kit replies.

`SlackAdapter` (app.py) holds the bolt listeners; `render` (blocks.py) turns a core Reply into Block Kit.
"""

from bot.adapters.slack.app import RESTRICT_UNSUPPORTED, SlackAdapter
from bot.adapters.slack.blocks import Rendered, render

__all__ = ["RESTRICT_UNSUPPORTED", "Rendered", "SlackAdapter", "render"]
