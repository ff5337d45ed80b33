"""The bundled features, each built from its own section of the config."""

from __future__ import annotations

from bot.config import Config
from bot.core.contract import Feature
from bot.core.storage import Storage
from bot.features.faq import Faq
from bot.features.moderation import Moderation
from bot.features.polls import Polls


def bundled(config: Config, storage: Storage) -> list[Feature]:
    """The FAQ, polls and moderation, each given only its own settings (paths resolved against the config)."""
    return [
        Faq(storage, config.resolve_path(config.faq.path), config.faq.min_confidence),
        Polls(storage, config.resolve_path(config.polls.templates), config.polls.update_debounce),
        Moderation(storage, config.resolve_path(config.spam.rules), enabled=config.spam.enabled),
    ]
