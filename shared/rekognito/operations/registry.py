"""The table of implemented operations, filled by the ``@operation`` decorator."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rekognito.request import RequestContext

Params = dict[str, Any]
Result = dict[str, Any]
Handler = Callable[["RequestContext", Params], Result]

OPERATIONS: dict[str, Handler] = {}


def operation(name: str) -> Callable[[Handler], Handler]:
    """Register ``func`` as the implementation of the Rekognition operation ``name``."""

    def register(func: Handler) -> Handler:
        if name in OPERATIONS:
            raise RuntimeError(f"operation {name} registered twice")
        OPERATIONS[name] = func
        return func

    return register
