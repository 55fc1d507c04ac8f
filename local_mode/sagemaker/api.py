"""The local SageMaker's API layer: an operation validates its request once, then records it.

``api_operation`` marks a method as the API operation it implements; ``operation_methods`` lists a
class's operations (``dispatch`` calls them by API name).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from typing import Any

from local_mode.sagemaker.shapes import validate_request

Request = dict[str, Any]
_Method = Callable[[Any, Request], dict[str, Any]]
_Operation = Callable[..., dict[str, Any]]  # called with the request, or none (List*)


def api_operation(operation: str, *rules: Callable[[Request], None]) -> Callable[[_Method], _Operation]:
    """An API operation: the one place its request is validated (botocore's model, then ``rules``).

    Requests that change something (not Describe*/List*) and succeed are kept in ``self.requests``.
    """

    def decorate(method: _Method) -> _Operation:
        @functools.wraps(method)
        def call(self: Any, request: Request | None = None) -> dict[str, Any]:
            request = {} if request is None else request
            validate_request(operation, request)
            for rule in rules:
                rule(request)
            response = method(self, request)
            if operation.startswith("Create") and request.get("Tags"):  # SageMaker tags what it creates
                self.tag_created(operation, response, request["Tags"])
            if not operation.startswith(("Describe", "List")):
                with self._lock:
                    self.requests.append((operation, json.loads(json.dumps(request, default=str))))
            return response

        call.api_operation = operation  # type: ignore[attr-defined]
        return call

    return decorate


def operation_methods(cls: type) -> frozenset[str]:
    """The names of ``cls``'s methods (inherited ones included) that are API operations."""
    return frozenset(name for name in dir(cls) if hasattr(getattr(cls, name, None), "api_operation"))
