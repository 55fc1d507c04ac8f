"""SageMaker's tagging API in the local SageMaker: tags given at creation, AddTags, ListTags, DeleteTags.

``TaggingApi`` is a part of ``LocalSageMaker`` (a mixin, like ``HostingApi``). A Create* request's
``Tags`` are recorded on the ARN its response names (``api.api_operation`` calls ``tag_created``),
as SageMaker tags a resource it creates; what the tags say is read back with ListTags (the
operator CLI's `costs --by model|run` does). A tag key is set once per resource: a later value
replaces the earlier one. Limits are SageMaker's (API reference, AddTags): at most 50 tags per
resource.
"""

from __future__ import annotations

import threading
from typing import Any

from local_mode.sagemaker.api import Request
from local_mode.sagemaker.api import api_operation as _api
from local_mode.sagemaker.shapes import SageMakerApiError

MAX_TAGS_PER_RESOURCE = 50


class TaggingApi:
    """AddTags, ListTags, DeleteTags (see ``LocalSageMaker``)."""

    _lock: threading.RLock
    _tags: dict[str, dict[str, str]]  # ARN -> key -> value; created by LocalSageMaker.__init__

    def tag_created(self, operation: str, response: dict[str, Any], tags: list[dict[str, str]]) -> None:
        """Record a Create<Thing> request's tags on the `<Thing>Arn` of its response."""
        arn = response.get(operation.removeprefix("Create") + "Arn")
        if isinstance(arn, str):
            self._set_tags(arn, tags)

    def _set_tags(self, arn: str, tags: list[dict[str, str]]) -> None:
        with self._lock:
            current = dict(self._tags.get(arn, {}))
            current.update({tag["Key"]: tag["Value"] for tag in tags})
            if len(current) > MAX_TAGS_PER_RESOURCE:
                raise SageMakerApiError(
                    "ValidationException",
                    f"Resource {arn} would have {len(current)} tags; "
                    f"at most {MAX_TAGS_PER_RESOURCE} are allowed.",
                )
            self._tags[arn] = current

    @_api("AddTags")
    def add_tags(self, request: Request) -> dict[str, Any]:
        self._set_tags(request["ResourceArn"], request["Tags"])
        return {"Tags": request["Tags"]}

    @_api("ListTags")
    def list_tags(self, request: Request) -> dict[str, Any]:
        with self._lock:
            tags = self._tags.get(request["ResourceArn"], {})
            return {"Tags": [{"Key": key, "Value": value} for key, value in tags.items()]}

    @_api("DeleteTags")
    def delete_tags(self, request: Request) -> dict[str, Any]:
        with self._lock:
            tags = self._tags.get(request["ResourceArn"], {})
            for key in request["TagKeys"]:
                tags.pop(key, None)
        return {}
