"""The layout rules the package keeps: entry points are leaves (nothing imports them), and no file is long."""

import ast

from prefix_tuning.paths import REPO_ROOT

PACKAGE = REPO_ROOT / "prefix_tuning"
ENTRY_POINTS = {"train", "evaluate", "score", "demo", "report", "serve", "reproduce"}
MAX_LINES = 400


def imported_modules(path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names |= {f"{node.module}.{alias.name}" for alias in node.names}
    return names


def test_no_module_imports_an_entry_point():
    entry_modules = {f"prefix_tuning.{name}" for name in ENTRY_POINTS}
    offenders = {
        str(path.relative_to(REPO_ROOT)): sorted(imported_modules(path) & entry_modules)
        for path in PACKAGE.rglob("*.py")
    }
    assert {path: names for path, names in offenders.items() if names} == {}


def test_package_root_holds_entry_points_and_a_few_shared_modules():
    root_modules = {path.stem for path in PACKAGE.glob("*.py")} - {"__init__"}
    assert root_modules - ENTRY_POINTS <= {"errors", "paths", "settings", "tensor_files", "pipeline"}


def test_no_file_over_400_lines():
    lengths = {str(p.relative_to(REPO_ROOT)): len(p.read_text().splitlines()) for p in PACKAGE.rglob("*.py")}
    assert {path: n for path, n in lengths.items() if n > MAX_LINES} == {}


def test_no_folder_imports_one_that_imports_it_back():
    """The package's folders form layers: a folder may import another only if that one never imports it back
    (lazy imports inside functions count too)."""
    folders = {path.name for path in PACKAGE.iterdir() if path.is_dir() and (path / "__init__.py").exists()}
    uses = {folder: set() for folder in folders}
    for folder in folders:
        for path in (PACKAGE / folder).rglob("*.py"):
            for name in imported_modules(path):
                parts = name.split(".")
                if parts[0] == "prefix_tuning" and len(parts) > 1 and parts[1] in folders and parts[1] != folder:
                    uses[folder].add(parts[1])
    mutual = sorted({tuple(sorted((a, b))) for a in folders for b in uses[a] if a in uses[b]})
    assert mutual == []
