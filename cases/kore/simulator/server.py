"""The simulator as a standalone HTTP server on loopback (threads, HTTP/1.1 keep-alive)."""

from __future__ import annotations

import ipaddress
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from cases.kore.simulator.core import Simulator

MAX_BODY = 1024 * 1024


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "KoreSimulator/1.0"
    simulator: Simulator

    def setup(self) -> None:
        super().setup()
        # Answer in one segment without waiting on the client's delayed ACK (Nagle), which
        # would hold every answer back by the ACK delay on loopback.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            self.send_error(413)
            return
        body = self.rfile.read(length) if length else b""
        response = self.server.simulator.handle(self.command, self.path, dict(self.headers.items()), body)
        if response.action == "drop":
            # Close without a byte of answer: what a crashed proxy or a cut line looks like.
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return
        self.send_response(response.status)
        for name, value in response.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(response.body)))
        # Headers and body leave in one write.
        self._headers_buffer.append(b"\r\n" + response.body)
        self.flush_headers()

    do_POST = do_GET = do_PUT = do_DELETE = _serve

    def log_message(self, format, *args) -> None:  # noqa: A002 - the stdlib's signature
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 256


class SimulatorServer:
    """Serves a Simulator in a background thread: ``with SimulatorServer(sim) as server: server.url``."""

    def __init__(
        self, simulator: Simulator, host: str = "127.0.0.1", port: int = 0, *, allow_public: bool = False
    ):
        if not allow_public and not ipaddress.ip_address(host).is_loopback:
            raise ValueError("The simulator binds to loopback only unless allow_public=True.")
        self.simulator = simulator
        self.httpd = _Server((host, port), _Handler)
        self.httpd.simulator = simulator
        bound_host, bound_port = self.httpd.server_address[:2]
        self.url = f"http://{bound_host}:{bound_port}"
        simulator.url = self.url
        self._thread: threading.Thread | None = None

    def start(self) -> SimulatorServer:
        self._thread = threading.Thread(target=self.httpd.serve_forever, name="kore-simulator", daemon=True)
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        self.httpd.serve_forever()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        if self._thread:
            self._thread.join(timeout=5)

    def __enter__(self) -> SimulatorServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
