"""Lower layers never import upper ones: every import of every module under workspace/ and tasks/ (at module level
or inside functions) is checked against the layer table, which must be the one in docs/architecture.md ("Layers").

Rule: a service module (any module that is not an edge) imports only modules of its own app and non-edge modules
of lower layers; two apps of one layer never import each other. Edges (the modules named in EDGE_MODULES, and
the `tasks` package, the Celery app) are the top and may import anything.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from pathlib import Path

import pytest

pytestmark = pytest.mark.embedded
ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("workspace", "tasks")

# Bottom to top. A module is in the app of the longest package listed that contains it.
LAYERS: dict[str, int] = {
    "workspace": 0,  # shared helpers: the top-level modules (broadcast, bus, llm, futures, settings, ...)
    "workspace.edge": 0,  # Daphne's checked WebSocket shortcuts
    "workspace.accounts": 1,
    "workspace.projects": 1,
    "workspace.collab": 2,
    "workspace.realtime": 2,
    "workspace.spark": 3,
    "workspace.jobs": 3,
    "workspace.history": 3,
    "workspace.teams": 3,
    "workspace.repos": 3,
    "workspace.terminals": 4,
    "workspace.timeline": 4,
}
EDGE_MODULES = frozenset(
    {"api", "views", "consumers", "handlers", "builtin_handlers", "urls", "routing", "asgi", "apps", "admin"}
)
EDGE_PACKAGE = "tasks"


@dataclass(frozen=True)
class Module:
    name: str
    path: Path

    @property
    def is_package(self) -> bool:
        return self.path.name == "__init__.py"

    @property
    def is_edge(self) -> bool:
        return self.name.split(".")[0] == EDGE_PACKAGE or (
            not self.is_package and self.name.rsplit(".", 1)[-1] in EDGE_MODULES
        )

    @property
    def app(self) -> str | None:
        parts = self.name.split(".")
        for depth in range(len(parts), 0, -1):
            if ".".join(parts[:depth]) in LAYERS:
                return ".".join(parts[:depth])
        return None


def discover() -> dict[str, Module]:
    modules = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            modules[".".join(parts)] = Module(".".join(parts), path)
    return modules


MODULES = discover()


def imported_modules(module: Module) -> list[tuple[int, str]]:
    """(line, module) for every import of a workspace/tasks module, wherever it stands in the file."""
    tree = ast.parse(module.path.read_text(encoding="utf-8"), str(module.path))
    package = module.name if module.is_package else module.name.rpartition(".")[0]
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module or ""
            for alias in node.names:
                # `from workspace.collab import store` imports the module workspace.collab.store.
                candidate = f"{source}.{alias.name}"
                found.append((node.lineno, candidate if candidate in MODULES else source))
    return sorted({(line, name) for line, name in found if name.split(".")[0] in PACKAGES})


def violation(module: Module, target: Module) -> str | None:
    if module.is_edge:
        return None
    if target.is_edge:
        return "an edge (edges are the top: only edges may import them)"
    if target.app == module.app:
        return None
    if LAYERS[target.app] > LAYERS[module.app]:
        return f"an upper layer ({target.app}, layer {LAYERS[target.app]})"
    if LAYERS[target.app] == LAYERS[module.app]:
        return f"another app of the same layer ({target.app}, layer {LAYERS[target.app]})"
    return None


def test_every_package_under_workspace_has_a_layer():
    unplaced = sorted(
        m.name for m in MODULES.values() if m.app is None and m.name.split(".")[0] != EDGE_PACKAGE
    ) + sorted(
        m.name
        for m in MODULES.values()
        if m.is_package and m.name.count(".") == 1 and m.name.startswith("workspace.") and m.name not in LAYERS
    )
    assert not unplaced, f"add these packages to LAYERS in {__file__} and to docs/architecture.md: {unplaced}"


def test_no_service_module_imports_an_upper_layer_a_sibling_app_or_an_edge():
    offences = []
    for module in MODULES.values():
        for line, name in imported_modules(module):
            target = MODULES.get(name)
            if target is None:
                offences.append(f"{module.path.relative_to(ROOT)}:{line} imports {name}, which does not exist")
                continue
            why = violation(module, target)
            if why:
                offences.append(
                    f"{module.path.relative_to(ROOT)}:{line}: {module.name} ({module.app}, layer "
                    f"{LAYERS[module.app]}) imports {name}: {why}"
                )
    assert not offences, "imports against the layers (docs/architecture.md, Layers):\n" + "\n".join(offences)


def documented_layers() -> tuple[dict[str, int], set[str]]:
    """The layer table of docs/architecture.md: {package: layer} and the edge module names."""
    text = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    section = text.split("\n## Layers\n", 1)[1].split("\n## ", 1)[0]
    layers: dict[str, int] = {}
    edges: set[str] = set()
    for row in re.findall(r"^\|(.+)\|\s*$", section, re.M):
        first, _, rest = row.partition("|")
        names = re.findall(r"`([\w.]+)`", rest)
        if re.match(r"\s*\d", first):
            layer = int(re.match(r"\s*(\d+)", first).group(1))
            layers.update({name: layer for name in names if name.split(".")[0] == "workspace"})
        elif first.strip().lower().startswith("edges"):
            edges.update(names)
    return layers, edges


def test_the_layer_table_is_the_one_documented():
    layers, edges = documented_layers()
    assert layers == LAYERS, "docs/architecture.md (Layers) and LAYERS in this test differ"
    assert edges == EDGE_MODULES | {EDGE_PACKAGE}, "docs/architecture.md (Layers) lists other edges than this test"


def test_the_checker_sees_imports_inside_functions_and_relative_ones(tmp_path):
    """The rule is only as good as the parse: an import hidden in a function or written relatively counts."""
    source = tmp_path / "services.py"
    source.write_text(
        "def later():\n    from workspace.spark import runner\n\nfrom ..collab import store\nfrom . import models\n"
    )
    fake = Module("workspace.projects.services", source)
    assert imported_modules(fake) == [
        (2, "workspace.spark.runner"),
        (4, "workspace.collab.store"),
        (5, "workspace.projects.models"),
    ]
    verdicts = {name: violation(fake, MODULES[name]) for _, name in imported_modules(fake)}
    assert verdicts["workspace.projects.models"] is None
    assert "upper layer" in verdicts["workspace.spark.runner"]
    assert "upper layer" in verdicts["workspace.collab.store"]
    assert "an edge" in violation(fake, MODULES["tasks.deep"])
    assert "same layer" in violation(MODULES["workspace.collab.store"], MODULES["workspace.realtime.presence"])
