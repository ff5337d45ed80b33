"""Load and validate the bot's YAML config.

Every key is declared once below as a dataclass field (type, default, whether it is a secret). Loading checks
types and unknown keys, substitutes `${ENV_VAR}` references, and fails with `ConfigError` naming the file, line and
key. Secret values are wrapped in `Secret`, whose repr and str never show the value.
"""

from __future__ import annotations

import dataclasses
import math
import os
import re
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from bot.config_rules import community_problems, shard_problems
from bot.core.contract import SetupError
from bot.core.yamlcheck import UnsafeYaml, compose_admin_yaml

_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


class ConfigError(SetupError):
    """A config problem: message names file, line and key, never a secret's value."""


class Secret:
    """A token or signing secret. Its text is only reachable through `.get()`."""

    __slots__ = ("_value", "source")

    def __init__(self, value: str, source: str = "") -> None:
        self._value = value
        self.source = source  # e.g. "${DISCORD_TOKEN}", for messages

    def get(self) -> str:
        return self._value

    def __bool__(self) -> bool:
        return bool(self._value)

    def __repr__(self) -> str:
        return "Secret(***)" if self._value else "Secret(<unset>)"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


def _secret(doc: str = "") -> Any:
    return field(default_factory=lambda: Secret(""), metadata={"secret": True, "doc": doc})


@dataclass
class StorageConfig:
    path: str = "./data/bot.db"
    # postgresql://user:password@host:5432/db (typically ${DATABASE_URL}); when set, used instead of `path`.
    url: Secret = _secret()


@dataclass
class FaqConfig:
    path: str = "./faq"
    # Below this confidence (0-1) the bot says "not sure" and offers suggestions instead of an answer.
    min_confidence: float = 0.3


@dataclass
class SpamConfig:
    enabled: bool = True
    rules: str = "./rules/spam.yaml"
    # Moderators' and admins' messages are not scanned unless this is true.
    scan_staff: bool = False
    # Channels never scanned, as platform:channel_id (e.g. discord:123456789012345678, slack:C0123ABCD).
    exempt_channels: list[str] = field(default_factory=list)
    # A member mentioning this many distinct members/roles in one message, or within the window, is queued for
    # review as "mention spam" (like Discord AutoMod's mention limit); 0 switches it off. Moderators are exempt
    # unless scan_staff is true.
    mention_limit: int = 10
    mention_window_seconds: float = 60.0


@dataclass
class AuditChannelConfig:
    # Where each moderator decision is also posted as one line (like Red's modlog cases); empty: nowhere.
    discord: str = ""  # a channel id
    slack: str = ""  # a channel id (C…); invite the bot to it
    console: str = ""  # a channel name


@dataclass
class ModerationConfig:
    audit_channel: AuditChannelConfig = field(default_factory=AuditChannelConfig)


@dataclass
class PollsConfig:
    templates: str = "./polls/templates.yaml"
    # Seconds to wait after a vote before editing the poll message, so a burst of votes is one edit.
    update_debounce: float = 2.0


@dataclass
class DiscordServerConfig:
    """A Discord server served as a community of its own: its moderators, their channel, its knowledge base."""

    guild_id: int = 0
    mod_channel_id: int = 0
    moderator_role_ids: list[int] = field(default_factory=list)
    admin_role_ids: list[int] = field(default_factory=list)
    audit_channel_id: int = 0  # one line per moderator decision; 0: none
    faq_path: str = ""  # its own knowledge-base folder; empty: faq.path


@dataclass
class DiscordConfig:
    enabled: bool = False
    token: Secret = _secret()
    guild_ids: list[int] = field(default_factory=list)
    moderator_role_ids: list[int] = field(default_factory=list)
    admin_role_ids: list[int] = field(default_factory=list)
    mod_channel_id: int = 0
    # Needed only for spam scanning: message content is a privileged intent on Discord.
    message_content: bool = False
    api_url: str = ""  # tests point discord.py's REST client at a local fake
    # Sharding, which Discord requires past 2,500 servers: unset lets Discord recommend a shard count; several
    # `bot run` processes on one database each take some shard_ids (default: all of them).
    shard_count: int | None = None
    shard_ids: list[int] = field(default_factory=list)
    # Servers that are communities of their own; every other server shares the settings above.
    servers: list[DiscordServerConfig] = field(default_factory=list)


