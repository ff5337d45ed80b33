"""The console adapter: every command offline, as any member, moderator or admin.

Type `/faq how much does it cost`, press a button by typing its number, `/as NAME [ROLE]` to become someone
else, `/channel NAME` to move, `/help` for the command list, `/quit` to leave. With stdin not a terminal it reads
one line at a time and prints what a member would see, so sessions can be scripted.
"""

from __future__ import annotations

import asyncio
import itertools
import re
import shlex
import sys
from typing import TextIO

from bot.core.commands import parse_line
from bot.core.contract import Adapter, IncomingMessage, Staff
from bot.core.core import Core
from bot.core.records import Action, Invocation, Member, MessageRef, Place, Reply, Role

_MENTION = re.compile(r"(?<!\w)@(\w+)")  # on the console a member is mentioned by name: @maria


class ConsoleAdapter(Adapter):
    """stdin/stdout; the reference adapter that tests drive."""

    platform = "console"
    # Everyone on the console shares one terminal, so the moderators' queue is a channel of it too.
    staff = Staff(place=Place("console", "mod-queue"), setting="console")

    def __init__(self, core: Core, *, user: str = "you", role: Role = Role.MEMBER, out: TextIO | None = None,
                 communities: dict[str, Staff] | None = None) -> None:
        self.core = core
        # Servers (`/server NAME`) that are communities of their own, as discord.servers configures on Discord.
        self.communities = dict(communities or {})
        self.out = out or sys.stdout
        self.member = Member(id=f"console:{user}", name=user, role=role)
        self.place = Place("console", "general")
        # number -> (action id, the message it is on, the member it was shown to privately or None if public)
        self._buttons: dict[int, tuple[str, MessageRef | None, str | None]] = {}
        self._button_numbers = itertools.count(1)
        self._message_ids = itertools.count(1)
        self._posted: dict[str, Reply] = {}
        self.running = False

    # -- the contract -------------------------------------------------------------------------------------

    async def start(self) -> None:
        self.running = True

    async def stop(self) -> None:
        self.running = False

    async def post(self, place: Place, reply: Reply) -> MessageRef:
        ref = MessageRef("console", place.channel, str(next(self._message_ids)))
        self._posted[ref.message] = reply
        self.show(reply, header=f"[#{place.channel}, message {ref.message}]", ref=ref)
        return ref

    async def update(self, ref: MessageRef, reply: Reply) -> None:
        self._posted[ref.message] = reply
        self.show(reply, header=f"[message {ref.message} updated]", ref=ref)

    async def whisper(self, place: Place, member_id: str, reply: Reply) -> None:
        name = member_id.removeprefix("console:")
        header = "[only you see this]" if name == "you" else f"[only {name} sees this]"  # the default user is "you"
        self.show(reply, header=header, only=member_id)

    async def delete(self, ref: MessageRef) -> None:
        self._posted.pop(ref.message, None)
        self.write(f"[message {ref.message} deleted]")

    async def restrict(self, member_id: str, place: Place, minutes: int) -> str:
        if minutes <= 0:
            self.write(f"[{member_id}'s timeout lifted]")
            return "timeout lifted"
        self.write(f"[{member_id} timed out for {minutes} minutes]")
        return f"timed out for {minutes} minutes"

    # -- rendering ----------------------------------------------------------------------------------------

    def write(self, text: str) -> None:
        self.out.write(text + "\n")
        self.out.flush()

    def show(self, reply: Reply, *, header: str | None = None, ref: MessageRef | None = None,
             only: str | None = None) -> None:
        """Print a reply; its buttons get numbers. `only`: the member a private reply is for, who alone may press
        its buttons (the terminal is shared, but on a real platform nobody else would even see them)."""
        lines = [header] if header else []
        if reply.ephemeral and header is None:
            lines.append("(only you can see this)")
        lines.append(reply.plain())
        if reply.image is not None:
            lines.append(f"[image: {reply.image.filename}, {len(reply.image.data)} bytes]")
        for button in reply.buttons:
            n = next(self._button_numbers)
            self._buttons[n] = (button.action_id, ref, only)
            lines.append(f"  [{n}] {button.label}")
        self.write("\n".join(lines) + "\n")

    # -- input --------------------------------------------------------------------------------------------

    async def handle_line(self, line: str) -> bool:
        """Process one line of input; returns False when the member asked to quit."""
        line = line.strip()
        if not line or line.startswith("#"):
            return True
        if line.isdecimal() and line.isascii():
            if len(line) > 6:  # no console session has a million buttons; int() of thousands of digits is slow
                self.write(f"(there is no button [{line[:12]}…])")
            else:
                await self.press(int(line))
            return True
        if not line.startswith("/"):
            # Plain text is a message in the channel: the spam scanner sees it like on a real server.
            ref = MessageRef("console", self.place.channel, f"m{next(self._message_ids)}")
            await self.core.on_message(IncomingMessage(ref=ref, author_id=self.member.id, author_name=self.member.name,
                                                       text=line, ts=asyncio.get_running_loop().time(),
                                                       author_role=self.member.role,
                                                       mentions=frozenset(_MENTION.findall(line)),
                                                       guild=self.place.guild))
            return True
        name, _, rest = line[1:].partition(" ")
        if name in ("quit", "exit"):
            return False
        if name == "help":
            self.write(self.help_text())
            return True
        if name == "as":
            self.switch_user(rest)
            return True
        if name == "channel":
            self.place = Place("console", rest.strip().lstrip("#") or "general", self.place.guild)
            self.write(f"(now in #{self.place.channel})")
            return True
        if name == "server":
            self.place = Place("console", "general", rest.strip() or None)
            self.write(f"(now in #general of {self.place.guild or 'the default server'})")
            return True
        spec = self.core.command(name)
        args = parse_line(spec, rest) if spec else {}
        reply = await self.core.dispatch(Invocation(name, self.member, self.place, args))
        await self.deliver(reply)
        return True

    async def deliver(self, reply: Reply) -> None:
        if reply.ephemeral:
            self.show(reply, only=self.member.id)
        else:
            await self.post(self.place, reply)

    async def press(self, number: int) -> None:
        found = self._buttons.get(number)
        if found is None:
            self.write(f"(there is no button [{number}])")
            return
        action_id, ref, only = found
        if only is not None and only != self.member.id:
            self.write(f"(button [{number}] is on a private reply to {only.removeprefix('console:')}; "
                       "only they can press it)")
            return
        reply = await self.core.dispatch_action(Action(action_id, self.member, self.place, ref))
        if reply.replace_original and ref is not None:
            await self.update(ref, reply)
        else:
            await self.deliver(reply)

    def switch_user(self, rest: str) -> None:
        try:
            parts = shlex.split(rest)
        except ValueError:
            parts = rest.split()
        if not parts:
            self.write(f"(you are {self.member.name}, {self.member.role.name.lower()})")
            return
        try:
            role = Role.parse(parts[1]) if len(parts) > 1 else Role.MEMBER
        except ValueError as exc:
            self.write(f"({exc})")
            return
        # Words after the role are the member's platform role ids (what a poll's --roles names), as on Discord.
        self.member = Member(id=f"console:{parts[0]}", name=parts[0], role=role, platform_roles=frozenset(parts[2:]))
        roles = f", roles {' '.join(parts[2:])}" if parts[2:] else ""
        self.write(f"(you are now {parts[0]}, {role.name.lower()}{roles})")

    def help_text(self) -> str:
        lines = ["Commands:"]
        for spec in self.core.commands:
            if self.member.role >= spec.role:
                # The console reads one line: only the option that takes the rest of it can be typed here.
                rest = next((o for o in spec.options if o.rest), None)
                usage = f"  /{spec.name}" + (f" [{rest.name}]" if rest else "")
                lines.append(f"{usage} — {spec.description}")
                if rest is not None and rest.description.lower() != rest.name:
                    lines.append(f"      {rest.name}: {rest.description}")
        lines += ["  /as NAME [member|moderator|admin] [ROLE_ID …] — switch user", "  /channel NAME — switch channel",
                  "  /server [NAME] — switch server (none: the default one)",
                  "  NUMBER — press that button", "  /quit — leave"]
        return "\n".join(lines)

    async def run(self, stream: TextIO | None = None) -> None:
        """Read lines until end of input or /quit."""
        stream = stream or sys.stdin
        interactive = stream.isatty()
        await self.start()
        if interactive:
            self.write(f"Migraine community bot — console. You are {self.member.name} "
                       f"({self.member.role.name.lower()}). Type /help, or /faq and a question.")
        loop = asyncio.get_running_loop()
        while self.running:
            if interactive:
                try:
                    line = await loop.run_in_executor(None, input, "> ")
                except EOFError:
                    break
            else:
                line = await loop.run_in_executor(None, stream.readline)
                if not line:
                    break
                self.write(f"> {line.rstrip()}")
            if not await self.handle_line(line):
                break
        await self.stop()
