"""Slack Web API failures: which errors mean what, and a short reason to log or show (never a token)."""

from __future__ import annotations

import aiohttp
from slack_sdk.errors import SlackApiError

AUTH_ERRORS = {"invalid_auth", "not_authed", "account_inactive", "token_revoked", "token_expired",
               "not_allowed_token_type"}
NETWORK_ERRORS = (aiohttp.ClientError, TimeoutError, OSError)
API_ERRORS = (SlackApiError, *NETWORK_ERRORS)
NOT_IN_CHANNEL = {"not_in_channel", "channel_not_found"}


def reason(exc: BaseException) -> str:
    """Slack's error code, or a short description of a network failure; never a token."""
    if isinstance(exc, SlackApiError):
        try:
            return str(exc.response.get("error") or "unknown_error")
        except Exception:
            return "unknown_error"
    return type(exc).__name__ + (f": {exc}" if str(exc) else "")
