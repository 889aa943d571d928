"""A login endpoint that never answers fails with a timeout instead of hanging the run."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import pytest

from leadconvert import Registry, TransportError


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A TCP port that accepts connections and never says a word."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.1)
        while not stop.is_set():
            try:
                held.append(server.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield server.getsockname()[1]
    stop.set()
    thread.join()
    for conn in held:
        conn.close()
    server.close()


class TestSalesforceLoginTimeout:
    def test_silent_login_times_out(self, registry: Registry, silent_port: int) -> None:
        """simple-salesforce's login has no timeout of its own; ours bounds it."""
        backend = registry.get("salesforce")
        start = time.monotonic()
        with pytest.raises(TransportError):
            backend.connect(
                {
                    "username": "u@example.com",
                    "password": "p",
                    "security_token": "t",
                    "domain": f"127.0.0.1:{silent_port}/login",
                },
                {"timeout": "0.5"},
            )
        assert time.monotonic() - start < 10
