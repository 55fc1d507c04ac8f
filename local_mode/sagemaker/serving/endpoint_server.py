"""SageMaker real-time endpoints on 127.0.0.1, with the SageMaker Runtime REST paths.

``POST /endpoints/<name>/invocations`` is exactly the path (and header set) of the
``sagemaker-runtime`` ``InvokeEndpoint`` API, so ``boto3.client("sagemaker-runtime",
endpoint_url=server.url)`` talks to it directly; errors come back in that API's rest-json
shape (``x-amzn-ErrorType``): ``ValidationError`` for an unknown endpoint, ``ModelError``
(HTTP 424, with ``OriginalStatusCode``/``OriginalMessage``) when the container answers an
error. ``GET /endpoints/<name>/ping`` is the container's health check.

UpdateEndpoint swaps the container an endpoint name points to in one assignment: a request
picks its container when it starts, so requests in flight finish on the old model while new
ones go to the new model, and none is dropped.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote

from local_mode.sagemaker.serving.tfs_emulation import TfsContainer

_CUSTOM_ATTRIBUTES = "X-Amzn-SageMaker-Custom-Attributes"
LOG = logging.getLogger(__name__)
# (request body, its content type, response body, its content type): the endpoint's data capture.
Capture = Callable[[bytes, str | None, bytes, str | None], None]


@dataclass(frozen=True)
class ServedModel:
    container: TfsContainer
    variant_name: str
    capture: Capture | None = None


class EndpointServer:
    """A threading HTTP server for every InService endpoint; ``close()`` (or ``with``) stops it."""

    def __init__(self, *, account_id: str = "123456789012", host: str = "127.0.0.1", port: int = 0) -> None:
        self.account_id = account_id
        self._served: dict[str, ServedModel] = {}
        self._lock = threading.Lock()
        self._httpd = ThreadingHTTPServer((host, port), _handler_class(self))
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="endpoint-server", daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    def endpoint_url(self, endpoint_name: str) -> str:
        return f"{self.url}/endpoints/{endpoint_name}"

    def serve(self, endpoint_name: str, model: ServedModel) -> None:
        """Route the endpoint to ``model`` (atomically replacing what it served before)."""
        with self._lock:
            self._served[endpoint_name] = model

    def withdraw(self, endpoint_name: str) -> None:
        with self._lock:
            self._served.pop(endpoint_name, None)

    def lookup(self, endpoint_name: str) -> ServedModel | None:
        with self._lock:
            return self._served.get(endpoint_name)

    def close(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> EndpointServer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _handler_class(server: EndpointServer) -> type[BaseHTTPRequestHandler]:
    class Handler(_EndpointHandler):
        endpoints = server

    return Handler


class _EndpointHandler(BaseHTTPRequestHandler):
    endpoints: EndpointServer
    protocol_version = "HTTP/1.1"  # keep-alive, as boto3's connection pool expects

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: a hammering test would otherwise print a line per request."""

    def _route(self, action: str) -> str | None:
        parts = self.path.split("?", 1)[0].strip("/").split("/")
        if len(parts) == 3 and parts[0] == "endpoints" and parts[2] == action:
            return unquote(parts[1])
        return None

    def do_GET(self) -> None:
        name = self._route("ping")
        if name is None:
            self._send(HTTPStatus.NOT_FOUND, b"", "text/plain")
            return
        served = self.endpoints.lookup(name)
        status = (
            HTTPStatus.OK if served is not None and served.container.ping() == 200 else HTTPStatus.NOT_FOUND
        )
        self._send(status, b"", "text/plain")

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        name = self._route("invocations")
        if name is None:
            self._error(
                HTTPStatus.NOT_FOUND, "UnknownOperationException", {"message": f"No route for {self.path}"}
            )
            return
        served = self.endpoints.lookup(name)  # taken once: an update cannot change it under this request
        if served is None:
            message = f"Endpoint {name} of account {self.endpoints.account_id} not found."
            self._error(HTTPStatus.BAD_REQUEST, "ValidationError", {"message": message})
            return
        response = served.container.invocations(
            body,
            self.headers.get("Content-Type"),
            self.headers.get("Accept"),
            self.headers.get(_CUSTOM_ATTRIBUTES),
        )
        if response.status != 200:
            original = response.body.decode("utf-8", "replace")
            kind = "client" if response.status < 500 else "server"
            message = (
                f'Received {kind} error ({response.status}) from primary with message "{original}". '
                "See the local endpoint log for more information."
            )
            details = {"message": message, "OriginalStatusCode": response.status, "OriginalMessage": original}
            self._error(HTTPStatus.FAILED_DEPENDENCY, "ModelError", details)
            return
        self._send(
            HTTPStatus.OK,
            response.body,
            response.content_type,
            {"x-Amzn-Invoked-Production-Variant": served.variant_name},
        )
        if served.capture is not None:  # after answering: capture never delays or fails a request
            try:
                served.capture(body, self.headers.get("Content-Type"), response.body, response.content_type)
            except Exception:
                LOG.warning("data capture of endpoint %s failed", name, exc_info=True)

    def _error(self, status: HTTPStatus, code: str, details: dict[str, Any]) -> None:
        """The rest-json error botocore parses: code in ``x-amzn-ErrorType``, members in the body."""
        self._send(status, json.dumps(details).encode(), "application/json", {"x-amzn-ErrorType": code})

    def _send(
        self, status: HTTPStatus, body: bytes, content_type: str, headers: dict[str, str] | None = None
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(body)
