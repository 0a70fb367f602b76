"""Meta-tests that keep the house in order: the core does no edge I/O; crypto randomness is `secrets`."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CORE = ("intents", "handlers", "engine")
FORBIDDEN = {"aiohttp", "pywa", "pywa_async", "httpx", "bot"}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
    return found


def test_core_packages_never_import_the_edge():
    offenders = {str(p.relative_to(ROOT)): sorted(_imports(p) & FORBIDDEN)
                 for pkg in CORE for p in (ROOT / pkg).rglob("*.py") if _imports(p) & FORBIDDEN}
    assert offenders == {}


def test_engine_never_formats_for_people_or_knows_the_conversations():
    """The engine returns values (paise, counts, times); texts are the handlers' and locales' business."""
    offenders = {str(p.relative_to(ROOT)): sorted(_imports(p) & {"locales", "handlers"})
                 for p in (ROOT / "engine").rglob("*.py") if _imports(p) & {"locales", "handlers"}}
    assert offenders == {}


def test_engine_never_uses_the_random_module():
    offenders = [str(p.relative_to(ROOT)) for p in (ROOT / "engine").rglob("*.py") if "random" in _imports(p)]
    assert offenders == []


def test_no_user_facing_reply_is_built_from_a_literal_string():
    """Replies take their text from locales: no Text("…")/Buttons("…") with a literal body in handlers/."""
    offenders = []
    for path in (ROOT / "handlers").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
                    and node.func.id in {"Text", "Buttons", "ListReply"} and node.args
                    and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)):
                offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert offenders == []


def test_pyflakes_clean():
    """No undefined names, unused imports or syntax errors anywhere (ruff's F and E9 rules)."""
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, "-m", "ruff", "check", "--select", "F,E9", "--no-cache",
                           "--output-format", "concise", str(ROOT)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
