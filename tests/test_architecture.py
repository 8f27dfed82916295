"""The one-way arrows of DESIGN.md, enforced: engine never imports the UI."""
import ast
import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
FORBIDDEN = ("textual", "cockpit", "widgets")


def test_engine_imports_no_ui_by_ast():
    offenders = []
    for path in (ROOT / "engine").rglob("*.py"):
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            for name in names:
                if name.split(".")[0] in FORBIDDEN:
                    offenders.append(f"{path.relative_to(ROOT)}:{node.lineno} imports {name}")
    assert not offenders, "\n".join(offenders)


def test_import_linter_contracts_hold():
    exe = pathlib.Path(sys.executable).parent / "lint-imports"
    result = subprocess.run([str(exe), "--no-cache"], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_engine_imports_without_textual_loaded():
    code = (
        "import sys, engine.config, engine.model, engine.clock\n"
        "import pkgutil, importlib, engine\n"
        "for m in pkgutil.walk_packages(engine.__path__, 'engine.'):\n"
        "    importlib.import_module(m.name)\n"
        "bad = [m for m in sys.modules if m.split('.')[0] in ('textual','cockpit','widgets')]\n"
        "assert not bad, bad\n"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_tests_import_their_helpers_one_way():
    """Issue 19 item 6: a test imports the stand-ins and the shared helpers as
    ``tests.<module>``; a bare ``standins...`` only collects when tests/ happens to
    be on sys.path (plain ``pytest tests/x.py`` from elsewhere fails)."""
    tests = ROOT / "tests"
    helpers = {p.stem for p in tests.glob("*.py")} | {p.name for p in tests.iterdir() if p.is_dir()}
    helpers -= {"__init__", "conftest"}
    offenders = []
    for path in tests.rglob("*.py"):
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""] if node.level == 0 else [f"relative import .{node.module or ''}"]
            else:
                continue
            for name in names:
                if name.split(".")[0] in helpers or name.startswith("relative import"):
                    offenders.append(f"{path.relative_to(ROOT)}:{node.lineno} imports {name}")
    assert not offenders, "\n".join(offenders)
