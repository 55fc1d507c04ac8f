"""Small formatting helpers shared by the commands' tables."""

from __future__ import annotations

import json
import sys
from datetime import datetime
from typing import Any, Final

from rich.console import Console

OUTCOME_STYLES: Final = {
    "succeeded": "green",
    "failed": "bold red",
    "caught": "yellow",
    "running": "bold yellow",
    "not run": "dim",
}
OUTCOME_ICONS: Final = {"succeeded": "✓", "failed": "✗", "caught": "!", "running": "▶", "not run": "·"}
STATUS_STYLES: Final = {
    "SUCCEEDED": "bold green",
    "RUNNING": "bold yellow",
    "FAILED": "bold red",
    "TIMED_OUT": "bold red",
    "ABORTED": "bold red",
    "DEPLOYED": "bold green",
    "EVALUATED": "cyan",
    "RETIRED": "dim",
    "REJECTED": "red",
    "TRAINING": "yellow",
    "TRAINED": "yellow",
}


def console() -> Console:
    """stdout; when it is not a terminal (pipes, CI, tests) wide enough not to fold ARNs."""
    return Console(width=None if sys.stdout.isatty() else 200, soft_wrap=not sys.stdout.isatty())


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    seconds = max(0.0, seconds)
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes}m {secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m"


def timestamp(value: Any) -> str:
    if isinstance(value, datetime):
        return value.astimezone().strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, str) and value:
        try:
            return (
                datetime.fromisoformat(value.replace("Z", "+00:00"))
                .astimezone()
                .strftime("%Y-%m-%d %H:%M:%S")
            )
        except ValueError:
            return value
    return "-"


def styled(value: str, styles: dict[str, str] = STATUS_STYLES) -> str:
    style = styles.get(value)
    return f"[{style}]{value}[/]" if style else value


def short_json(value: Any, limit: int = 400) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str, separators=(",", ":"))
    return text if len(text) <= limit else text[: limit - 1] + "…"


def number(value: Any, digits: int = 4) -> str:
    if isinstance(value, int | float):
        return f"{value:.{digits}f}".rstrip("0").rstrip(".") if isinstance(value, float) else str(value)
    return "-" if value is None else str(value)
