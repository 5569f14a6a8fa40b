"""A real, single OpenSearch node with the k-NN plugin, for tests and benchmarks.

Nothing installs an OpenSearch server from PyPI, apt or npm, so this module takes the
minimal distribution and the k-NN plugin from Maven Central with ``mvn`` at pinned
coordinates, checks their sha256, unpacks them under ``<repo>/.cache/opensearch/<version>``
(kept between runs) and starts one node bound to 127.0.0.1 on a free port, with a small
heap, no security plugin (the minimal distribution has none) and its data in a temporary
directory.

What it took (measured on OpenSearch 2.19.1, the newest 2.x for which Maven Central has
both the minimal distribution and a matching k-NN plugin):

* The k-NN plugin extends ``lang-painless``, a module the minimal distribution leaves
  out and that Maven Central has only as jars: ``modules/lang-painless`` is assembled
  from those jars with a descriptor and security policy written here.
* OpenSearch refuses to run as root; as root (CI), the node runs as ``nobody`` (or
  ``$REKOGNITO_OPENSEARCH_USER``) with its config, data and logs in a temp directory.
* The plugin zip carries only the Java code, not the JNI libraries
  (``libopensearchknn_faiss*.so``) of the full distribution. The ``lucene`` engine works;
  a ``faiss`` index can be created, but the first refresh after a document is written
  throws ``UnsatisfiedLinkError: no opensearchknn_faiss_avx2 in java.library.path`` and
  the node exits. Checked again for issue 16: Maven Central's metadata lists only plain
  ``zip`` releases of ``org.opensearch.plugin:opensearch-knn`` (2.19.1.0 and 3.5.0.0; no
  classifier), the 3.5.0.0 zip has no ``lib/`` either (a known gap: opensearch-project/k-NN
  issue 2643), and the only 3.x distribution there (3.6.0) has no matching plugin. So the
  store's default engine is lucene, the one this node runs.

A cluster: ``start_cluster(3)`` starts three nodes on loopback that form one cluster (a
name unique to the call, discovery by their transport ports, all cluster-manager
eligible), so that a test can ``kill -9`` one of them (:meth:`RunningCluster.kill`).

Python::

    with start_node() as node:
        client = OpenSearch(node.url)
    with start_cluster(3) as cluster:
        client = OpenSearch(cluster.urls)

Command line::

    python tests/support/opensearch_node.py fetch      # download, verify, unpack (idempotent)
    python tests/support/opensearch_node.py start      # run a node until Ctrl-C
    python tests/support/opensearch_node.py run CMD..  # run CMD with REKOGNITO_TEST_OPENSEARCH_URL set

Java 17 is enough for OpenSearch 2.x (3.x needs Java 21). ``JAVA_HOME`` is honoured.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import hashlib
import json
import logging
import os
import pwd
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

logger = logging.getLogger(__name__)

OPENSEARCH_VERSION = "2.19.1"
KNN_PLUGIN_VERSION = "2.19.1.0"


@dataclass(frozen=True)
class Artifact:
    group: str
    name: str
    version: str
    packaging: str
    sha256: str

    @property
    def coordinates(self) -> str:
        return f"{self.group}:{self.name}:{self.version}:{self.packaging}"

    @property
    def file_name(self) -> str:
        return f"{self.name}-{self.version}.{self.packaging}"


DISTRIBUTION = Artifact(
    "org.opensearch.distribution.integ-test-zip",
    "opensearch",
    OPENSEARCH_VERSION,
    "zip",
    "af7152d8b7f6f1cee09d47276b32b70479fe6dd8cdbb61213f84eb7f8098b261",
)
KNN_PLUGIN = Artifact(
    "org.opensearch.plugin",
    "opensearch-knn",
    KNN_PLUGIN_VERSION,
    "zip",
    "eab8c9818865bc035212eab5068cdacae164baa09d4c152f49b736d6f6b0e85c",
)
# The k-NN plugin extends lang-painless, a module the minimal distribution leaves out and
# that Maven Central has only as jars: the module is assembled from these.
PAINLESS_JARS = (
    Artifact(
        "org.opensearch.plugin",
        "lang-painless",
        OPENSEARCH_VERSION,
        "jar",
        "3cf5e02efa40ff5b88e74e1ab66a0bc462de3509fab4a6a4ffe90b8d13777a9a",
    ),
    Artifact(
        "org.opensearch.plugin",
        "opensearch-scripting-painless-spi",
        OPENSEARCH_VERSION,
        "jar",
        "c2598797a5f6f897ce7e8d05f593ff96de3fbc56c52f299d63cddcae41556dda",
    ),
    Artifact(
        "org.antlr",
        "antlr4-runtime",
        "4.13.1",
        "jar",
        "54665d2838cc66458343468efc539e454fc95b46a8a04b13c6ac43fc9be63505",
    ),
    Artifact(
        "org.ow2.asm", "asm", "9.7", "jar", "adf46d5e34940bdf148ecdd26a9ee8eea94496a72034ff7141066b3eea5c4e9d"
    ),
    Artifact(
        "org.ow2.asm",
        "asm-analysis",
        "9.7",
        "jar",
        "7bc6bcbc21379948a0c8c467fb0f864206e5b818f6bc0b546872f5c9f941556f",
    ),
    Artifact(
        "org.ow2.asm",
        "asm-commons",
        "9.7",
        "jar",
        "389bc247958e049fc9a0408d398c92c6d370c18035120395d4cba1d9d9304b7a",
    ),
    Artifact(
        "org.ow2.asm",
        "asm-tree",
        "9.7",
        "jar",
        "62f4b3bc436045c1acb5c3ba2d8ec556ec3369093d7f5d06c747eb04b56d52b1",
    ),
    Artifact(
        "org.ow2.asm",
        "asm-util",
        "9.7",
        "jar",
        "37a6414d36641973f1af104937c95d6d921b2ddb4d612c66c5a9f2b13fc14211",
    ),
)
ALL_ARTIFACTS = (DISTRIBUTION, KNN_PLUGIN, *PAINLESS_JARS)
PAINLESS_DESCRIPTOR = f"""description=Painless scripting language, assembled from Maven Central jars
version={OPENSEARCH_VERSION}
name=lang-painless
classname=org.opensearch.painless.PainlessPlugin
java.version=11
opensearch.version={OPENSEARCH_VERSION}
extended.plugins=
has.native.controller=false
"""
# Painless compiles scripts to classes at run time, under the security manager.
PAINLESS_POLICY = """grant {
  permission java.lang.RuntimePermission "createClassLoader";
  permission java.lang.RuntimePermission "getClassLoader";
};
"""
DEPENDENCY_PLUGIN = "org.apache.maven.plugins:maven-dependency-plugin:3.6.1"

REPO_ROOT = Path(__file__).resolve().parents[2]


def _default_cache_root() -> Path:
    """``<repo>/.cache/opensearch``, unless root runs us from a folder ``nobody`` cannot reach.

    As root the node runs as ``nobody``, which must traverse every folder above the
    distribution; a checkout under a private home (``/root``, mode 0700) would fail, so the
    cache moves to the temporary folder then.
    """
    preferred = REPO_ROOT / ".cache" / "opensearch"
    if os.geteuid() != 0:
        return preferred
    for folder in [REPO_ROOT, *REPO_ROOT.parents]:
        if not folder.stat().st_mode & stat.S_IXOTH:
            return Path(tempfile.gettempdir()) / "rekognito-opensearch"
    return preferred


CACHE_ROOT = Path(os.environ.get("REKOGNITO_OPENSEARCH_CACHE") or _default_cache_root())
READY_MARKER = ".rekognito-ready"
DEFAULT_HEAP = "512m"
START_TIMEOUT_S = 180.0
STOP_TIMEOUT_S = 30.0
URL_ENV = "REKOGNITO_TEST_OPENSEARCH_URL"


class NodeError(RuntimeError):
    """The node could not be fetched, installed or started."""


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _java_env() -> dict[str, str]:
    env = dict(os.environ)
    java_home = env.get("OPENSEARCH_JAVA_HOME") or env.get("JAVA_HOME")
    if not java_home:
        java = shutil.which("java")
        if java is None:
            raise NodeError("no java on PATH and JAVA_HOME unset: OpenSearch 2.x needs Java 17+")
        java_home = str(Path(java).resolve().parents[1])
    env["OPENSEARCH_JAVA_HOME"] = java_home
    env.pop("JAVA_TOOL_OPTIONS", None)
    return env


def _pom(artifacts: tuple[Artifact, ...]) -> str:
    dependencies = "".join(
        f"<dependency><groupId>{a.group}</groupId><artifactId>{a.name}</artifactId>"
        f"<version>{a.version}</version><type>{a.packaging}</type>"
        "<exclusions><exclusion><groupId>*</groupId><artifactId>*</artifactId></exclusion></exclusions>"
        "</dependency>"
        for a in artifacts
    )
    return (
        '<project xmlns="http://maven.apache.org/POM/4.0.0"><modelVersion>4.0.0</modelVersion>'
        "<groupId>rekognito.test</groupId><artifactId>opensearch-node</artifactId><version>0</version>"
        f"<packaging>pom</packaging><dependencies>{dependencies}</dependencies></project>"
    )


def _mvn_fetch(artifacts: tuple[Artifact, ...], out_dir: Path) -> dict[Artifact, Path]:
    """Copy the artifacts from Maven Central (through ~/.m2) into ``out_dir`` with one mvn run."""
    missing = [
        a
        for a in artifacts
        if not (out_dir / a.file_name).is_file() or _sha256(out_dir / a.file_name) != a.sha256
    ]
    if missing:
        mvn = shutil.which("mvn")
        if mvn is None:
            raise NodeError("mvn not found on PATH: Maven is needed to fetch OpenSearch from Maven Central")
        with tempfile.TemporaryDirectory(prefix="rekognito-mvn-") as project:
            (Path(project) / "pom.xml").write_text(_pom(tuple(missing)))
            command = [
                mvn,
                "-B",
                "-q",
                f"{DEPENDENCY_PLUGIN}:copy-dependencies",
                f"-DoutputDirectory={out_dir}",
                "-DexcludeTransitive=true",
                "-Dmdep.overWriteReleases=true",
            ]
            result = subprocess.run(command, cwd=project, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            tail = (result.stdout + result.stderr)[-3000:]
            raise NodeError(
                f"mvn could not fetch the OpenSearch artifacts (exit {result.returncode}):\n{tail}"
            )
    paths: dict[Artifact, Path] = {}
    for artifact in artifacts:
        path = out_dir / artifact.file_name
        if not path.is_file():
            raise NodeError(f"mvn reported success but {path} is missing")
        paths[artifact] = _verified(path, artifact.sha256)
    return paths


def _verified(path: Path, expected: str) -> Path:
    actual = _sha256(path)
    if actual != expected:
        raise NodeError(f"sha256 mismatch for {path.name}: expected {expected}, got {actual}")
    return path


def _unzip(archive: Path, target: Path) -> None:
    """Extract keeping the Unix permission bits, which :mod:`zipfile` drops by itself."""
    with zipfile.ZipFile(archive) as zipped:
        for info in zipped.infolist():
            dest = (target / info.filename).resolve()
            if not dest.is_relative_to(target.resolve()):
                raise NodeError(f"unsafe path in {archive.name}: {info.filename}")
            zipped.extract(info, target)
            mode = (info.external_attr >> 16) & 0o777
            if mode and not info.is_dir():
                dest.chmod(mode | stat.S_IRUSR)


@contextlib.contextmanager
def _cache_lock() -> Iterator[None]:
    CACHE_ROOT.mkdir(parents=True, exist_ok=True)
    with (CACHE_ROOT / ".lock").open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def home_dir(version: str = OPENSEARCH_VERSION) -> Path:
    return CACHE_ROOT / version / f"opensearch-{version}"


def fetch() -> Path:
    """Make sure a verified distribution with the k-NN plugin is in the cache; return its home."""
    home = home_dir()
    marker = home / READY_MARKER
    if marker.is_file():
        return home
    with _cache_lock():
        if marker.is_file():
            return home
        started = time.monotonic()
        downloads = CACHE_ROOT / "downloads"
        downloads.mkdir(parents=True, exist_ok=True)
        files = _mvn_fetch(ALL_ARTIFACTS, downloads)
        fetched = time.monotonic()

        version_dir = CACHE_ROOT / OPENSEARCH_VERSION
        version_dir.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=version_dir))
        try:
            _unzip(files[DISTRIBUTION], staging)
            staged_home = staging / f"opensearch-{OPENSEARCH_VERSION}"
            painless = staged_home / "modules" / "lang-painless"
            painless.mkdir(parents=True)
            for jar in PAINLESS_JARS:
                shutil.copy2(files[jar], painless / jar.file_name)
            (painless / "plugin-descriptor.properties").write_text(PAINLESS_DESCRIPTOR)
            (painless / "plugin-security.policy").write_text(PAINLESS_POLICY)
            result = subprocess.run(
                [
                    str(staged_home / "bin" / "opensearch-plugin"),
                    "install",
                    "--batch",
                    files[KNN_PLUGIN].resolve().as_uri(),
                ],
                env=_java_env(),
                capture_output=True,
                text=True,
                check=False,
            )
            if result.returncode != 0:
                raise NodeError(
                    f"opensearch-plugin install failed:\n{(result.stdout + result.stderr)[-3000:]}"
                )
            (staged_home / READY_MARKER).write_text(
                json.dumps({a.coordinates: a.sha256 for a in ALL_ARTIFACTS}, indent=2)
            )
            if home.exists():
                shutil.rmtree(home)
            staged_home.rename(home)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        logger.info(
            "opensearch fetched",
            extra={
                "version": OPENSEARCH_VERSION,
                "fetch_s": round(fetched - started, 1),
                "install_s": round(time.monotonic() - fetched, 1),
                "home": str(home),
            },
        )
    return home


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class RunningNode:
    """A started node; stop it with :meth:`stop` or use it as a context manager."""

    url: str
    process: subprocess.Popen[bytes]
    work_dir: Path
    start_seconds: float
    keep_work_dir: bool = False
    _stopped: bool = field(default=False, repr=False)

    @property
    def log_path(self) -> Path:
        return self.work_dir / "node.log"

    def log_tail(self, chars: int = 4000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        pgid = self.process.pid
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pgid, signal.SIGTERM)
            try:
                self.process.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                logger.warning("opensearch did not stop in time, killing", extra={"pid": pgid})
        # Whatever is left of the process group (the JVM's helpers, if any) goes too.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=STOP_TIMEOUT_S)
        if not self.keep_work_dir:
            shutil.rmtree(self.work_dir, ignore_errors=True)

    def __enter__(self) -> RunningNode:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def _unprivileged_user() -> tuple[int, int] | None:
    """OpenSearch refuses to run as root: as root (CI, containers), run it as ``nobody``."""
    if os.geteuid() != 0:
        return None
    name = os.environ.get("REKOGNITO_OPENSEARCH_USER", "nobody")
    try:
        entry = pwd.getpwnam(name)
    except KeyError as exc:
        raise NodeError(f"running as root and there is no user {name!r} to run OpenSearch as") from exc
    return entry.pw_uid, entry.pw_gid


def _health_status(url: str) -> str | None:
    try:
        with urllib.request.urlopen(f"{url}/_cluster/health?timeout=1s", timeout=5) as response:
            body: dict[str, object] = json.loads(response.read())
            return str(body.get("status"))
    except (urllib.error.URLError, OSError, ValueError):
        return None


def _prepare(home: Path, heap: str) -> tuple[Path, dict[str, str], tuple[int, int] | None]:
    """A work directory with its own config, logs and data; the environment to start in."""
    work_dir = Path(tempfile.mkdtemp(prefix="rekognito-opensearch-"))
    env = _java_env()
    env["OPENSEARCH_JAVA_OPTS"] = f"-Xms{heap} -Xmx{heap} -XX:-HeapDumpOnOutOfMemoryError"
    # Each node gets its own copy of the config directory: OpenSearch may write to it.
    config_dir = work_dir / "config"
    shutil.copytree(home / "config", config_dir)
    # jvm.options names gc.log, error files and heap dumps relative to the home directory,
    # which belongs to whoever fetched it: point them into the work directory.
    for sub in ("logs", "data"):
        (work_dir / sub).mkdir()
    jvm_options = config_dir / "jvm.options"
    jvm_options.write_text(
        jvm_options.read_text()
        .replace("=logs/", f"={work_dir}/logs/")
        .replace(":logs/", f":{work_dir}/logs/")
        .replace("HeapDumpPath=data", f"HeapDumpPath={work_dir}/data")
    )
    env["OPENSEARCH_PATH_CONF"] = str(config_dir)
    run_as = _unprivileged_user()
    if run_as is not None:
        for path in (work_dir, *work_dir.rglob("*")):
            os.chown(path, run_as[0], run_as[1])
    return work_dir, env, run_as


def _launch(
    home: Path,
    work_dir: Path,
    env: dict[str, str],
    run_as: tuple[int, int] | None,
    settings: dict[str, str],
) -> subprocess.Popen[bytes]:
    settings = {
        "network.host": "127.0.0.1",
        "path.data": str(work_dir / "data"),
        "path.logs": str(work_dir / "logs"),
        "cluster.routing.allocation.disk.threshold_enabled": "false",
        "action.auto_create_index": "false",
        **settings,
    }
    command = [str(home / "bin" / "opensearch")]
    for key, value in settings.items():
        command += ["-E", f"{key}={value}"]
    with (work_dir / "node.log").open("wb") as log:
        return subprocess.Popen(
            command,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            start_new_session=True,
            user=None if run_as is None else run_as[0],
            group=None if run_as is None else run_as[1],
            extra_groups=None if run_as is None else [],
        )


def start_node(
    *, heap: str = DEFAULT_HEAP, timeout_s: float = START_TIMEOUT_S, keep_work_dir: bool = False
) -> RunningNode:
    """Fetch if needed, start a node and wait until the cluster is yellow or green."""
    home = fetch()
    work_dir, env, run_as = _prepare(home, heap)
    http_port, transport_port = _free_port(), _free_port()
    settings = {
        "cluster.name": "rekognito-test",
        "node.name": "node-0",
        "discovery.type": "single-node",
        "http.port": str(http_port),
        "transport.port": str(transport_port),
    }
    started = time.monotonic()
    process = _launch(home, work_dir, env, run_as, settings)
    node = RunningNode(f"http://127.0.0.1:{http_port}", process, work_dir, 0.0, keep_work_dir)
    deadline = started + timeout_s
    while True:
        if process.poll() is not None:
            tail = node.log_tail()
            node.stop()
            raise NodeError(f"opensearch exited with {process.returncode} while starting:\n{tail}")
        if _health_status(node.url) in {"yellow", "green"}:
            break
        if time.monotonic() > deadline:
            tail = node.log_tail()
            node.stop()
            raise NodeError(f"opensearch not healthy after {timeout_s:.0f}s:\n{tail}")
        time.sleep(0.5)
    node.start_seconds = time.monotonic() - started
    logger.info("opensearch started", extra={"url": node.url, "start_s": round(node.start_seconds, 1)})
    return node


@dataclass
class RunningCluster:
    """``len(nodes)`` nodes on loopback forming one cluster; every node is cluster-manager eligible."""

    name: str
    nodes: list[RunningNode]
    start_seconds: float

    @property
    def urls(self) -> list[str]:
        return [node.url for node in self.nodes]

    @property
    def url(self) -> str:
        """All node URLs, comma-separated, as ``REKOGNITO_OPENSEARCH_URL`` takes them."""
        return ",".join(self.urls)

    def kill(self, index: int) -> None:
        """``kill -9`` node ``index`` (its whole process group): no shutdown, no flush."""
        node = self.nodes[index]
        with contextlib.suppress(ProcessLookupError):
            os.killpg(node.process.pid, signal.SIGKILL)
        node.process.wait(timeout=STOP_TIMEOUT_S)

    def alive(self) -> list[RunningNode]:
        return [node for node in self.nodes if node.process.poll() is None]

    def health(
        self, wait_for_nodes: int | None = None, wait_for_status: str | None = None
    ) -> dict[str, object]:
        """``_cluster/health`` from the first live node (optionally waiting, up to 60 s)."""
        query = "timeout=60s"
        if wait_for_nodes is not None:
            query += f"&wait_for_nodes={wait_for_nodes}"
        if wait_for_status is not None:
            query += f"&wait_for_status={wait_for_status}"
        url = self.alive()[0].url
        with urllib.request.urlopen(f"{url}/_cluster/health?{query}", timeout=90) as response:
            body: dict[str, object] = json.loads(response.read())
            return body

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()

    def __enter__(self) -> RunningCluster:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def start_cluster(
    size: int = 3,
    *,
    heap: str = DEFAULT_HEAP,
    timeout_s: float = START_TIMEOUT_S,
    keep_work_dir: bool = False,
) -> RunningCluster:
    """Start ``size`` nodes on 127.0.0.1 as one cluster and wait until all have joined.

    The cluster name is unique per call, so clusters of concurrent test runs on one machine
    never join each other; discovery is the list of this cluster's transport ports.
    """
    if size < 2:
        raise ValueError("a cluster needs at least 2 nodes (use start_node for one)")
    home = fetch()
    name = f"rekognito-cluster-{os.getpid()}-{int(time.time() * 1000) % 10**8}"
    ports = [(_free_port(), _free_port()) for _ in range(size)]
    names = [f"node-{i}" for i in range(size)]
    seed_hosts = ",".join(f"127.0.0.1:{transport}" for _, transport in ports)
    started = time.monotonic()
    nodes: list[RunningNode] = []
    try:
        for number, (http_port, transport_port) in enumerate(ports):
            work_dir, env, run_as = _prepare(home, heap)
            settings = {
                "cluster.name": name,
                "node.name": names[number],
                "http.port": str(http_port),
                "transport.port": str(transport_port),
                "discovery.seed_hosts": seed_hosts,
                "cluster.initial_cluster_manager_nodes": ",".join(names),
            }
            process = _launch(home, work_dir, env, run_as, settings)
            nodes.append(RunningNode(f"http://127.0.0.1:{http_port}", process, work_dir, 0.0, keep_work_dir))
        cluster = RunningCluster(name, nodes, 0.0)
        deadline = started + timeout_s
        while True:
            for node in nodes:
                if node.process.poll() is not None:
                    raise NodeError(
                        f"opensearch {node.url} exited with {node.process.returncode} while starting:\n"
                        f"{node.log_tail()}"
                    )
            if _joined_nodes(nodes[0].url) == size:
                break
            if time.monotonic() > deadline:
                raise NodeError(f"the cluster did not form after {timeout_s:.0f}s:\n{nodes[0].log_tail()}")
            time.sleep(0.5)
    except BaseException:
        for node in nodes:
            node.stop()
        raise
    cluster.start_seconds = time.monotonic() - started
    for node in nodes:
        node.start_seconds = cluster.start_seconds
    logger.info(
        "opensearch cluster started",
        extra={"nodes": size, "urls": cluster.urls, "start_s": round(cluster.start_seconds, 1)},
    )
    return cluster


def _joined_nodes(url: str) -> int:
    try:
        with urllib.request.urlopen(f"{url}/_cluster/health?timeout=1s", timeout=5) as response:
            body: dict[str, object] = json.loads(response.read())
            count = body.get("number_of_nodes")
            return count if isinstance(count, int) else 0
    except (urllib.error.URLError, OSError, ValueError):
        return 0


def _main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("fetch", help="download, verify and unpack OpenSearch and the k-NN plugin")
    start = sub.add_parser("start", help="start a node (or --nodes N) and keep it running until interrupted")
    start.add_argument("--heap", default=DEFAULT_HEAP)
    start.add_argument("--nodes", type=int, default=1, help="nodes of one cluster on loopback (default 1)")
    run = sub.add_parser("run", help=f"start a node, run a command with {URL_ENV} set, stop the node")
    run.add_argument("--heap", default=DEFAULT_HEAP)
    run.add_argument("--nodes", type=int, default=1, help="nodes of one cluster on loopback (default 1)")
    run.add_argument("argv", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")

    if args.command == "fetch":
        began = time.monotonic()
        home = fetch()
        print(
            json.dumps(
                {
                    "home": str(home),
                    "version": OPENSEARCH_VERSION,
                    "seconds": round(time.monotonic() - began, 1),
                }
            )
        )
        return 0
    if args.command == "start":
        with _start(args.nodes, args.heap) as cluster:
            print(
                json.dumps(
                    {
                        "url": cluster.url,
                        "pid": cluster.nodes[0].process.pid,
                        "pids": [node.process.pid for node in cluster.nodes],
                        "start_s": round(cluster.start_seconds, 1),
                        "log": str(cluster.nodes[0].log_path),
                    }
                ),
                flush=True,
            )
            stop_requested = False

            def _request_stop(signum: int, frame: object) -> None:
                nonlocal stop_requested
                stop_requested = True

            signal.signal(signal.SIGTERM, _request_stop)
            try:
                while not stop_requested and cluster.alive():
                    time.sleep(0.5)
            except KeyboardInterrupt:
                pass
        return 0
    command = args.argv[1:] if args.argv[:1] == ["--"] else args.argv
    if not command:
        parser.error("run needs a command")
    with _start(args.nodes, args.heap) as cluster:
        env = dict(os.environ)
        env[URL_ENV] = cluster.url
        print(
            json.dumps({"url": cluster.url, "start_s": round(cluster.start_seconds, 1)}),
            file=sys.stderr,
            flush=True,
        )
        return subprocess.run(command, env=env, check=False).returncode


def _start(nodes: int, heap: str) -> RunningCluster:
    if nodes > 1:
        return start_cluster(nodes, heap=heap)
    node = start_node(heap=heap)
    return RunningCluster("rekognito-test", [node], node.start_seconds)


if __name__ == "__main__":
    sys.exit(_main())
