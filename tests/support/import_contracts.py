"""An import-linter contract type: no import cycle between any two modules of a package.

import-linter's own ``acyclic_siblings`` looks at sibling packages as wholes (``a.*`` and
``b.*``), which a package of shared leaf modules (``rekognito.api._generated`` is imported by
nearly everything) cannot satisfy; this one looks at modules, the graph Python itself runs.
Every import counts: at module level, inside functions (lazy) and under ``TYPE_CHECKING``.

Registered in ``pyproject.toml`` (``[tool.importlinter] contract_types``) and run by
``make lint``; ``tests/unit/test_import_contracts.py`` shows it failing on a cycle.
"""

from __future__ import annotations

from typing import Any

import grimp
from importlinter.application import output
from importlinter.domain import fields
from importlinter.domain.contract import Contract, ContractCheck


def strongly_connected(nodes: set[str], edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one node (Tarjan's algorithm, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in sorted(nodes):
        if root in index:
            continue
        work: list[tuple[str, list[str]]] = [(root, sorted(edges.get(root, ())))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, pending = work[-1]
            if pending:
                target = pending.pop()
                if target not in index:
                    index[target] = low[target] = len(index)
                    stack.append(target)
                    on_stack.add(target)
                    work.append((target, sorted(edges.get(target, ()))))
                elif target in on_stack:
                    low[node] = min(low[node], index[target])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return sorted(found)


class AcyclicModulesContract(Contract):
    """No module of ``packages`` imports, directly or not, a module that imports it back."""

    type_name = "acyclic_modules"

    packages = fields.ListField(subfield=fields.StringField())

    def check(self, graph: grimp.ImportGraph, verbose: bool) -> ContractCheck:
        roots = [str(package) for package in self.packages]  # type: ignore[attr-defined]
        nodes = {m for m in graph.modules if any(m == r or m.startswith(r + ".") for r in roots)}
        edges = {m: set(graph.find_modules_directly_imported_by(m)) & nodes for m in nodes}
        cycles = []
        for component in strongly_connected(nodes, edges):
            first = component[0]
            members = set(component)
            # One concrete loop through the component's first module, for the report.
            successor = sorted(edges[first] & members)[0]
            back = graph.find_shortest_chain(importer=successor, imported=first) or (successor, first)
            cycles.append({"modules": component, "loop": [first, *back]})
        return ContractCheck(kept=not cycles, metadata={"cycles": cycles})

    def render_broken_contract(self, check: ContractCheck) -> None:
        cycles: list[dict[str, Any]] = check.metadata["cycles"]
        for cycle in cycles:
            output.print_error(f"A cycle through {len(cycle['modules'])} modules:")
            output.new_line()
            output.indent_cursor()
            output.print_error(" -> ".join(cycle["loop"]), bold=False)
            output.new_line()
            output.indent_cursor()
            output.print_error("modules: " + ", ".join(cycle["modules"]), bold=False)
            output.new_line()
