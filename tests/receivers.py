"""A real HTTP server on loopback that records the JSON posted to it (webhooks, triggers)."""

from __future__ import annotations

import importlib.util
import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import ModuleType


class Receiver:
    """Answers every POST with ``status`` and keeps each JSON body, in order."""

    def __init__(self, status: int = 200, path: str = "/hook", body: bytes = b"") -> None:
        self.bodies: list[dict] = []
        self.headers: list[dict[str, str]] = []
        self.paths: list[str] = []
        self.status = status
        self.body = body
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server naming
                length = int(self.headers.get("Content-Length", 0))
                outer.headers.append(dict(self.headers.items()))
                outer.paths.append(self.path)
                outer.bodies.append(json.loads(self.rfile.read(length)))
                self.send_response(outer.status)
                self.send_header("Content-Length", str(len(outer.body)))
                self.end_headers()
                self.wfile.write(outer.body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}{path}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def plugin_test_module(plugin: str, name: str) -> ModuleType:
    """A helper module of a plugin's own tests (``plugins/<plugin>/tests/<name>.py``), such as
    the PagerDuty and Slack stand-ins that check every request against the published format.

    The plugin tests import these as top-level modules; the core tests load the same files
    under the same names, so both share one copy.
    """
    if name in sys.modules:
        return sys.modules[name]
    path = Path(__file__).resolve().parent.parent / "plugins" / plugin / "tests" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"no test helper {name!r} at {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module
