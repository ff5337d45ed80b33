"""The FAQ: cited answers from the admins' knowledge base, with safety routing. Entry point: `Faq`."""

from bot.features.faq.feature import Answer, Faq

__all__ = ["Answer", "Faq"]
