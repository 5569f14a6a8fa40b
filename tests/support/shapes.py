"""Strict checks of responses against botocore's Rekognition output shapes."""

from __future__ import annotations

from typing import Any

from botocore.model import Shape

from rekognito.api.model import operation_model

# Extension keys we add on purpose; botocore's parser ignores unknown keys.
ALLOWED_EXTRA_KEYS = frozenset({"ReviewRequired"})


def _check(shape: Shape, value: Any, path: str) -> None:
    kind = shape.type_name
    if kind == "structure":
        assert isinstance(value, dict), f"{path}: expected object, got {type(value).__name__}"
        members = shape.members  # type: ignore[attr-defined]
        for key, item in value.items():
            if key in ALLOWED_EXTRA_KEYS:
                continue
            assert key in members, f"{path}: unexpected key {key!r}"
            _check(members[key], item, f"{path}.{key}")
    elif kind == "list":
        assert isinstance(value, list), f"{path}: expected list"
        for i, item in enumerate(value):
            _check(shape.member, item, f"{path}[{i}]")  # type: ignore[attr-defined]
    elif kind == "map":
        assert isinstance(value, dict), f"{path}: expected map"
        for key, item in value.items():
            _check(shape.value, item, f"{path}.{key}")  # type: ignore[attr-defined]
    elif kind == "string":
        assert isinstance(value, str), f"{path}: expected string, got {value!r}"
        if shape.enum:
            assert value in shape.enum, f"{path}: {value!r} not in enum"
    elif kind in ("integer", "long"):
        assert isinstance(value, int) and not isinstance(value, bool), (
            f"{path}: expected integer, got {value!r}"
        )
    elif kind in ("float", "double"):
        assert isinstance(value, int | float) and not isinstance(value, bool), f"{path}: expected number"
        if "min" in shape.metadata:
            assert value >= shape.metadata["min"], f"{path}: {value} < min"
        if "max" in shape.metadata:
            assert value <= shape.metadata["max"], f"{path}: {value} > max"
    elif kind == "boolean":
        assert isinstance(value, bool), f"{path}: expected boolean"
    elif kind == "timestamp":
        assert isinstance(value, int | float | str), f"{path}: expected timestamp"


def assert_output_shape(operation: str, body: dict[str, Any]) -> None:
    """Fail unless ``body`` (the raw JSON response) fits ``operation``'s output shape."""
    shape = operation_model(operation).output_shape
    assert shape is not None
    _check(shape, body, operation)
