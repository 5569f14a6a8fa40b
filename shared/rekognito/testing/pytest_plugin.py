"""pytest fixtures for code that calls Amazon Rekognition, answered by a local rekognito.

Installed through the ``pytest11`` entry point, so pytest loads it in every run: importing
it imports nothing but pytest, and the models load only when a test using these fixtures
first needs them (the face models on the first face operation), then once for the session.

Fixtures:

- ``rekognition_client``: a boto3 Rekognition client on fresh, empty state (a new temporary
  data directory per test). While the test runs, ``boto3.client("rekognition")`` created
  by the code under test reaches the same state.
- ``rekognito_local``: the :class:`rekognito.testing.LocalRekognition` behind that client.
- ``rekognito_mode``: ``"http"`` (the default) or ``"inprocess"``; chosen by the
  ``rekognito_mode`` marker, else the ``rekognito_mode`` ini option. Parametrize it to run
  a test in both modes: ``@pytest.mark.parametrize("rekognito_mode", ["http", "inprocess"])``.
- ``rekognito_models`` (session): a :class:`rekognito.testing.SharedModels`, to
  pass as ``local_rekognition(analyzer=...)`` where a test opens its own block.
- ``rekognition_endpoint`` (session): the URL of a local endpoint running for the session,
  with state shared by every test that uses it; the environment is left alone.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from rekognito.testing import LocalRekognition, Mode, SharedModels

MODE_OPTION = "rekognito_mode"
MODES = ("http", "inprocess")


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addini(
        MODE_OPTION,
        "how the rekognition_client fixture reaches rekognito: http (loopback endpoint) or inprocess",
        default="http",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        f"{MODE_OPTION}(mode): serve rekognition_client over 'http' (loopback) or 'inprocess' (no socket)",
    )


def _checked(mode: object, source: str) -> str:
    if mode not in MODES:
        raise pytest.UsageError(f"{source}: {mode!r} is not one of {', '.join(MODES)}")
    return str(mode)


@pytest.fixture
def rekognito_mode(request: pytest.FixtureRequest) -> str:
    marker = request.node.get_closest_marker(MODE_OPTION)
    if marker is not None:
        if len(marker.args) != 1:
            raise pytest.UsageError(f"@pytest.mark.{MODE_OPTION} takes one argument: http or inprocess")
        return _checked(marker.args[0], f"@pytest.mark.{MODE_OPTION}")
    return _checked(str(request.config.getini(MODE_OPTION)).strip(), f"ini option {MODE_OPTION}")


@pytest.fixture(scope="session")
def rekognito_models() -> SharedModels:
    """The session's models, each loaded on first use (``FaceAnalyzer.from_settings(Settings())``
    for faces), then shared by every test."""
    from rekognito.testing import SharedModels

    return SharedModels()


@pytest.fixture
def rekognito_local(rekognito_mode: str, rekognito_models: SharedModels) -> Iterator[LocalRekognition]:
    from rekognito.testing import local_rekognition

    mode: Mode = "inprocess" if rekognito_mode == "inprocess" else "http"
    with local_rekognition(mode=mode, analyzer=rekognito_models) as local:
        yield local


@pytest.fixture
def rekognition_client(rekognito_local: LocalRekognition) -> Any:
    return rekognito_local.client()


@pytest.fixture(scope="session")
def rekognition_endpoint(rekognito_models: SharedModels) -> Iterator[str]:
    from rekognito.testing import local_rekognition

    with local_rekognition(mode="http", analyzer=rekognito_models, set_environment=False) as local:
        yield str(local.endpoint_url)
