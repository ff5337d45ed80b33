"""The layering stays honest (design.md, rule 1): the core is a framework that knows no platform, no config file
and no feature; features know no adapter and none of each other's internals; modules stay small."""

from __future__ import annotations

import ast
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

BOT = Path(__file__).resolve().parent.parent / "bot"
CORE = BOT / "core"
FEATURES = BOT / "features"
PLATFORM_LIBS = ("discord", "slack_bolt", "slack_sdk", "slack", "aiohttp")
PLATFORM_NAMES = ("discord", "slack")


def imported_modules(path: Path) -> set[str]:
    """Absolute module names a file imports (relative imports resolved against its package)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = ".".join(path.relative_to(BOT.parent).with_suffix("").parts[:-1])
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                found.add(".".join([*base, node.module] if node.module else base))
            elif node.module:
                found.add(node.module)
    return found


def sources(folder: Path) -> list[Path]:
    return sorted(folder.rglob("*.py"))


def offenders(folder: Path, bad: Callable[[str], bool]) -> list[str]:
    return [f"{p.relative_to(BOT.parent)} imports {m}" for p in sources(folder) for m in imported_modules(p) if bad(m)]


def test_core_imports_no_platform_library():
    assert not offenders(CORE, lambda m: m.split(".")[0] in PLATFORM_LIBS)


def test_core_imports_neither_the_config_nor_a_feature_nor_an_adapter():
    assert not offenders(CORE, lambda m: m == "bot.config" or m.startswith(("bot.features", "bot.adapters",
                                                                                 "bot.cli", "bot.runner")))


def test_core_names_no_platform():
    """A third platform must not mean editing the core: no string in it names Discord or Slack."""
    found = []
    for path in sources(CORE):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value.lower() in PLATFORM_NAMES:
                found.append(f"{path.relative_to(BOT.parent)}:{node.lineno}: {node.value!r}")
    assert not found, found


def test_features_import_no_adapter_and_no_platform_library():
    assert not offenders(FEATURES, lambda m: m.startswith("bot.adapters") or m.split(".")[0] in PLATFORM_LIBS)


def test_features_branch_on_no_platform_name():
    found = []
    for path in sources(FEATURES):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Compare):
                for side in (node.left, *node.comparators):
                    values = side.elts if isinstance(side, ast.Tuple | ast.List | ast.Set) else [side]
                    if any(isinstance(v, ast.Constant) and v.value in PLATFORM_NAMES for v in values):
                        found.append(f"{path.relative_to(BOT.parent)}:{node.lineno}")
    assert not found, found


def test_no_feature_imports_another_features_internals():
    """A feature may use another only through its package's entry point (bot.features.NAME)."""
    found = []
    for feature in (p for p in FEATURES.iterdir() if p.is_dir() and (p / "__init__.py").exists()):
        for path in sources(feature):
            for module in imported_modules(path):
                parts = module.split(".")
                if parts[:2] == ["bot", "features"] and len(parts) > 3 and parts[2] != feature.name:
                    found.append(f"{path.relative_to(BOT.parent)} imports {module}")
    assert not found, found


def test_no_module_reads_another_modules_private_names():
    found = []
    for path in sources(BOT):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("bot"):
                found += [f"{path.relative_to(BOT.parent)} imports {node.module}.{a.name}" for a in node.names
                          if a.name.startswith("_") and not a.name.startswith("__")]
    assert not found, found


def test_modules_stay_small():
    big = [f"{p.relative_to(BOT.parent)} ({n} lines)" for p in sources(BOT)
           if (n := len(p.read_text(encoding="utf-8").splitlines())) > 500]
    assert not big, big


def test_importing_the_whole_core_loads_no_platform_library():
    modules = sorted(".".join(p.relative_to(BOT.parent).with_suffix("").parts) for p in sources(CORE)
                     if p.stem != "__init__")
    code = (
        "import sys\n"
        + "".join(f"import {m}\n" for m in modules)
        + "bad = [m for m in sys.modules if m.split('.')[0] in ('discord', 'slack_bolt', 'slack_sdk')"
        + " or (m.startswith('bot.') and not m.startswith('bot.core'))]\n"
        + "print(','.join(bad))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == ""
