"""The local SageMaker's API over HTTP, in the SageMaker API's own wire protocol (JSON 1.1).

Local mode serves SageMaker inside the process that runs the workflows; this server lets any
boto3 client (the CLI's `watch`, `costs`, `rollback`) reach it:
`boto3.client("sagemaker", endpoint_url=server.url)`. `python -m local_mode serve` starts one
and writes its URL to session.json as `sagemaker_api_url`.

The backend is `local_mode.sagemaker.local_sagemaker.LocalSageMaker` (its `dispatch`) or any object
with one snake_case method per operation taking and returning the API's PascalCase dicts.
"""

from __future__ import annotations

import json
import re
import threading
from datetime import datetime
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Final

TARGET_PREFIX: Final = "SageMaker."
CONTENT_TYPE: Final = "application/x-amz-json-1.1"


def _wire(value: Any) -> Any:
    """JSON for botocore: timestamps as epoch seconds, which its parser reads back as datetimes."""
    if isinstance(value, datetime):
        return value.timestamp()
    if isinstance(value, dict):
        return {k: _wire(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_wire(v) for v in value]
    return value


def call(backend: Any, operation: str, request: dict[str, Any]) -> dict[str, Any]:
    """`DescribeTrainingJob` → backend.dispatch(...) or backend.describe_training_job(request)."""
    dispatch = getattr(backend, "dispatch", None)
    if callable(dispatch):
        return dict(dispatch(operation, request))
    method = getattr(backend, re.sub(r"(?<!^)(?=[A-Z])", "_", operation).lower(), None)
    if not callable(method):
        raise _ApiError("UnknownOperationException", f"{operation} is not supported by local SageMaker")
    return dict(method(request))


class _ApiError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _handler(backend: Any) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            target = self.headers.get("X-Amz-Target", "")
            length = int(self.headers.get("Content-Length") or 0)
            try:
                request = json.loads(self.rfile.read(length) or b"{}")
                if not target.startswith(TARGET_PREFIX):
                    raise _ApiError("UnknownOperationException", f"not a SageMaker call: {target!r}")
                self._send(HTTPStatus.OK, _wire(call(backend, target[len(TARGET_PREFIX) :], request)))
            except Exception as error:  # the API's error shape: a code the client raises as ClientError
                code = getattr(error, "code", None)
                status = HTTPStatus.BAD_REQUEST if isinstance(code, str) else HTTPStatus.INTERNAL_SERVER_ERROR
                message = getattr(error, "message", None) or str(error)
                self._send(
                    status,
                    {"__type": code if isinstance(code, str) else "InternalFailure", "message": message},
                )

        def _send(self, status: HTTPStatus, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", CONTENT_TYPE)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:  # one line per request otherwise
            return

    return Handler


class SageMakerApiServer:
    """A threaded HTTP server on 127.0.0.1 (free port) for one backend; a context manager."""

    def __init__(self, backend: Any, host: str = "127.0.0.1", port: int = 0) -> None:
        self._httpd = ThreadingHTTPServer((host, port), _handler(backend))
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="sagemaker-api", daemon=True)

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> SageMakerApiServer:
        self._thread.start()
        return self

    def close(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def __enter__(self) -> SageMakerApiServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
