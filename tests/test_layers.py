"""The import contract of the package, read from the source (AST), not from a running import.

Layers, lowest first: a module may import its own layer's package and any lower layer, never a
higher one, and the packages of one layer (``train`` and ``backends``) do not import each other::

    base (atomic, cpu, errors, metrics, testing) -> audio -> data -> features -> models -> train | backends
    -> evaluate -> inference -> serve | hear | compat -> cli

No module imports a ``_private`` name from another module, nor a ``_private`` module of another
package, and the modules of a package import each other without cycles.
"""

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "audiocnn"

LAYERS = [
    {"atomic", "cpu", "errors", "metrics", "streaming_metrics", "testing"},
    {"audio"},
    {"data"},
    {"features"},
    {"models"},
    {"train", "backends"},
    {"evaluate"},
    {"inference"},
    {"serve", "hear", "compat"},
    {"cli"},
]
LAYER_OF = {name: i for i, names in enumerate(LAYERS) for name in names}


def _unit(module: str) -> str | None:
    """``audiocnn.models.panns`` -> ``models``; the package root itself -> None."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[0] == "audiocnn" else None


def _module_name(path: Path) -> str:
    rel = path.relative_to(SRC.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _imports(path: Path, module: str):
    """``(imported module, imported names, line, top level?)`` for every audiocnn import."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    top = {id(n) for n in tree.body}
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                if a.name.startswith("audiocnn"):
                    yield a.name, [], node.lineno, id(node) in top
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.startswith("audiocnn"):
                yield target, [a.name for a in node.names], node.lineno, id(node) in top


def _sources():
    return sorted(p for p in SRC.rglob("*.py") if "__pycache__" not in p.parts)


def _all_imports():
    for path in _sources():
        module = _module_name(path)
        for target, names, line, top in _imports(path, module):
            yield path, module, target, names, line, top


def test_every_package_has_a_layer():
    units = {_unit(_module_name(p)) for p in _sources()} - {None}
    units = {u for u in units if not u.startswith("__")}
    assert units <= set(LAYER_OF), f"packages without a layer in the contract: {sorted(units - set(LAYER_OF))}"


def test_no_upward_or_sideways_import():
    bad = []
    for path, module, target, names, line, _ in _all_imports():
        src, dst = _unit(module), _unit(target)
        if src is None or dst is None or src == dst:
            continue
        if dst == "__init__":
            continue
        if target == "audiocnn" and names == ["__version__"]:
            continue  # the version string: a constant, not a layer
        sideways = LAYER_OF[dst] == LAYER_OF[src] and dst != src and LAYER_OF[src] != 0  # base modules may use each other
        if LAYER_OF[dst] > LAYER_OF[src] or sideways:
            bad.append(f"{path.relative_to(SRC)}:{line}: {src} imports {target}")
    assert not bad, "imports against the layer order:\n" + "\n".join(bad)


def test_no_private_name_or_private_module_from_elsewhere():
    bad = []
    for path, module, target, names, line, _ in _all_imports():
        own_package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
        parts = target.split(".")
        for i, part in enumerate(parts[1:], start=1):
            if part.startswith("_") and not part.startswith("__"):
                owner = ".".join(parts[:i])
                if own_package != owner:
                    bad.append(f"{path.relative_to(SRC)}:{line}: private module {target}")
        for n in names:
            if n.startswith("_") and not n.startswith("__") and target != module:
                bad.append(f"{path.relative_to(SRC)}:{line}: private name {n} from {target}")
    assert not bad, "\n".join(bad)


def test_no_import_cycles_between_modules():
    graph: dict[str, set[str]] = {}
    modules = {_module_name(p) for p in _sources()}
    for path, module, target, names, line, top in _all_imports():
        if not top:
            continue  # an import inside a function runs later: it cannot make an import cycle
        deps = graph.setdefault(module, set())
        for cand in [f"{target}.{n}" for n in names] + [target]:
            if cand in modules and cand != module:
                deps.add(cand)
                break

    state: dict[str, int] = {}
    cycles = []

    def visit(m, stack):
        state[m] = 1
        stack.append(m)
        for d in sorted(graph.get(m, ())):
            if state.get(d) == 1:
                cycles.append(" -> ".join(stack[stack.index(d):] + [d]))
            elif d not in state:
                visit(d, stack)
        stack.pop()
        state[m] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m, [])
    # a package's __init__ re-exporting its modules is not a cycle of the modules themselves
    cycles = [c for c in cycles if not all(part == c.split(" -> ")[0] or ".__init__" in part for part in c.split(" -> "))]
    assert not cycles, "import cycles:\n" + "\n".join(cycles)


@pytest.mark.parametrize("path", _sources(), ids=lambda p: str(p.relative_to(SRC)))
def test_modules_stay_small(path):
    n = len(path.read_text(encoding="utf-8").splitlines())
    assert n <= 500, f"{path.relative_to(SRC)} has {n} lines (at most 500: split it by idea)"


def test_the_contract_catches_a_violation(tmp_path):
    # the checker itself: an upward import in a fake evaluate module is reported
    fake = tmp_path / "audiocnn" / "models" / "x.py"
    fake.parent.mkdir(parents=True)
    fake.write_text("from audiocnn.evaluate.protocol import run_experiment\nfrom audiocnn.data.cache import _private\n")
    found = list(_imports(fake, "audiocnn.models.x"))
    assert ("audiocnn.evaluate.protocol", ["run_experiment"], 1, True) in found
    assert LAYER_OF[_unit("audiocnn.evaluate.protocol")] > LAYER_OF[_unit("audiocnn.models.x")]
    assert any(n == ["_private"] for _, n, _, _ in found)
