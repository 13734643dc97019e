"""The listening socket is bound before anything else; a taken address is a clear error naming ``bind``."""

from __future__ import annotations

import socket

import pytest

from moroccron.api.server import bind_listener
from moroccron.errors import ValidationError


def test_a_taken_address_is_refused_naming_bind():
    first = bind_listener("127.0.0.1:0")
    try:
        port = first.getsockname()[1]
        with pytest.raises(ValidationError) as caught:
            bind_listener(f"127.0.0.1:{port}")
        error = caught.value.errors[0]
        assert error.field == "bind" and error.value == f"127.0.0.1:{port}"
        assert "address already in use" in str(caught.value)
    finally:
        first.close()


def test_the_listener_accepts_connections_before_any_server_runs():
    listener = bind_listener("127.0.0.1:0")
    try:
        with socket.create_connection(listener.getsockname(), timeout=5):
            pass  # queued in the backlog: clients are not refused while start-up goes on
    finally:
        listener.close()


def test_an_address_of_another_machine_is_refused():
    with pytest.raises(ValidationError) as caught:
        bind_listener("192.0.2.1:4400")  # TEST-NET-1: never an address of this machine
    assert caught.value.errors[0].field == "bind" and "not an address of this machine" in str(caught.value)
