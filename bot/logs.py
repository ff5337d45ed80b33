"""Logging set-up: one line per event, and no secret ever reaches a log line."""

from __future__ import annotations

import logging

from bot.config import Config, secrets_of


class RedactSecrets(logging.Filter):
    """Replace every configured token or signing secret in a record's final text with ***."""

    def __init__(self, secrets: list[str]) -> None:
        super().__init__()
        self.secrets = [s for s in secrets if len(s) >= 4]

    def filter(self, record: logging.LogRecord) -> bool:
        if not self.secrets:
            return True
        message = record.getMessage()
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        exc_text = record.exc_text or ""
        if any(s in message or s in exc_text for s in self.secrets):
            for s in self.secrets:
                message = message.replace(s, "***")
                exc_text = exc_text.replace(s, "***")
            record.msg, record.args, record.exc_text = message, None, exc_text or None
        return True


def setup_logging(level: str, cfg: Config | None = None) -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    if cfg is not None:
        handler.addFilter(RedactSecrets(secrets_of(cfg)))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # The platform libraries are chatty at INFO; their warnings still come through.
    for noisy in ("discord", "slack_bolt", "slack_sdk", "aiohttp.access"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
