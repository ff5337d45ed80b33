"""Config checks that span several keys (read once every key is), each problem as file:line: what is wrong."""

from __future__ import annotations

import re
from collections import Counter
from typing import TYPE_CHECKING

import yaml

if TYPE_CHECKING:
    from bot.config import Config, DiscordConfig


def community_problems(cfg: Config, node: yaml.Node, file: str) -> list[str]:
    """Each server / workspace configured on its own names its id once, and has a moderators' channel."""
    problems: list[str] = []
    for section, key, ids, channels in (
        ("discord", "servers", [s.guild_id for s in cfg.discord.servers],
         [s.mod_channel_id for s in cfg.discord.servers]),
        ("slack", "workspaces", [w.team_id.strip() for w in cfg.slack.workspaces],
         [w.mod_channel for w in cfg.slack.workspaces]),
    ):
        where = f"{file}:{key_line(node, section, key)}: {section}.{key}"
        id_key = "guild_id" if section == "discord" else "team_id"
        for i, (ident, channel) in enumerate(zip(ids, channels, strict=True)):
            item = f"{file}:{item_line(node, section, key, i)}: {section}.{key}[{i}]"
            if not ident:
                problems.append(f"{item}: {id_key} is missing")
            elif section == "slack" and not re.fullmatch(r"[TE][A-Z0-9]{2,20}", str(ident)):
                problems.append(f"{item}: team_id {str(ident)[:30]!r} is not a Slack team id (T…)")
            if not channel:
                problems.append(f"{item}: "
                                f"{'mod_channel_id' if section == 'discord' else 'mod_channel'} is missing "
                                "(where this community's flagged messages go)")
        repeated = sorted({str(i) for i, n in Counter(ids).items() if n > 1 and i})
        if repeated:
            problems.append(f"{where}: {', '.join(repeated[:5])} listed more than once")
    return problems


def shard_problems(discord: DiscordConfig, node: yaml.Node, file: str) -> list[str]:
    """discord.shard_ids must name distinct shards of discord.shard_count (checked once both keys are read)."""
    ids, count = discord.shard_ids, discord.shard_count
    if not ids:
        return []
    where = f"{file}:{key_line(node, 'discord', 'shard_ids')}: discord.shard_ids"
    if count is None:
        return [f"{where}: needs discord.shard_count (the total number of shards across all processes)"]
    outside = sorted({i for i in ids if not 0 <= i < count})
    if outside:
        shown = ", ".join(str(i) for i in outside[:5]) + (", ..." if len(outside) > 5 else "")
        return [f"{where}: {shown} not among the shards 0 to {count - 1} (discord.shard_count is {count})"]
    repeated = sorted(i for i, n in Counter(ids).items() if n > 1)
    if repeated:
        return [f"{where}: {', '.join(str(i) for i in repeated[:5])} listed more than once"]
    return []


def item_line(node: yaml.Node, section: str, key: str, index: int) -> int:
    """The 1-based line where item `index` of the list section.key starts."""
    found = next((v for k, v in node.value if k.value == section), None) if isinstance(node, yaml.MappingNode) else None
    found = next((v for k, v in found.value if k.value == key), None) if isinstance(found, yaml.MappingNode) else None
    if isinstance(found, yaml.SequenceNode) and index < len(found.value):
        return int(found.value[index].start_mark.line) + 1
    return key_line(node, section, key)


def key_line(node: yaml.Node, *keys: str) -> int:
    """The 1-based line of a nested key in the composed YAML (that of the deepest one found)."""
    line = node.start_mark.line + 1
    for key in keys:
        if not isinstance(node, yaml.MappingNode):
            break
        found = next(((k, v) for k, v in node.value if k.value == key), None)
        if found is None:
            break
        line, node = found[0].start_mark.line + 1, found[1]
    return line
