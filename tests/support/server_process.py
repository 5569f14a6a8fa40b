"""``rekognito serve`` as a child process, for load, crash and memory runs.

Unlike :func:`tests.support.endpoint.running_endpoint`, the server runs in its own process,
so it can be killed with SIGKILL mid-write and its memory measured on its own.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType
from typing import IO, Any

from tests.support.workload import make_client

STARTUP_TIMEOUT_S = 180.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _command() -> list[str]:
    script = Path(sys.executable).parent / "rekognito"
    if script.is_file():
        return [str(script)]
    return [sys.executable, "-m", "rekognito.cli"]


class ServerProcess:
    """One ``rekognito serve --insecure-no-auth --no-local-aws`` on a free loopback port."""

    def __init__(
        self,
        data_dir: Path,
        *,
        env: dict[str, str] | None = None,
        log_path: Path | None = None,
        local_aws: tuple[str, ...] = ("--no-local-aws",),
        port: int | None = None,
    ) -> None:
        self.data_dir = data_dir
        self.port = port or free_port()
        self.local_aws = local_aws
        self.env = {**os.environ, "REKOGNITO_AUDIT": "off", "REKOGNITO_LOG_LEVEL": "WARNING", **(env or {})}
        self.log_path = log_path or data_dir.parent / f"serve-{self.port}.log"
        self.process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def start(self, timeout: float = STARTUP_TIMEOUT_S) -> ServerProcess:
        self.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)  # serve refuses a looser one
        self._log = self.log_path.open("ab")
        command = [
            *_command(),
            "serve",
            "--insecure-no-auth",
            *self.local_aws,
            "--port",
            str(self.port),
            "--data-dir",
            str(self.data_dir),
        ]
        self.process = subprocess.Popen(command, env=self.env, stdout=self._log, stderr=subprocess.STDOUT)
        self._wait_ready(timeout)
        return self

    def _wait_ready(self, timeout: float) -> None:
        client = make_client(self.url, connect_timeout=2, read_timeout=30)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(
                    f"rekognito serve exited with {self.process.returncode}; see {self.log_path}"
                )
            try:
                client.list_collections()
                return
            except Exception:
                time.sleep(0.2)
        self.kill()
        raise TimeoutError(f"rekognito serve did not answer within {timeout:.0f}s; see {self.log_path}")

    def kill(self) -> None:
        """SIGKILL: no shutdown code runs, as in a power cut of the process."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=30)
        self._close_log()

    def stop(self, timeout: float = 30.0) -> int:
        """SIGTERM and wait; SIGKILL if it does not exit in time. Returns the exit code."""
        if self.process is None:
            return 0
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.kill()
        self._close_log()
        return int(self.process.returncode or 0)

    def _close_log(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None

    def rss_bytes(self) -> int:
        """Resident memory of the server process (VmRSS), 0 once it is gone."""
        try:
            for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
        except OSError:
            return 0
        return 0

    def client(self, **options: Any) -> Any:
        return make_client(self.url, **options)

    def __enter__(self) -> ServerProcess:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
