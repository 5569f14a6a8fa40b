"""Test code that calls Amazon Rekognition against a local rekognito, offline.

``local_rekognition()`` is a context manager and a decorator. Inside it, an unmodified
``boto3.client("rekognition")`` talks to a fresh local rekognito with its own temporary
data directory::

    with local_rekognition() as local:              # mode="http": a loopback endpoint
        boto3.client("rekognition").create_collection(CollectionId="family")

    @local_rekognition(mode="inprocess")            # no socket: botocore hands requests over
    def test_index():
        ...

``mode="http"`` serves the API on a free port of 127.0.0.1 and points
``AWS_ENDPOINT_URL_REKOGNITION`` there. ``mode="inprocess"`` opens no socket: a botocore
``before-send.rekognition`` handler answers each Rekognition request with the same handler
that serves Lambda, so it runs side by side with moto's ``mock_aws`` (which answers the
other services, S3 included, through the same event). Dummy credentials and a region are
set only where none are configured; every environment variable is restored afterwards.

The pytest fixtures built on this live in :mod:`rekognito.testing.pytest_plugin`.
"""

from __future__ import annotations

import functools
import io
import os
import shutil
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal, ParamSpec, TypeVar
from urllib.parse import urlsplit

from rekognito.services import Services
from rekognito.settings import Settings

if TYPE_CHECKING:
    import botocore.session
    from botocore.awsrequest import AWSPreparedRequest, AWSResponse

    from rekognito.inference.pipeline import FaceAnalyzer
    from rekognito.server import LocalEndpoint

__all__ = ["LocalRekognition", "Mode", "SharedModels", "local_rekognition"]

Mode = Literal["http", "inprocess"]
MODES: tuple[Mode, ...] = ("http", "inprocess")
ENDPOINT_ENV = "AWS_ENDPOINT_URL_REKOGNITION"
REGION = "us-east-1"
DUMMY_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
# Credential sources that are read from the environment or local files; the others (IMDS,
# containers, SSO, assume-role, processes) would reach the network or run commands.
_LOCAL_CREDENTIAL_SOURCES = {"env", "shared-credentials-file", "config-file"}
_SEND_EVENT = "before-send.rekognition"
_STOP_WAIT_SECONDS = 2.0
_HTTP_THREADS = 4
_ANSWERED_URL = "http://answered-in-process.rekognito.invalid"

P = ParamSpec("P")
R = TypeVar("R")
T = TypeVar("T")


class SharedModels:
    """The loaded models, shared by every ``local_rekognition(analyzer=...)`` block given it.

    Each block still gets fresh state (its own data directory, store and settings); only
    components built by ``rekognito.inference`` (the face analyzer, and the label, text and
    moderation models) come from here. Each loads on first use, once, built from
    ``settings`` (default ``Settings()``), except that ``face_analyzer`` (a FaceAnalyzer or
    a callable returning one) supplies the face models. Calling the object returns the
    FaceAnalyzer.
    """

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        face_analyzer: FaceAnalyzer | Callable[[], FaceAnalyzer] | None = None,
    ) -> None:
        self._settings = settings or Settings()
        self._lock = threading.RLock()
        self._models: dict[str, Any] = {}
        self._face_analyzer = face_analyzer

    @property
    def loaded(self) -> tuple[str, ...]:
        """The names of the models loaded so far."""
        return tuple(self._models)

    def component(self, name: str, factory: Callable[[Settings], T]) -> T:
        found = self._models.get(name)
        if found is None:
            with self._lock:
                found = self._models.get(name)
                if found is None:
                    found = self._models[name] = self._build(name, factory)
        return found  # type: ignore[no-any-return]

    def _build(self, name: str, factory: Callable[[Settings], Any]) -> Any:
        given = self._face_analyzer
        if name == "face_analyzer" and given is not None:
            return given() if callable(given) else given
        return factory(self._settings)

    def __call__(self) -> FaceAnalyzer:
        from rekognito.inference.pipeline import FaceAnalyzer

        return self.component("face_analyzer", FaceAnalyzer.from_settings)


def _is_model(factory: Callable[[Settings], Any]) -> bool:
    return str(getattr(factory, "__module__", "") or "").startswith("rekognito.inference.")


class _LocalServices(Services):
    """Services whose models come from a :class:`SharedModels` and are never closed with them."""

    def __init__(self, settings: Settings, *, models: SharedModels, **kwargs: Any) -> None:
        super().__init__(settings, **kwargs)
        self._models = models

    def component(self, name: str, factory: Callable[[Settings], T]) -> T:
        if _is_model(factory):
            return self._models.component(name, factory)
        return super().component(name, factory)


