"""The package's import graph: no cycles between modules; the data layer stays light."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import minerals

PACKAGE = Path(minerals.__file__).parent


def module_name(path: Path) -> str:
    parts = ("minerals",) + path.relative_to(PACKAGE).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph() -> dict[str, set[str]]:
    """Module -> the `minerals` modules it imports anywhere (top level, functions, TYPE_CHECKING)."""
    modules = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph = {}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
        edges = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1] + [base]).strip(".")
                # `from pkg import mod` imports the submodule when there is one, else a name of pkg
                targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base for a in node.names]
            else:
                continue
            edges |= {t for t in targets if t in modules and t != name}
        graph[name] = edges
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as a list of modules (first == last), or None."""
    state: dict[str, int] = {}  # 1 = on the stack, 2 = done
    stack: list[str] = []

    def visit(node):
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_graph_sees_the_package():
    graph = import_graph()
    assert "minerals.data.layout" in graph["minerals.data"]
    assert len(graph) > 40


def test_no_import_cycles():
    cycle = find_cycle(import_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_cycle_finder_finds_a_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_top_level_stays_small():
    modules = sorted(p.name for p in PACKAGE.glob("*.py"))
    assert len(modules) <= 8, f"{len(modules)} modules directly in minerals/ ({', '.join(modules)}): put it in a package"


def test_data_layer_imports_only_the_bottom_layer():
    allowed = ("minerals.data", "minerals.results", "minerals.cache")
    wrong = {name: sorted(t for t in edges if not t.startswith(allowed))
             for name, edges in import_graph().items() if name.startswith("minerals.data")}
    assert not {k: v for k, v in wrong.items() if v}, wrong


def test_data_layer_imports_no_section_code_nor_the_session():
    code = ("import json, sys; import minerals.data; "
            "print(json.dumps(sorted(m for m in sys.modules if m.startswith(('minerals', 'torch')))))")
    loaded = json.loads(subprocess.run([sys.executable, "-c", code], check=True, capture_output=True,
                                       text=True).stdout)
    heavy = [m for m in loaded if m == "torch" or m.startswith("torch.")
             or m.split(".")[1:2] in (["pipeline"], ["session"], ["models"], ["fewshot"], ["zeroshot"], ["cam"],
                                      ["identify"], ["size"])]
    assert heavy == [], heavy


def test_the_command_line_loads_no_numpy_before_the_cpu_pin():
    """`minerals.cli.main` applies the profile's CPU pin (`runtime.pin_cpu`) after building its parser: a command
    module that loads numpy at import fixes OpenBLAS's kernels first, and on an AVX-512 machine the smoke release
    then renders with other bits (another data fingerprint, every table off the reference)."""
    code = ("import json, sys; from minerals.cli import build_parser; build_parser(); "
            "print(json.dumps(sorted(m for m in ('numpy', 'torch', 'cv2') if m in sys.modules)))")
    loaded = json.loads(subprocess.run([sys.executable, "-c", code], check=True, capture_output=True,
                                       text=True).stdout)
    assert loaded == [], f"building the CLI parser loads {loaded}: import them inside the command's run function"
