"""One "instance" of a local SageMaker job: a subprocess whose merged output is streamed line by line.

SageMaker stops a job by sending SIGTERM to the container and SIGKILL after a grace period
(120 s on AWS; shorter here so local runs don't hang); the whole process group gets the
signals, as the whole container would.
"""

from __future__ import annotations

import builtins
import contextlib
import datetime as dt
import os
import shlex
import signal
import subprocess
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from local_mode.sagemaker.shapes import utcnow

STOP_GRACE_SECONDS = 10.0
LOG_TAIL_LINES = 20


@dataclass
class HostRun:
    """What one host process produced."""

    host: str
    returncode: int | None = None
    lines: list[tuple[dt.datetime, str]] = field(default_factory=list)

    @property
    def text(self) -> str:
        return "\n".join(line for _, line in self.lines)

    def tail(self, count: int = LOG_TAIL_LINES) -> str:
        return "\n".join(line for _, line in self.lines[-count:])


def run_host(
    cmd: Sequence[str],
    *,
    host: str,
    env: dict[str, str],
    cwd: Path,
    on_line: Callable[[str], None],
    stop: threading.Event,
) -> HostRun:
    """Run ``cmd`` until it exits or ``stop`` is set (then SIGTERM, SIGKILL after the grace period)."""
    run = HostRun(host)
    process = subprocess.Popen(
        list(cmd),
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,  # one stream, like a CloudWatch log stream
        start_new_session=True,  # its own process group: signals reach the script's children too
        text=True,
        errors="replace",
        bufsize=1,
    )

    def pump() -> None:
        assert process.stdout is not None
        for raw in process.stdout:
            line = raw.rstrip("\r\n")
            run.lines.append((utcnow(), line))
            on_line(line)

    reader = threading.Thread(target=pump, name=f"log-{host}", daemon=True)
    reader.start()
    while process.poll() is None:
        if stop.wait(0.05):
            _terminate(process)
            break
    run.returncode = process.wait()
    # The container goes away with its main process: leftover children must not keep the log open.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
    reader.join()
    return run


def _terminate(process: subprocess.Popen[str]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(STOP_GRACE_SECONDS)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)


_ERROR_NAMES = tuple(
    name
    for name, value in vars(builtins).items()
    if isinstance(value, type) and issubclass(value, BaseException)
)


def toolkit_error_message(lines: Sequence[str], returncode: int, command: Sequence[str]) -> str:
    """The failure text sagemaker-training-toolkit writes when the script leaves no failure file.

    Like ``process.watch`` it keeps the log from the first line naming a Python exception,
    de-duplicated, inside its ``ExecuteUserScriptError`` layout (errors.py ``_CalledProcessError``).
    """
    captured: list[str] = []
    for line in lines:
        if captured or any(name in line for name in _ERROR_NAMES):
            cleaned = line.strip(" :\n")
            if cleaned not in captured:
                captured.append(cleaned)
    message = "\n".join(captured)
    return (
        f"ExecuteUserScriptError:\nExitCode {returncode}\n"
        f'ErrorMessage "{message}"\nCommand "{shlex.join(command)}"'
    )
