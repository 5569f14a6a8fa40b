"""The import contracts of pyproject.toml (run by `make lint`) fail on a new cycle or an upward import.

Each case copies ``shared/rekognito`` to a temporary directory, adds one import to the copy,
and runs ``lint-imports`` with the project's own configuration on the copy.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.import_contracts import strongly_connected

REPO = Path(__file__).resolve().parents[2]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")
ACYCLIC = "No import cycle between modules"
LAYERS = "Layered, entry points down to the kernel"
CONTAINER = "Only entry points and handlers import the service container"


def lint(tmp_path: Path, module: str | None = None, line: str = "") -> tuple[int, str]:
    """Run lint-imports on a copy of the package with ``line`` appended to ``module``."""
    root = tmp_path / "src"
    shutil.copytree(
        REPO / "shared" / "rekognito", root / "rekognito", ignore=shutil.ignore_patterns("__pycache__")
    )
    if module is not None:
        path = root.joinpath(*module.split(".")).with_suffix(".py")
        path.write_text(path.read_text(encoding="utf-8") + f"\n{line}\n", encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(root), "COLUMNS": "250"}
    done = subprocess.run(
        [str(LINT_IMPORTS), "--config", str(REPO / "pyproject.toml"), "--no-cache", "--no-logo"],
        cwd=REPO,
        env=env,
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
    )
    return done.returncode, done.stdout + done.stderr


def verdict(output: str, contract: str) -> str:
    lines = [line for line in output.splitlines() if line.startswith(contract)]
    assert lines, f"contract {contract!r} not reported:\n{output}"
    return "KEPT" if "KEPT" in lines[0] else "BROKEN"


@pytest.fixture(scope="module", autouse=True)
def _lint_imports_installed() -> None:
    assert LINT_IMPORTS.exists(), f"{LINT_IMPORTS} is missing: make install-dev installs import-linter"


def test_the_copy_as_it_is_keeps_every_contract(tmp_path: Path) -> None:
    code, output = lint(tmp_path)
    assert code == 0, output
    for contract in (ACYCLIC, LAYERS, CONTAINER):
        assert verdict(output, contract) == "KEPT"


def test_a_cycle_inside_one_layer_is_found(tmp_path: Path) -> None:
    # users imports _faces; _faces importing users back breaks no layer, only the cycle rule.
    code, output = lint(tmp_path, "rekognito.operations._faces", "import rekognito.operations.users  # noqa")
    assert code != 0
    assert verdict(output, ACYCLIC) == "BROKEN"
    assert verdict(output, LAYERS) == "KEPT"
    assert "rekognito.operations._faces -> rekognito.operations.users" in output


def test_an_upward_import_is_found(tmp_path: Path) -> None:
    # A model importing an operation: no cycle, but the layers are broken.
    code, output = lint(
        tmp_path, "rekognito.inference.similarity", "import rekognito.operations.tags  # noqa"
    )
    assert code != 0
    assert verdict(output, ACYCLIC) == "KEPT"
    assert verdict(output, LAYERS) == "BROKEN"
    assert "rekognito.inference.similarity -> rekognito.operations.tags" in output


def test_an_operation_importing_the_container_is_found(tmp_path: Path) -> None:
    code, output = lint(
        tmp_path, "rekognito.operations.tags", "from rekognito.services import get_services  # noqa"
    )
    assert code != 0
    assert verdict(output, LAYERS) == "BROKEN"
    assert verdict(output, CONTAINER) == "BROKEN"


def test_a_lazy_import_in_a_leaf_makes_a_cycle_too(tmp_path: Path) -> None:
    line = "def _late() -> None:\n    import rekognito.request  # noqa"
    code, output = lint(tmp_path, "rekognito.identity", line)
    assert code != 0
    assert verdict(output, ACYCLIC) == "BROKEN"


def test_strongly_connected_components() -> None:
    edges = {"a": {"b"}, "b": {"c"}, "c": {"a", "d"}, "d": {"e"}, "e": {"d"}, "f": {"a"}}
    assert strongly_connected(set("abcdef"), edges) == [["a", "b", "c"], ["d", "e"]]
    assert strongly_connected({"a", "b"}, {"a": {"b"}}) == []
