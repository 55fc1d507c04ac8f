"""In-process Lambda functions: a deployed function's handler run in this process, as its role."""

from __future__ import annotations

import contextlib
import importlib
import os
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any, Final

from local_mode.checks.role_calls import RoleCalls
from local_mode.cloud.moto_hooks import TaskContext, TaskError


@dataclass
class LambdaContext:
    """The parts of the Lambda runtime's context object handlers use."""

    function_name: str
    invoked_function_arn: str
    memory_limit_in_mb: int
    timeout_seconds: float
    task: TaskContext | None = None
    function_version: str = "$LATEST"
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    started: float = field(default_factory=time.monotonic)
    identity: Any = None
    client_context: Any = None

    @property
    def log_group_name(self) -> str:
        return f"/aws/lambda/{self.function_name}"

    @property
    def log_stream_name(self) -> str:
        return f"local/[$LATEST]{self.aws_request_id.replace('-', '')}"

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self.timeout_seconds - (time.monotonic() - self.started)) * 1000))


# Lambda handlers share this process: their environment variables and import roots are swapped in
# for the duration of each invocation, so invocations are serialised.
_LAMBDA_LOCK: Final = threading.RLock()


class LocalLambda:
    """One Python Lambda function run in process from its code directory.

    `role`: the function's execution role session (`role_calls.RoleCalls`, session name = the
    function's name). Every client the handler creates while it runs (at import too) then has
    each call authorized as the role, as AWS authorizes a request signed with the credentials
    Lambda gives the function; None: calls are not checked.
    """

    def __init__(
        self,
        *,
        name: str,
        arn: str,
        code_dir: Path,
        handler: str,
        environment: Mapping[str, str],
        timeout: float = 3.0,
        memory: int = 128,
        role: RoleCalls | None = None,
    ) -> None:
        self.name = name
        self.arn = arn
        self.code_dir = code_dir
        self.handler_name = handler
        self.environment = dict(environment)
        self.timeout = timeout
        self.memory = memory
        self.role = role
        self._function: Callable[[Any, Any], Any] | None = None
        self._modules: dict[str, ModuleType] = {}

    def __call__(self, event: Any, task: TaskContext) -> Any:
        context = LambdaContext(self.name, self.arn, self.memory, self.timeout, task=task)
        with _LAMBDA_LOCK, self._sandbox(), self._acting_as_role():
            return self._load()(event, context)

    def _acting_as_role(self) -> contextlib.AbstractContextManager[Any]:
        """This invocation's thread creates clients that act as the role (a fresh policy snapshot)."""
        return self.role.acting() if self.role is not None else contextlib.nullcontext()

    def _load(self) -> Callable[[Any, Any], Any]:
        if self._function is None:
            module_name, _, function = self.handler_name.rpartition(".")
            try:
                module = importlib.import_module(module_name)
            except Exception as exc:  # the Lambda runtime reports import failures this way
                raise TaskError(
                    "Runtime.ImportModuleError", f"Unable to import module '{module_name}': {exc}"
                ) from exc
            names = self._top_level_names()
            self._modules = {
                n: m for n, m in sys.modules.items() if n.split(".")[0] in names and self._is_local(m)
            }
            if not callable(getattr(module, function, None)):
                raise TaskError(
                    "Runtime.HandlerNotFound", f"Handler '{function}' missing on module '{module_name}'"
                )
            self._function = getattr(module, function)
        return self._function

    def _is_local(self, module: ModuleType | None) -> bool:
        origin = getattr(module, "__file__", None) or ""
        return bool(origin) and Path(origin).resolve().is_relative_to(self.code_dir.resolve())

    def _top_level_names(self) -> set[str]:
        return {p.stem for p in self.code_dir.glob("*.py")} | {
            p.name for p in self.code_dir.iterdir() if p.is_dir() and (p / "__init__.py").exists()
        }

    @contextlib.contextmanager
    def _sandbox(self) -> Iterator[None]:
        """This function's environment, import root and modules, as in its own Lambda sandbox."""
        names = self._top_level_names()
        shadowed = {n: m for n, m in sys.modules.items() if n.split(".")[0] in names}
        for name in shadowed:
            del sys.modules[name]
        sys.modules.update(self._modules)
        saved_env = {key: os.environ.get(key) for key in self.environment}
        os.environ.update(self.environment)
        sys.path.insert(0, str(self.code_dir))
        importlib.invalidate_caches()
        try:
            yield
        finally:
            sys.path.remove(str(self.code_dir))
            for key, value in saved_env.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value
            for name in [n for n in sys.modules if n.split(".")[0] in names]:
                del sys.modules[name]
            sys.modules.update(shadowed)
