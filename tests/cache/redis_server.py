"""A throwaway redis-server of a test's own, on a free port, to kill and bring back."""

from __future__ import annotations

import socket
import subprocess
import threading
from pathlib import Path

import redis

READY_LINE = "Ready to accept connections"
START_TIMEOUT_SECONDS = 10.0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class RedisServer:
    """``redis-server`` without persistence on ``port``, its working directory ``directory``
    (where :meth:`shutdown_saving` leaves the dump that the next :meth:`start` loads)."""

    def __init__(self, binary: str, port: int, directory: Path) -> None:
        self.binary = binary
        self.port = port
        self.directory = directory
        self.url = f"redis://127.0.0.1:{port}/0"
        self._process: subprocess.Popen[str] | None = None

    def start(self) -> None:
        """Start the server and wait for its ready line (no polling)."""
        process = subprocess.Popen(
            [
                self.binary,
                "--port", str(self.port),
                "--bind", "127.0.0.1",
                "--save", "",
                "--appendonly", "no",
                "--dir", str(self.directory),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )  # fmt: skip
        ready = threading.Event()
        output: list[str] = []

        def drain() -> None:
            assert process.stdout is not None
            for line in process.stdout:
                output.append(line)
                if READY_LINE in line:
                    ready.set()

        threading.Thread(target=drain, daemon=True).start()
        if not ready.wait(START_TIMEOUT_SECONDS):
            process.kill()
            process.wait()
            raise RuntimeError(f"redis-server did not start on {self.port}:\n{''.join(output)}")
        self._process = process

    def client(self) -> redis.Redis:
        return redis.Redis.from_url(self.url)

    def kill(self) -> None:
        """SIGKILL: the data is lost, as in a crash."""
        if self._process is not None:
            self._process.kill()
            self._process.wait()
            self._process = None

    def shutdown_saving(self) -> None:
        """Stop after writing the data to ``directory``, so the next start loads it."""
        assert self._process is not None
        with self.client() as client:
            client.shutdown(save=True)
        self._process.wait()
        self._process = None
