"""``local_rekognition``: a fresh local Rekognition for a block or a decorated call."""

from __future__ import annotations

import functools
import os
import shutil
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal, ParamSpec, TypeVar

from rekognito.services import Services
from rekognito.settings import Settings
from rekognito.testing.environment import (
    DUMMY_CREDENTIALS,
    REGION,
    _Environment,
    _has_local_credentials,
    _has_region,
    _scratch_root,
)
from rekognito.testing.models import SharedModels, _LocalServices
from rekognito.testing.moto_interop import _S3Reader, _S3VideoSource
from rekognito.testing.router import _ROUTER

if TYPE_CHECKING:
    from rekognito.inference.pipeline import FaceAnalyzer
    from rekognito.server import LocalEndpoint
    from rekognito.video.worker import WorkerThreads

Mode = Literal["http", "inprocess"]
MODES: tuple[Mode, ...] = ("http", "inprocess")
ENDPOINT_ENV = "AWS_ENDPOINT_URL_REKOGNITION"
_STOP_WAIT_SECONDS = 2.0
_HTTP_THREADS = 4

P = ParamSpec("P")
R = TypeVar("R")


def _stop_endpoint(endpoint: LocalEndpoint) -> None:
    """Stop the server: its event loop closes every connection, idle keep-alive ones of
    clients still alive included, and its worker threads end."""
    endpoint.stop(timeout=_STOP_WAIT_SECONDS)


class _VideoOnDemand:
    """The work queue of the video operations (nothing to announce: workers poll the job
    store) that starts the worker thread when the first piece of work is submitted."""

    announces = False

    def __init__(self, services: Services) -> None:
        self._services = services
        self._lock = threading.Lock()
        self._workers: WorkerThreads | None = None

    def submit(self, job_id: str, kind: str, index: int | None = None) -> None:
        with self._lock:
            if self._workers is None:
                from rekognito.video.worker import WorkerThreads

                self._workers = WorkerThreads(self._services, 1).start()

    def stop(self, timeout: float) -> None:
        with self._lock:
            workers, self._workers = self._workers, None
        if workers is not None:
            workers.stop(timeout=timeout)


class LocalRekognition:
    """A running local Rekognition (yielded by :func:`local_rekognition`).

    ``endpoint_url`` is the loopback URL in http mode and None in in-process mode;
    ``services`` is the service container answering the requests (its store, settings).
    """

    def __init__(self, mode: Mode, services: Services, data_dir: Path, endpoint_url: str | None) -> None:
        self.mode = mode
        self.services = services
        self.data_dir = data_dir
        self.endpoint_url = endpoint_url
        self.region = services.settings.region

    def client(self, **kwargs: Any) -> Any:
        """A boto3 Rekognition client for this instance, with dummy credentials and a region
        (keyword arguments go to ``boto3.client``)."""
        options: dict[str, Any] = {
            "region_name": self.region,
            "aws_access_key_id": DUMMY_CREDENTIALS["AWS_ACCESS_KEY_ID"],
            "aws_secret_access_key": DUMMY_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
            "endpoint_url": self.endpoint_url,
            **kwargs,
        }
        import boto3

        return boto3.client("rekognition", **options)


