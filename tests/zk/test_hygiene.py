"""Randomness and purity rules for engine/zk, checked on the source."""

import ast
from pathlib import Path

import engine.zk

ZK_DIR = Path(engine.zk.__file__).parent
FORBIDDEN = {"random", "aiohttp", "pywa", "httpx", "bot"}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module.split(".")[0])
    return names


def test_no_random_module_and_no_edge_imports_in_engine_zk():
    files = sorted(ZK_DIR.glob("*.py"))
    assert len(files) > 10
    for path in files:
        bad = _imports(path) & FORBIDDEN
        assert not bad, f"{path.name} imports {bad}"


def test_randomness_comes_from_secrets():
    uses = [p.name for p in ZK_DIR.glob("*.py") if "secrets" in _imports(p)]
    assert {"rangeproof.py", "signing.py", "keys.py", "service.py"} <= set(uses)


def test_cli_help_does_not_import_the_zk_stack():
    import subprocess
    import sys

    code = "import sys; from bot.cli import build_parser; build_parser(); print('engine.zk.rangeproof' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"
