"""Where the CLI finds the rest of the project (it runs from a checkout, installed or not)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Final

REPO_ROOT: Final = Path(__file__).resolve().parents[1]
LAMBDAS_DIR: Final = REPO_ROOT / "lambdas"


def _append(path: Path) -> None:
    if str(path) not in sys.path:
        sys.path.append(str(path))  # appended: never shadows what is already importable


def ensure_repo_root() -> None:
    """`app` and `lambdas.model_registry` importable."""
    _append(REPO_ROOT)


def ensure_import_roots() -> None:
    """Also `lambdas/`: its modules import each other as top-level modules, as in the Lambda runtime."""
    _append(REPO_ROOT)
    _append(LAMBDAS_DIR)
