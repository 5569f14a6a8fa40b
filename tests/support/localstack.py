"""LocalStack on the host, without Docker: installed from PyPI into its own venv, started on a free port.

LocalStack runs on CPython 3.13 here (``localstack-core`` from PyPI, the versions pinned in
``requirements/localstack.txt``); its S3 and SQS (and S3 -> SQS notifications) work
offline. The venv is cached under ``.cache/localstack/`` (keyed by the requirements file),
so only the first run pays for the install.

    python tests/support/localstack.py install        # create the venv (or check it)
    python tests/support/localstack.py run [PORT]     # LocalStack in the foreground

A Python 3.13 is looked for in ``REKOGNITO_LOCALSTACK_PYTHON``, then ``python3.13`` on PATH,
then pyenv's versions; :class:`NoPython313` says so when there is none.
"""

from __future__ import annotations

import glob
import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
REQUIREMENTS = ROOT / "requirements" / "localstack.txt"
CACHE = ROOT / ".cache" / "localstack"
PYTHON_ENV = "REKOGNITO_LOCALSTACK_PYTHON"
SERVICES = ("s3", "sqs")
START_TIMEOUT_S = 120.0


class NoPython313(RuntimeError):
    """No CPython 3.13 interpreter on this machine: LocalStack cannot run on the host."""


def _is_python313(candidate: str) -> bool:
    """Whether ``candidate`` runs as CPython 3.13 (a pyenv shim may exist and still fail)."""
    try:
        done = subprocess.run(
            [candidate, "-c", "import sys; print(sys.implementation.name, *sys.version_info[:2])"],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    except OSError:
        return False
    return done.returncode == 0 and done.stdout.split() == ["cpython", "3", "13"]


def find_python313() -> str:
    pyenv_root = os.environ.get("PYENV_ROOT") or os.path.expanduser("~/.pyenv")
    candidates = [
        os.environ.get(PYTHON_ENV) or "",
        *sorted(glob.glob(os.path.join(pyenv_root, "versions", "3.13*", "bin", "python3.13")), reverse=True),
        shutil.which("python3.13") or "",
    ]
    for candidate in candidates:
        if candidate and os.access(candidate, os.X_OK) and _is_python313(candidate):
            return candidate
    raise NoPython313(
        f"no CPython 3.13 found (set {PYTHON_ENV}, put python3.13 on PATH or install one with pyenv)"
    )


def venv_dir() -> Path:
    digest = hashlib.sha256(REQUIREMENTS.read_bytes()).hexdigest()[:12]
    return CACHE / f"venv-{digest}"


def install(quiet: bool = True) -> Path:
    """The venv's python, installing the pinned LocalStack first if the cache lacks it."""
    venv = venv_dir()
    python = venv / "bin" / "python"
    stamp = venv / ".installed"
    if stamp.is_file():
        return python
    interpreter = find_python313()
    shutil.rmtree(venv, ignore_errors=True)
    venv.parent.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    subprocess.run([interpreter, "-m", "venv", str(venv)], check=True)
    pip = [str(python), "-m", "pip", "install", "--disable-pip-version-check", "--no-input"]
    subprocess.run(
        [*pip, *(["--quiet"] if quiet else []), "--no-deps", "-r", str(REQUIREMENTS)],
        check=True,
    )
    stamp.write_text(json.dumps({"seconds": round(time.monotonic() - started, 1), "python": interpreter}))
    return python


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def environment(port: int, root: Path) -> dict[str, str]:
    """LocalStack's settings for a private host-mode instance on ``127.0.0.1:port``."""
    keep = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR")
    return {
        **{name: os.environ[name] for name in keep if name in os.environ},
        "GATEWAY_LISTEN": f"127.0.0.1:{port}",
        "LOCALSTACK_HOST": f"127.0.0.1:{port}",
        "SERVICES": ",".join(SERVICES),
        "EAGER_SERVICE_LOADING": "1",
        # Everything it writes stays under root (it would pick /var/lib/localstack inside a
        # container-like machine), and it reaches nothing outside this machine.
        "OVERRIDE_IN_DOCKER": "0",
        "FILESYSTEM_ROOT": str(root),
        "DNS_ADDRESS": "0",
        "DISABLE_EVENTS": "1",
        "SKIP_SSL_CERT_DOWNLOAD": "1",
        "SQS_ENDPOINT_STRATEGY": "path",
    }


@dataclass
class RunningLocalStack:
    url: str
    process: subprocess.Popen[bytes]
    log_path: Path

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:  # a throwaway instance: its state need not be saved, so no long grace
                self.process.wait(timeout=2)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=20)


def _ready(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/_localstack/health", timeout=2) as response:
            states = json.loads(response.read())["services"]
    except (OSError, ValueError, KeyError):
        return False
    return all(states.get(name) in ("available", "running") for name in SERVICES)


def start(root: Path, port: int | None = None) -> RunningLocalStack:
    """Start LocalStack (S3, SQS) on a free loopback port, files under ``root``; wait until ready."""
    python = install()
    port = port or free_port()
    root.mkdir(parents=True, exist_ok=True)
    log_path = root / "localstack.log"
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            [str(python), "-m", "localstack.runtime.main"],
            env=environment(port, root / "filesystem"),
            cwd=root,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: stop() ends it and its children
        )
    running = RunningLocalStack(f"http://127.0.0.1:{port}", process, log_path)
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"LocalStack exited with {process.returncode}; see {log_path}")
        if _ready(running.url):
            return running
        time.sleep(0.3)
    running.stop()
    raise TimeoutError(f"LocalStack was not ready within {START_TIMEOUT_S:.0f} s; see {log_path}")


def main(argv: list[str]) -> int:
    command = argv[0] if argv else "install"
    if command == "install":
        print(install(quiet=False))
        return 0
    if command == "run":
        port = int(argv[1]) if len(argv) > 1 else 4566
        running = start(CACHE / "run", port)
        print(f"LocalStack (S3, SQS) on {running.url}; Ctrl-C stops it", file=sys.stderr)
        try:
            running.process.wait()
        except KeyboardInterrupt:
            running.stop()
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
