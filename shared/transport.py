"""How the daemon's two sockets are secured on the wire: ZeroMQ CURVE encryption.

Messages are signed (shared/protocol.py) but signing hides nothing: without encryption any process
that reaches the ports reads every event (run folders, file names, metrics). With CURVE the daemon
holds a key pair made at start; its public key is written only into the 0600 connection file, and a
peer must know it to complete the handshake, so a socket opened without the connection file neither
reads events nor gets answers. Clients make a throwaway key pair per socket.
"""
from __future__ import annotations

import zmq

CURVE_KEY_FIELD = "curve_server_key"  # in the connection file: the daemon's public key (Z85)


def curve_available() -> bool:
    return bool(zmq.has("curve"))


class ServerKeys:
    """The daemon's CURVE key pair for one run (never written to disk but the public half)."""

    def __init__(self) -> None:
        self.public, self.secret = zmq.curve_keypair()

    def secure(self, sock: zmq.Socket) -> None:
        sock.curve_secretkey = self.secret
        sock.curve_publickey = self.public
        sock.curve_server = True

    def connection_fields(self) -> dict:
        return {CURVE_KEY_FIELD: self.public.decode("ascii")}


def connect(context: zmq.Context, kind: int, info: dict, port_key: str) -> zmq.Socket:
    """A socket of `kind` connected to the daemon that `info` (its connection file) describes,
    encrypted when the daemon encrypts."""
    sock = context.socket(kind)
    sock.setsockopt(zmq.LINGER, 0)
    if ":" in info["host"]:
        sock.setsockopt(zmq.IPV6, 1)
    server_key = info.get(CURVE_KEY_FIELD)
    if server_key:
        sock.curve_serverkey = server_key.encode("ascii")
        sock.curve_publickey, sock.curve_secretkey = zmq.curve_keypair()
    sock.connect(address(info, port_key))
    return sock


def address(info: dict, port_key: str) -> str:
    host = info["host"]
    host = "127.0.0.1" if host in ("localhost", "0.0.0.0") else host
    host = f"[{host}]" if ":" in host else host
    return f"tcp://{host}:{info[port_key]}"
