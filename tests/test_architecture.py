"""The core stays platform-free: it must never import discord, slack_bolt or slack_sdk."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

CORE = Path(__file__).resolve().parent.parent / "bot" / "core"
PLATFORM_LIBS = ("discord", "slack_bolt", "slack_sdk", "slack")


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def test_core_source_never_imports_a_platform_library():
    offenders = []
    for path in CORE.rglob("*.py"):
        for module in imported_modules(path):
            if module.split(".")[0] in PLATFORM_LIBS:
                offenders.append(f"{path.relative_to(CORE.parent.parent)} imports {module}")
    assert not offenders, offenders


def test_importing_the_whole_core_loads_no_platform_library():
    modules = sorted(p.stem for p in CORE.glob("*.py") if p.stem != "__init__")
    code = (
        "import sys\n"
        + "".join(f"import bot.core.{m}\n" for m in modules)
        + "bad = [m for m in sys.modules if m.split('.')[0] in ('discord', 'slack_bolt', 'slack_sdk')]\n"
        + "print(','.join(bad))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == ""
