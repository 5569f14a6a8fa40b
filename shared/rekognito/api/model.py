"""botocore's Rekognition service model, loaded once, and request parsing against it.

Shapes, enums, limits and patterns all come from the model that the installed botocore
ships, so the server checks exactly what the SDK documents. Blobs are base64-decoded
while parsing, as botocore does on the client side.
"""

from __future__ import annotations

import base64
import binascii
import math
import re
from functools import cache
from typing import Any

import botocore.session
from botocore.model import OperationModel, ServiceModel, Shape

from rekognito.api._generated import ImageTooLargeException, InvalidParameterException

# Members whose size limit Rekognition reports with its own error code.
_IMAGE_BLOB_SHAPES = frozenset({"ImageBlob"})


@cache
def service_model() -> ServiceModel:
    return botocore.session.get_session().get_service_model("rekognition")


@cache
def operation_model(name: str) -> OperationModel:
    return service_model().operation_model(name)


# Java's Unicode classes, which Python's re lacks, as used inside [...] by the model (TagKey):
# letters and numbers (\w also admits "_", which those classes list anyway), separators.
_UNICODE_CLASSES = {
    r"\p{L}": r"\w",
    r"\p{N}": r"\w",
    r"\p{Z}": "\u0020\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000",
}


@cache
def _pattern(expression: str) -> re.Pattern[str]:
    for java, python in _UNICODE_CLASSES.items():
        expression = expression.replace(java, python)
    return re.compile(expression, re.DOTALL)


def _fail(path: str, value: Any, constraint: str) -> InvalidParameterException:
    shown = (
        repr(value) if not isinstance(value, str | bytes) or len(value) <= 64 else f"{str(value)[:64]!r}..."
    )
    return InvalidParameterException(
        f"1 validation error detected: Value {shown} at '{path}' failed to satisfy constraint: {constraint}"
    )


def _type_name(value: Any) -> str:
    return type(value).__name__


def parse_value(shape: Shape, value: Any, path: str) -> Any:
    """Check ``value`` against ``shape`` and return it converted (blobs decoded)."""
    kind = shape.type_name
    meta = shape.metadata
    if kind == "structure":
        if not isinstance(value, dict):
            raise _fail(path, _type_name(value), "Member must be an object")
        members = shape.members  # type: ignore[attr-defined]
        parsed: dict[str, Any] = {}
        for key, item in value.items():
            if key not in members:
                raise InvalidParameterException(f"Unknown parameter '{key}' at '{path or 'request'}'")
            if item is None:
                continue
            parsed[key] = parse_value(members[key], item, f"{path}.{key}" if path else key)
        for required in shape.required_members:  # type: ignore[attr-defined]
            if required not in parsed:
                raise _fail(f"{path}.{required}" if path else required, None, "Member must not be null")
        return parsed
    if kind == "list":
        if not isinstance(value, list):
            raise _fail(path, _type_name(value), "Member must be a list")
        _check_length(path, value, len(value), meta)
        return [parse_value(shape.member, item, f"{path}.{i + 1}") for i, item in enumerate(value)]  # type: ignore[attr-defined]
    if kind == "map":
        if not isinstance(value, dict):
            raise _fail(path, _type_name(value), "Member must be a map")
        _check_length(path, value, len(value), meta)
        return {
            parse_value(shape.key, key, f"{path}.key"): parse_value(shape.value, item, f"{path}.{key}")  # type: ignore[attr-defined]
            for key, item in value.items()
        }
    if kind == "string":
        if not isinstance(value, str):
            raise _fail(path, _type_name(value), "Member must be a string")
        _check_length(path, value, len(value), meta)
        if "pattern" in meta and not _pattern(meta["pattern"]).fullmatch(value):
            raise _fail(path, value, f"Member must satisfy regular expression pattern: {meta['pattern']}")
        if shape.enum and value not in shape.enum:
            raise _fail(path, value, f"Member must satisfy enum value set: [{', '.join(shape.enum)}]")
        return value
    if kind in ("integer", "long"):
        if isinstance(value, bool) or not isinstance(value, int):
            raise _fail(path, _type_name(value), "Member must be an integer")
        _check_range(path, value, meta)
        return value
    if kind in ("float", "double"):
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise _fail(
                path,
                value if isinstance(value, int | float) else _type_name(value),
                "Member must be a number",
            )
        _check_range(path, value, meta)
        return float(value)
    if kind == "boolean":
        if not isinstance(value, bool):
            raise _fail(path, _type_name(value), "Member must be a boolean")
        return value
    if kind == "blob":
        if not isinstance(value, str):
            raise _fail(path, _type_name(value), "Member must be a base64-encoded string")
        if shape.name in _IMAGE_BLOB_SHAPES and len(value) > (meta.get("max", 0) * 4) // 3 + 8:
            raise ImageTooLargeException("Image size is too large: the limit for Image.Bytes is 5 MB")
        try:
            data = base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise _fail(path, "<blob>", "Member must be valid base64") from exc
        if shape.name in _IMAGE_BLOB_SHAPES and "max" in meta and len(data) > meta["max"]:
            raise ImageTooLargeException("Image size is too large: the limit for Image.Bytes is 5 MB")
        _check_length(path, "<blob>", len(data), meta)
        return data
    if kind == "timestamp":
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            raise _fail(path, _type_name(value), "Member must be a timestamp")
        return value
    raise InvalidParameterException(f"Unsupported parameter type at '{path}'")


def _check_length(path: str, value: Any, length: int, meta: dict[str, Any]) -> None:
    if "min" in meta and length < meta["min"]:
        raise _fail(path, value, f"Member must have length greater than or equal to {meta['min']}")
    if "max" in meta and length > meta["max"]:
        raise _fail(path, value, f"Member must have length less than or equal to {meta['max']}")


def _check_range(path: str, value: float, meta: dict[str, Any]) -> None:
    if "min" in meta and value < meta["min"]:
        raise _fail(path, value, f"Member must have value greater than or equal to {meta['min']}")
    if "max" in meta and value > meta["max"]:
        raise _fail(path, value, f"Member must have value less than or equal to {meta['max']}")


def parse_request(operation: str, params: Any) -> dict[str, Any]:
    shape = operation_model(operation).input_shape
    if shape is None:
        if params not in ({}, None):
            raise InvalidParameterException(f"{operation} takes no parameters")
        return {}
    parsed: dict[str, Any] = parse_value(shape, params, "")
    return parsed