def _moto_active() -> bool:
    """Whether moto's ``mock_aws`` is on (without importing moto)."""
    models = sys.modules.get("moto.core.models")
    stubber = getattr(models, "botocore_stubber", None)
    return bool(getattr(stubber, "enabled", False))


class _S3Reader:
    """Reads ``S3Object`` images with a plain boto3 S3 client, chosen at each read.

    Under moto's ``mock_aws`` it uses the default endpoint (no override, configured
    endpoint URLs ignored) so that moto answers; otherwise ``endpoint_url`` if given.
    """

    def __init__(self, region: str, endpoint_url: str | None) -> None:
        self._region = region
        self._endpoint_url = endpoint_url
        self._lock = threading.Lock()
        self._clients: dict[tuple[int, bool], tuple[Any, Any]] = {}

    def _client(self) -> Any:
        import boto3
        from botocore.config import Config

        mocked = _moto_active()
        with self._lock:
            if boto3.DEFAULT_SESSION is None:
                boto3.setup_default_session()
            session = boto3.DEFAULT_SESSION
            key = (id(session), mocked)
            cached = self._clients.get(key)
            if cached is not None and cached[0] is session:
                return cached[1]
            config = Config(
                retries={"max_attempts": 2, "mode": "standard"}, connect_timeout=5, read_timeout=30
            )
            if mocked:
                config = config.merge(Config(ignore_configured_endpoint_urls=True))
            client = session.client(
                "s3",
                region_name=self._region,
                endpoint_url=None if mocked else self._endpoint_url,
                config=config,
            )
            self._clients[key] = (session, client)
            return client

    def read_object(self, bucket: str, key: str, version: str | None, max_bytes: int) -> bytes:
        from rekognito.adapters.s3 import S3ObjectReader

        return S3ObjectReader(self._client()).read_object(bucket, key, version, max_bytes)


class _RawBody(io.BytesIO):
    """The ``raw`` of an :class:`AWSResponse`: botocore reads it through ``stream()``."""

    def stream(self, **_options: Any) -> Iterator[bytes]:
        chunk = self.read()
        while chunk:
            yield chunk
            chunk = self.read()


def _text(value: str | bytes) -> str:
    return value.decode("latin-1") if isinstance(value, bytes) else str(value)


def _request_body(body: Any) -> bytes:
    if body is None:
        return b""
    if isinstance(body, bytes | bytearray):
        return bytes(body)
    if isinstance(body, str):
        return body.encode("utf-8")
    data = body.read()
    return data.encode("utf-8") if isinstance(data, str) else bytes(data)


def _answer(services: Services, request: AWSPreparedRequest) -> AWSResponse:
    """Serve one prepared botocore request with the API handler, as API Gateway would."""
    import base64

    from botocore.awsrequest import AWSResponse

    from rekognito.api.protocol import handle_event
    from rekognito.server import build_event

    headers = {str(name): _text(value) for name, value in request.headers.items()}
    path = urlsplit(request.url).path or "/"
    event = build_event(str(request.method), path, headers, _request_body(request.body), "127.0.0.1")
    proxy = handle_event(event, None, services)
    body = str(proxy.get("body") or "")
    payload = base64.b64decode(body) if proxy.get("isBase64Encoded") else body.encode("utf-8")
    response_headers = dict(proxy.get("headers") or {})
    response_headers["Content-Length"] = str(len(payload))
    return AWSResponse(request.url, int(proxy.get("statusCode", 200)), response_headers, _RawBody(payload))