@dataclass
class SlackWorkspaceConfig:
    """A Slack workspace served as a community of its own: its moderators, their channel, its knowledge base, and
    its own bot token when the app is installed in it on its own (not org-wide on Enterprise Grid)."""

    team_id: str = ""
    bot_token: Secret = _secret()  # empty: slack.bot_token reaches this workspace (an org-wide install)
    mod_channel: str = ""
    moderator_ids: list[str] = field(default_factory=list)
    admin_ids: list[str] = field(default_factory=list)
    audit_channel: str = ""  # one line per moderator decision; empty: none
    faq_path: str = ""  # its own knowledge-base folder; empty: faq.path


@dataclass
class SlackConfig:
    enabled: bool = False
    mode: str = "socket"
    bot_token: Secret = _secret()
    app_token: Secret = _secret()
    signing_secret: Secret = _secret()
    host: str = "0.0.0.0"
    port: int = 3000
    api_url: str = "https://slack.com/api/"
    moderator_ids: list[str] = field(default_factory=list)
    admin_ids: list[str] = field(default_factory=list)
    mod_channel: str = ""
    # Workspaces that are communities of their own; every other workspace shares the settings above.
    workspaces: list[SlackWorkspaceConfig] = field(default_factory=list)


@dataclass
class WellbeingConfig:
    # Recognise members in crisis in channel messages the bot reads and in /faq questions: resources privately to
    # them, a wellbeing item to the moderators. Messages are never hidden or deleted for it.
    enabled: bool = True


@dataclass
class LimitsConfig:
    # Per member (moderators and admins exempt); 0 switches a limit off.
    commands_per_minute: int = 30  # any command or button press
    polls_per_hour: int = 5
    reports_per_hour: int = 10


@dataclass
class OpsConfig:
    # The operations endpoint (/healthz, /metrics); 0 keeps it off.
    port: int = 0
    host: str = "127.0.0.1"


@dataclass
class LoggingConfig:
    # text: one readable line per event; json: one JSON object per line, for log collectors.
    format: str = "text"


@dataclass
class ConsoleConfig:
    # Role given to console users unless --role says otherwise.
    default_role: str = "member"


@dataclass
class Config:
    log_level: str = "INFO"
    storage: StorageConfig = field(default_factory=StorageConfig)
    faq: FaqConfig = field(default_factory=FaqConfig)
    spam: SpamConfig = field(default_factory=SpamConfig)
    moderation: ModerationConfig = field(default_factory=ModerationConfig)
    polls: PollsConfig = field(default_factory=PollsConfig)
    wellbeing: WellbeingConfig = field(default_factory=WellbeingConfig)
    limits: LimitsConfig = field(default_factory=LimitsConfig)
    discord: DiscordConfig = field(default_factory=DiscordConfig)
    slack: SlackConfig = field(default_factory=SlackConfig)
    console: ConsoleConfig = field(default_factory=ConsoleConfig)
    ops: OpsConfig = field(default_factory=OpsConfig)
    logging: LoggingConfig = field(default_factory=LoggingConfig)
    source: str = field(default="<defaults>", metadata={"internal": True})
    base_dir: str = field(default=".", metadata={"internal": True})

    def database(self) -> str:
        """What `Storage.open` gets: storage.url when set (PostgreSQL), otherwise the SQLite file storage.path."""
        url = self.storage.url
        if not url and url.source:
            # Falling back to a local file here would split the data of processes meant to share one database.
            raise ConfigError(f"{self.source}: storage.url reads {url.source}: set that environment variable "
                              "(or remove storage.url to use the SQLite file at storage.path)")
        return url.get() or str(self.resolve_path(self.storage.path))

    def community_faq_paths(self) -> dict[str, Path]:
        """Community name -> its own knowledge-base folder, for the communities that have one."""
        paths = {f"discord:{s.guild_id}": s.faq_path for s in self.discord.servers if s.faq_path}
        paths.update({f"slack:{w.team_id.strip()}": w.faq_path for w in self.slack.workspaces if w.faq_path})
        return {name: self.resolve_path(path) for name, path in paths.items()}

    def resolve_path(self, relative: str) -> Path:
        """Paths in a config file are relative to that file's folder."""
        p = Path(relative)
        return p if p.is_absolute() else Path(self.base_dir) / p


_CHOICES = {
    "log_level": {"DEBUG", "INFO", "WARNING", "ERROR"},
    "slack.mode": {"socket", "http"},
    "console.default_role": {"member", "moderator", "admin"},
    "logging.format": {"text", "json"},
}


