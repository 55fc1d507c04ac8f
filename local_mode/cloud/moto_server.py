"""The moto server local mode runs: moto in a thread on 127.0.0.1, with its fake credentials and account."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import threading
from collections.abc import Mapping
from types import TracebackType
from typing import Any, Final
from urllib import request as urllib_request

import boto3
from botocore.client import BaseClient
from botocore.config import Config

FAKE_CREDENTIALS: Final = {
    "aws_access_key_id": "testing",
    "aws_secret_access_key": "testing",
    "aws_session_token": "testing",
}
# moto's default account (what STS answers the CDK CLI) and the region local mode runs in.
ACCOUNT_ID: Final = "123456789012"
DEFAULT_REGION: Final = "us-east-1"


class MotoServer:
    """moto in a thread on 127.0.0.1 (free port), executing state machines for real.

    Sets MOTO_PORT for the lifetime of the server: moto's Step Functions interpreter calls the
    other services at localhost:$MOTO_PORT.
    """

    def __init__(self, region: str = DEFAULT_REGION) -> None:
        self.region = region
        self.endpoint_url = ""
        self._server: Any = None
        self._saved_port: str | None = None
        self._clients: dict[str, BaseClient] = {}
        self._clients_lock = threading.Lock()

    def start(self) -> MotoServer:
        from moto.server import ThreadedMotoServer  # imported late: pulls in Flask and every backend

        logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one log line per request otherwise
        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        self._server.start()
        _, port = self._server.get_host_and_port()
        self.endpoint_url = f"http://127.0.0.1:{port}"
        self._saved_port = os.environ.get("MOTO_PORT")
        os.environ["MOTO_PORT"] = str(port)
        self.reset()
        self._post(
            "/moto-api/config",
            {
                "stepfunctions": {"execute_state_machine": True},
                "lambda": {"use_docker": False},
                "batch": {"use_docker": False},
            },
        )
        return self

    def stop(self) -> None:
        if self._server is None:
            return
        with contextlib.suppress(OSError):
            self._post("/moto-api/config", {"stepfunctions": {"execute_state_machine": False}})
            self.reset()
        self._server.stop()
        self._server = None
        self._clients.clear()
        if self._saved_port is None:
            os.environ.pop("MOTO_PORT", None)
        else:
            os.environ["MOTO_PORT"] = self._saved_port

    def reset(self) -> None:
        """Forget every resource (moto's backends are process-global)."""
        self._post("/moto-api/reset", {})

    def client(self, service_name: str) -> BaseClient:
        """A boto3 client bound to this server, with fake credentials (cached per service)."""
        with self._clients_lock:
            if service_name not in self._clients:
                self._clients[service_name] = boto3.session.Session(**FAKE_CREDENTIALS).client(
                    service_name,
                    region_name=self.region,
                    endpoint_url=self.endpoint_url,
                    config=Config(retries={"max_attempts": 2, "mode": "standard"}),
                )
            return self._clients[service_name]

    def _post(self, path: str, body: Mapping[str, Any]) -> None:
        data = json.dumps(body).encode()
        req = urllib_request.Request(
            self.endpoint_url + path, data=data, method="POST", headers={"Content-Type": "application/json"}
        )
        with urllib_request.urlopen(req, timeout=30) as response:
            response.read()

    def __enter__(self) -> MotoServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