class _InProcessRouter:
    """The botocore ``before-send.rekognition`` handler of in-process mode.

    While any in-process block is active it is registered on boto3's default session and
    in botocore's built-in handlers (so sessions created meanwhile get it too); it answers
    from the innermost active block and returns None (botocore sends the request as usual)
    when none is active, so a session that outlives the block is left unaffected. Only
    Rekognition events reach it; moto's handler, registered for every ``before-send``, is
    called after it and keeps answering the other services.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._active: list[LocalRekognition] = []
        self._sessions: list[Any] = []

    def __call__(
        self, request: AWSPreparedRequest, event_name: str = "", **_kwargs: Any
    ) -> AWSResponse | None:
        if not event_name.startswith(_SEND_EVENT + "."):
            return None
        with self._lock:
            local = self._active[-1] if self._active else None
        if local is None:
            return None
        response = _answer(local.services, request)
        # botocore calls every before-send handler even after one answered, and takes the
        # first answer. moto's handler comes after ours and would treat the request as one
        # for its own (canned) Rekognition, failing on operations it lacks: point the
        # answered request at a host that no mock claims.
        request.url = _ANSWERED_URL + (urlsplit(request.url).path or "/")
        return response

    def activate(self, local: LocalRekognition) -> None:
        with self._lock:
            if not self._active:
                self._install()
            self._active.append(local)

    def deactivate(self, local: LocalRekognition) -> None:
        with self._lock:
            if local in self._active:
                self._active.remove(local)
            if not self._active:
                self._uninstall()

    def _install(self) -> None:
        import boto3
        from botocore.handlers import BUILTIN_HANDLERS

        BUILTIN_HANDLERS.append((_SEND_EVENT, self))
        session = boto3.DEFAULT_SESSION
        if session is not None:
            session.events.unregister(_SEND_EVENT, self)
            session.events.register(_SEND_EVENT, self)
            self._sessions.append(session)

    def _uninstall(self) -> None:
        import boto3
        from botocore.handlers import BUILTIN_HANDLERS

        while (_SEND_EVENT, self) in BUILTIN_HANDLERS:
            BUILTIN_HANDLERS.remove((_SEND_EVENT, self))
        sessions = [*self._sessions, boto3.DEFAULT_SESSION]
        self._sessions.clear()
        for session in sessions:
            if session is not None:
                session.events.unregister(_SEND_EVENT, self)


_ROUTER = _InProcessRouter()


_CONFIG_FILE_VARIABLES = ("AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE", "AWS_PROFILE")
_config_sessions: dict[tuple[str | None, ...], botocore.session.Session] = {}
_config_lock = threading.Lock()


def _configured(check: Callable[[botocore.session.Session], bool]) -> bool:
    """``check`` on a botocore session that reads the AWS config files, kept per set of
    file locations (creating one costs tens of milliseconds); True when the files cannot
    be read."""
    import botocore.session
    from botocore.exceptions import BotoCoreError

    key = tuple(os.environ.get(name) for name in _CONFIG_FILE_VARIABLES)
    try:
        with _config_lock:
            session = _config_sessions.get(key)
            if session is None:
                session = _config_sessions[key] = botocore.session.Session()
            return check(session)
    except (BotoCoreError, OSError, ValueError):
        return True  # something is configured, if oddly: leave it alone


def _has_local_credentials() -> bool:
    """Whether credentials are configured in the environment or the AWS config files.

    Sources that would reach the network (instance metadata, SSO, ...) are not tried.
    """
    if os.environ.get("AWS_ACCESS_KEY_ID") or os.environ.get("AWS_PROFILE"):
        return True

    def from_files(session: botocore.session.Session) -> bool:
        from botocore.credentials import CredentialResolver

        resolver = session.get_component("credential_provider")
        local = [p for p in resolver.providers if getattr(p, "METHOD", "") in _LOCAL_CREDENTIAL_SOURCES]
        return CredentialResolver(local).load_credentials() is not None

    return _configured(from_files)


def _has_region() -> bool:
    if os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION"):
        return True
    return _configured(lambda session: session.get_config_variable("region") is not None)


class _Environment:
    """Sets environment variables and puts back exactly what was there before."""

    def __init__(self) -> None:
        self._saved: dict[str, str | None] = {}

    def set(self, values: Mapping[str, str]) -> None:
        for name, value in values.items():
            self._saved.setdefault(name, os.environ.get(name))
            os.environ[name] = value

    def restore(self) -> None:
        for name, value in reversed(self._saved.items()):
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        self._saved.clear()


def _stop_endpoint(endpoint: LocalEndpoint) -> None:
    """Stop the server: its event loop closes every connection, idle keep-alive ones of
    clients still alive included, and its worker threads end."""
    endpoint.stop(timeout=_STOP_WAIT_SECONDS)


def _scratch_root() -> str | None:
    """A memory-backed folder for temporary data directories where there is one (Linux's
    /dev/shm): the store syncs to disk on every write, which costs a test tens of
    milliseconds per call on a busy disk. None means tempfile's default."""
    shm = Path("/dev/shm")  # noqa: S108 - mkdtemp makes a private (0700) directory there
    if sys.platform.startswith("linux") and shm.is_dir() and os.access(shm, os.W_OK | os.X_OK):
        return str(shm)
    return None


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
        if analyzer is None:
            return Services(settings, object_reader=reader)
        if isinstance(analyzer, SharedModels):
            return _LocalServices(settings, models=analyzer, object_reader=reader)
        models = SharedModels(settings, face_analyzer=analyzer)
        return _LocalServices(settings, models=models, object_reader=reader)

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
            if self._set_environment:
                self._environment.set(self._missing_defaults())
            if self._mode == "http":
                local = self._start_http(services, data_dir)
            else:
                local = LocalRekognition("inprocess", services, data_dir, None)
                _ROUTER.activate(local)
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
            _ROUTER.deactivate(local)
        self._cleanup(local.services)

    def _cleanup(self, services: Services) -> None:
        try:
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