_NOT_EMPTY = {"storage.path", "faq.path", "spam.rules", "polls.templates"}
_RANGES: dict[str, tuple[float, float]] = {
    "faq.min_confidence": (0.0, 1.0),
    "polls.update_debounce": (0.0, 3600.0),
    "slack.port": (0, 65535),  # 0: any free port (tests)
    "ops.port": (0, 65535),
    "discord.shard_count": (1, 100_000),
    "spam.mention_limit": (0, 1000),
    "spam.mention_window_seconds": (0.0, 86_400.0),
    "limits.commands_per_minute": (0, 100_000),
    "limits.polls_per_hour": (0, 100_000),
    "limits.reports_per_hour": (0, 100_000),
}


def load_config(path: str | Path | None) -> Config:
    """Read, substitute and validate a config file. `None` gives the defaults."""
    if path is None:
        return Config()
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read config: {exc.strerror}") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: cannot read config: not UTF-8 text (byte {exc.start})") from None
    try:
        node = compose_admin_yaml(text)
    except UnsafeYaml as exc:
        raise ConfigError(f"{path}:{exc.line}: {exc}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f":{mark.line + 1}" if mark else ""
        raise ConfigError(f"{path}{line}: invalid YAML: {getattr(exc, 'problem', exc)}") from None
    cfg = Config(source=str(path), base_dir=str(path.parent))
    if node is None:
        return cfg
    problems: list[str] = []
    _fill(cfg, node, str(path), "", problems)
    if not problems:
        problems = shard_problems(cfg.discord, node, str(path)) + community_problems(cfg, node, str(path))
    if problems:
        raise ConfigError("\n".join(problems))
    return cfg


def _fill(target: Any, node: yaml.Node, file: str, prefix: str, problems: list[str]) -> None:
    where = f"{file}:{node.start_mark.line + 1}"
    if not isinstance(node, yaml.MappingNode):
        problems.append(f"{where}: {prefix.rstrip('.') or 'top level'} must be a mapping")
        return
    hints = typing.get_type_hints(type(target))
    fields = {f.name: f for f in dataclasses.fields(target) if not f.metadata.get("internal")}
    for key_node, value_node in node.value:
        key = key_node.value
        full = prefix + str(key)
        kwhere = f"{file}:{key_node.start_mark.line + 1}"
        if key not in fields:
            known = ", ".join(sorted(fields))
            problems.append(f"{kwhere}: unknown key '{full}' (known here: {known})")
            continue
        hint = hints[key]
        if dataclasses.is_dataclass(hint):
            _fill(getattr(target, key), value_node, file, full + ".", problems)
            continue
        item = typing.get_args(hint)[0] if typing.get_origin(hint) is list else None
        if isinstance(item, type) and dataclasses.is_dataclass(item):
            setattr(target, key, _fill_list(item, value_node, file, full, problems))
            continue
        try:
            value = _convert(hint, value_node, full)
        except ValueError as exc:
            problems.append(f"{kwhere}: {full}: {exc}")
            continue
        if full in _NOT_EMPTY and not str(value).strip():
            problems.append(f"{kwhere}: {full}: must not be empty" + (
                f" (the environment variable in {value_node.value} is not set)"
                if isinstance(value_node, yaml.ScalarNode) and _ENV_REF.search(value_node.value) else ""))
            continue
        if full in _RANGES and value is not None and not (_RANGES[full][0] <= value <= _RANGES[full][1]):
            low, high = _RANGES[full]
            problems.append(f"{kwhere}: {full}: must be between {low:g} and {high:g}")
            continue
        if full in _CHOICES and value not in _CHOICES[full] and str(value).lower() not in _CHOICES[full]:
            problems.append(f"{kwhere}: {full}: must be one of {', '.join(sorted(_CHOICES[full]))}")
            continue
        setattr(target, key, value)


def _fill_list(item: type, node: yaml.Node, file: str, key: str, problems: list[str]) -> list[Any]:
    """A list of sections (discord.servers, slack.workspaces), each checked like any other section."""
    if isinstance(node, yaml.ScalarNode) and node.value in ("", "null", "~"):
        return []
    if not isinstance(node, yaml.SequenceNode):
        problems.append(f"{file}:{node.start_mark.line + 1}: {key} must be a list of sections (- key: value)")
        return []
    items = []
    for i, child in enumerate(node.value):
        value = item()
        _fill(value, child, file, f"{key}[{i}].", problems)
        items.append(value)
    return items


def _convert(hint: Any, node: yaml.Node, key: str) -> Any:
    if hint is Secret:
        if not isinstance(node, yaml.ScalarNode):
            raise ValueError("must be a string, ideally ${ENV_VAR}")
        raw = node.value
        return Secret(_substitute(raw, key, secret=True), source=raw if _ENV_REF.search(raw) else "")
    origin = typing.get_origin(hint)
    if origin is list:
        (item_type,) = typing.get_args(hint)
        if isinstance(node, yaml.ScalarNode) and node.value in ("", "null", "~"):
            return []
        if not isinstance(node, yaml.SequenceNode):
            raise ValueError(f"must be a list of {item_type.__name__}")
        return [_scalar(item_type, item, key) for item in node.value]
    if origin in (typing.Union, types.UnionType):
        if isinstance(node, yaml.ScalarNode) and node.value in ("", "null", "~"):
            return None  # an optional setting written but left empty: unset
        hint = next(a for a in typing.get_args(hint) if a is not type(None))
    if not isinstance(node, yaml.ScalarNode):
        raise ValueError(f"must be a single {hint.__name__} value")
    return _scalar(hint, node, key)


def _shown(node: yaml.ScalarNode) -> str:
    """How a bad value is quoted in an error: as written in the file, so a value that came from the environment
    (which may be a token put in the wrong variable) is never echoed, and clipped."""
    text = node.value
    return repr(text if len(text) <= 40 else text[:37] + "...")


def _scalar(kind: type, node: yaml.Node, key: str) -> Any:
    if not isinstance(node, yaml.ScalarNode):
        raise ValueError(f"items must be plain {kind.__name__} values")
    raw = _substitute(node.value, key, secret=False)
    if kind is not str and not raw.strip() and _ENV_REF.search(node.value):
        raise ValueError(f"is empty: the environment variable in {node.value} is not set")
    if kind is bool:
        low = raw.strip().lower()
        if low in ("true", "yes", "on", "1"):
            return True
        if low in ("false", "no", "off", "0", ""):
            return False
        raise ValueError(f"must be true or false, not {_shown(node)}")
    if kind is int:
        text = raw.strip() or "0"
        if len(text) > 30:  # int() of thousands of digits is slow and no setting is that big
            raise ValueError(f"must be a whole number of at most 30 digits, not {_shown(node)}")
        try:
            return int(text)
        except ValueError:
            raise ValueError(f"must be a whole number, not {_shown(node)}") from None
    if kind is float:
        try:
            number = float(raw)
        except ValueError:
            raise ValueError(f"must be a number, not {_shown(node)}") from None
        if not math.isfinite(number):
            raise ValueError(f"must be a finite number, not {_shown(node)}")
        return number
    return raw


def _substitute(raw: str, key: str, *, secret: bool) -> str:
    # A missing variable becomes empty: whether that matters depends on whether the platform is enabled,
    # which `missing_settings` checks with a message naming the key and the variable.
    return _ENV_REF.sub(lambda m: os.environ.get(m.group(1), ""), raw)


def missing_settings(cfg: Config) -> list[str]:
    """What must still be set to run the enabled platforms, one line each naming the key."""
    problems: list[str] = []

    def need(key: str, value: Secret | str | int) -> None:
        if value:
            return
        hint = ""
        if isinstance(value, Secret) and value.source:
            hint = f" (it reads {value.source}: set that environment variable)"
        problems.append(f"{cfg.source}: {key} is not set{hint}")

    if not cfg.discord.enabled and not cfg.slack.enabled:
        problems.append(
            f"{cfg.source}: no platform is enabled: set discord.enabled or slack.enabled to true "
            "(or try the bot offline with `bot console`)"
        )
    if cfg.discord.enabled:
        need("discord.token", cfg.discord.token)
    if cfg.slack.enabled:
        need("slack.bot_token", cfg.slack.bot_token)
        for i, workspace in enumerate(cfg.slack.workspaces):
            if workspace.bot_token.source and not workspace.bot_token:
                need(f"slack.workspaces[{i}].bot_token", workspace.bot_token)
        if cfg.slack.mode == "socket":
            need("slack.app_token", cfg.slack.app_token)
        else:
            need("slack.signing_secret", cfg.slack.signing_secret)
    return problems


def secrets_of(cfg: Config) -> list[str]:
    """Every secret value, so the log filter can scrub them from any message."""
    values = [cfg.discord.token, cfg.slack.bot_token, cfg.slack.app_token, cfg.slack.signing_secret, cfg.storage.url,
              *(w.bot_token for w in cfg.slack.workspaces)]
    return [s.get() for s in values if s.get()]
