"""Free TCP ports on the loopback interface."""

import socket

from loadtests.errors import SuiteError

LOOPBACK = "127.0.0.1"


def is_free(port: int, host: str = LOOPBACK) -> bool:
    """True if a server could listen on ``port``. SO_REUSEADDR, as PostgreSQL, gunicorn and
    uvicorn set it: connections in TIME_WAIT do not block a listener, a listener does."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def free_port(host: str = LOOPBACK) -> int:
    """A port nothing listens on right now (the caller still has to handle a race)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def check_port(port: int, what: str, host: str = LOOPBACK) -> int:
    """Return ``port`` if it is usable, else raise a one-line SuiteError."""
    if not 1 <= port <= 65535:
        raise SuiteError(f"{what}: port {port} is not between 1 and 65535")
    if not is_free(port, host):
        raise SuiteError(f"{what}: port {port} on {host} is already in use")
    return port


def parse_address(text: str, what: str) -> tuple[str, int]:
    """``HOST:PORT`` -> (host, port), or a one-line SuiteError naming the option."""
    host, sep, port = text.strip().rpartition(":")
    if not sep or not host or not port.isdigit():
        raise SuiteError(f"{what} must be HOST:PORT (e.g. 127.0.0.1:5557), got '{text}'")
    if not 1 <= int(port) <= 65535:
        raise SuiteError(f"{what}: port {port} is not between 1 and 65535")
    return host.strip("[]"), int(port)
