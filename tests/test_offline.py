"""The suite itself is offline: anything but loopback fails loudly (pytest-socket)."""

from __future__ import annotations

import socket

import pytest
from pytest_socket import SocketConnectBlockedError


@pytest.mark.filterwarnings("ignore:A test tried to use socket")
def test_the_network_is_closed_to_tests() -> None:
    with pytest.raises(SocketConnectBlockedError):
        socket.create_connection(("203.0.113.10", 443), timeout=1)


def test_loopback_stays_open() -> None:
    server = socket.create_server(("127.0.0.1", 0))
    with server, socket.create_connection(server.getsockname(), timeout=1):
        pass
