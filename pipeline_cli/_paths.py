"""Where the CLI finds the checkout's files (cdk.out, the bundled price table's neighbours)."""

from __future__ import annotations

from pathlib import Path
from typing import Final

REPO_ROOT: Final = Path(__file__).resolve().parents[1]
