"""Wellbeing: members who may be in crisis get resources privately, and the moderators a gentle heads-up.
Entry point: `Wellbeing`."""

from bot.features.wellbeing.feature import Wellbeing

__all__ = ["Wellbeing"]
