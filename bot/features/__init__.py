"""The bundled features, each built from its own section of the config."""

from __future__ import annotations

import dataclasses

from bot.config import Config
from bot.core.contract import Feature
from bot.core.storage import Storage
from bot.features.faq import Faq
from bot.features.moderation import Moderation
from bot.features.polls import Polls
from bot.features.wellbeing import Wellbeing


def bundled(config: Config, storage: Storage) -> list[Feature]:
    """The FAQ, polls, moderation and wellbeing, each given only its own settings (paths resolved against the
    config). Wellbeing shares the FAQ's crisis judgement and resources text, so both places follow one rule."""
    faq = Faq(storage, config.resolve_path(config.faq.path), config.faq.min_confidence,
              community_paths=config.community_faq_paths())
    wellbeing = Wellbeing(storage, detect=faq.is_crisis, resources=faq.crisis_reply, enabled=config.wellbeing.enabled)
    faq.crisis_listeners.append(wellbeing.from_faq)
    return [
        faq,
        Polls(storage, config.resolve_path(config.polls.templates), config.polls.update_debounce),
        Moderation(storage, config.resolve_path(config.spam.rules), enabled=config.spam.enabled,
                   scan_staff=config.spam.scan_staff, exempt_channels=frozenset(config.spam.exempt_channels),
                   mention_limit=config.spam.mention_limit,
                   mention_window_seconds=config.spam.mention_window_seconds,
                   audit_channels=dataclasses.asdict(config.moderation.audit_channel)),
        wellbeing,
    ]
