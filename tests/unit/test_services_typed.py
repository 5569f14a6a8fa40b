"""The service container: every component typed (no ``Any``), no string-keyed locator."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import rekognito.ports
import rekognito.services
from rekognito.services import Component, Services
from rekognito.settings import Settings


def _class(module: object, name: str) -> ast.ClassDef:
    tree = ast.parse(inspect.getsource(module))  # type: ignore[arg-type]
    return next(node for node in tree.body if isinstance(node, ast.ClassDef) and node.name == name)


def test_every_component_of_the_container_has_a_type_without_any() -> None:
    annotations = {
        node.target.id: ast.unparse(node.annotation)
        for node in _class(rekognito.services, "Services").body
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name)
    }
    components = {name for name, value in vars(Services).items() if isinstance(value, Component)}
    assert components == set(annotations), "every component is declared with its type"
    for name, annotation in annotations.items():
        assert annotation.startswith("Component[") and "Any" not in annotation, (name, annotation)


def test_the_runtime_port_names_no_any() -> None:
    for node in _class(rekognito.ports, "Runtime").body:
        if isinstance(node, ast.FunctionDef):
            assert node.returns is not None and "Any" not in ast.unparse(node.returns), node.name


def test_no_string_keyed_locator() -> None:
    assert not hasattr(Services, "component")
    assert not hasattr(Services, "provide")


def test_components_are_built_once_and_can_be_replaced(tmp_path: Path) -> None:
    services = Services(Settings(data_dir=tmp_path))
    try:
        limiter = services.limiter
        assert services.limiter is limiter
        replacement = type(limiter)(1)
        services.limiter = replacement
        assert services.limiter is replacement
        assert Services.limiter.kind == "service"
        assert Services.face_analyzer.kind == "model"
        assert Services.face_store.kind == "adapter"
    finally:
        services.close()
