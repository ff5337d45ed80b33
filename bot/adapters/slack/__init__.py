"""Slack: slash commands, message shortcuts, buttons and modals from the core's command list, Block Kit replies.

`SlackAdapter` (adapter.py) holds the bolt listeners, fed by transport.py (HTTP or Socket Mode); inbound.py turns
Slack's payloads into records, `render` (render.py) turns a core Reply into Block Kit and respond.py delivers it.
"""

from bot.adapters.slack.adapter import RESTRICT_UNSUPPORTED, SlackAdapter
from bot.adapters.slack.render import Rendered, render

__all__ = ["RESTRICT_UNSUPPORTED", "Rendered", "SlackAdapter", "render"]