class local_rekognition:  # noqa: N801 - used like a function, as a context manager or decorator
    """A fresh local Rekognition for the duration of a ``with`` block or a decorated call.

    ``data_dir``: where to keep collections (default: a temporary directory, in /dev/shm
    where there is one, removed on exit; a given directory is kept). ``mode``: ``"http"`` (loopback endpoint,
    ``AWS_ENDPOINT_URL_REKOGNITION`` set) or ``"inprocess"`` (no socket). ``analyzer``: a
    :class:`SharedModels` to share every loaded model between blocks, or a FaceAnalyzer (or
    a callable returning one) to share the face models only; by default each block loads
    its models on first use.
    ``s3_endpoint_url``: where ``S3Object`` images are read (ignored under moto's
    ``mock_aws``, which answers S3 itself). ``set_environment=False`` leaves the
    environment alone (no endpoint variable, no dummy credentials or region).
    """

    def __init__(
        self,
        *,
        data_dir: str | os.PathLike[str] | None = None,
        mode: Mode = "http",
        analyzer: SharedModels | FaceAnalyzer | Callable[[], FaceAnalyzer] | None = None,
        s3_endpoint_url: str | None = None,
        set_environment: bool = True,
    ) -> None:
        if mode not in MODES:
            raise ValueError(f"mode={mode!r}: expected one of {', '.join(MODES)}")
        self._options: dict[str, Any] = {
            "data_dir": data_dir,
            "mode": mode,
            "analyzer": analyzer,
            "s3_endpoint_url": s3_endpoint_url,
            "set_environment": set_environment,
        }
        self._data_dir = Path(data_dir) if data_dir is not None else None
        self._mode: Mode = mode
        self._analyzer = analyzer
        self._s3_endpoint_url = s3_endpoint_url
        self._set_environment = set_environment
        self._local: LocalRekognition | None = None
        self._endpoint: LocalEndpoint | None = None
        self._video: _VideoOnDemand | None = None
        self._environment = _Environment()
        self._temporary: Path | None = None

    def __call__(self, func: Callable[P, R]) -> Callable[P, R]:
        options = self._options

        @functools.wraps(func)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
            with local_rekognition(**options):
                return func(*args, **kwargs)

        return wrapper

    def _services(self, data_dir: Path) -> Services:
        settings = Settings(
            data_dir=data_dir, region=REGION, auth_mode="none", s3_endpoint_url=self._s3_endpoint_url
        )
        reader = _S3Reader(settings.region, self._s3_endpoint_url)
        analyzer = self._analyzer
        services: Services
        if analyzer is None:
            services = Services(settings, object_reader=reader)
        elif isinstance(analyzer, SharedModels):
            services = _LocalServices(settings, models=analyzer, object_reader=reader)
        else:
            models = SharedModels(settings, face_analyzer=analyzer)
            services = _LocalServices(settings, models=models, object_reader=reader)
        # Stored-video jobs read their video as the photo operations read S3Object images.
        services.video_source = _S3VideoSource(reader)
        return services

    def _start_video_worker(self, services: Services) -> None:
        """Stored-video jobs (Start*/Get*) run on one worker thread, as under ``rekognito
        serve``; it starts with the first job, so tests that use no video pay nothing."""
        self._video = _VideoOnDemand(services)
        services.video_queue = self._video

    def __enter__(self) -> LocalRekognition:
        if self._local is not None:
            raise RuntimeError("this local_rekognition block is already active")
        if self._data_dir is None:
            self._temporary = Path(tempfile.mkdtemp(prefix="rekognito-test-", dir=_scratch_root()))
            data_dir = self._temporary
        else:
            data_dir = self._data_dir
            data_dir.mkdir(parents=True, exist_ok=True)
        services = self._services(data_dir)
        try:
            self._start_video_worker(services)
            if self._set_environment:
                self._environment.set(self._missing_defaults())
            if self._mode == "http":
                local = self._start_http(services, data_dir)
            else:
                local = LocalRekognition("inprocess", services, data_dir, None)
                _ROUTER.activate(local.services)
        except BaseException:
            self._cleanup(services)
            raise
        self._local = local
        return local

    def _missing_defaults(self) -> dict[str, str]:
        values: dict[str, str] = {}
        if not _has_local_credentials():
            values.update(DUMMY_CREDENTIALS)
        if not _has_region():
            values["AWS_DEFAULT_REGION"] = REGION
        return values

    def _start_http(self, services: Services, data_dir: Path) -> LocalRekognition:
        from rekognito.api.protocol import handle_event
        from rekognito.server import LocalEndpoint, ServerLimits

        def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
            return handle_event(event, context, services)

        # A test client sends a few requests at a time: a small pool starts fast.
        limits = ServerLimits(threads=_HTTP_THREADS)
        self._endpoint = LocalEndpoint("127.0.0.1", 0, handler=handler, limits=limits).start()
        url = self._endpoint.url
        if self._set_environment:
            self._environment.set({ENDPOINT_ENV: url})
        return LocalRekognition("http", services, data_dir, url)

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        local, self._local = self._local, None
        if local is None:
            return
        if local.mode == "inprocess":
            _ROUTER.deactivate(local.services)
        self._cleanup(local.services)

    def _cleanup(self, services: Services) -> None:
        try:
            if self._video is not None:
                video, self._video = self._video, None
                video.stop(timeout=_STOP_WAIT_SECONDS)
            if self._endpoint is not None:
                endpoint, self._endpoint = self._endpoint, None
                _stop_endpoint(endpoint)
        finally:
            self._environment.restore()
            try:
                services.close()
            finally:
                if self._temporary is not None:
                    shutil.rmtree(self._temporary, ignore_errors=True)
                    self._temporary = None
