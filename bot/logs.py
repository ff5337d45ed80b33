"""Logging set-up: one line per event (text, or JSON with `logging.format: json`), and no secret ever reaches a
log line."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import Any

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
        for key, value in extra_fields(record).items():
            if isinstance(value, str) and any(s in value for s in self.secrets):
                for s in self.secrets:
                    value = value.replace(s, "***")
                setattr(record, key, value)
        return True


# What every LogRecord has; anything else on a record came from `extra=` and goes into a JSON line as a field.
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime", "taskName"}


def extra_fields(record: logging.LogRecord) -> dict[str, Any]:
    return {k: v for k, v in vars(record).items() if k not in _STANDARD and not k.startswith("_")}


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (UTC, ISO 8601), level, logger, message, the record's `extra` fields, and
    `exception` with the traceback when there is one."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in extra_fields(record).items():
            line.setdefault(key, value if isinstance(value, str | int | float | bool | None) else str(value))
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            line["exception"] = record.exc_text
        return json.dumps(line, ensure_ascii=False)


def setup_logging(level: str, cfg: Config | None = None) -> None:
    handler = logging.StreamHandler()
    if cfg is not None and cfg.logging.format.lower() == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    if cfg is not None:
        handler.addFilter(RedactSecrets(secrets_of(cfg)))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # The platform libraries are chatty at INFO; their warnings still come through.
    for noisy in ("discord", "slack_bolt", "slack_sdk", "aiohttp.access"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
