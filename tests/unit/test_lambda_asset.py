"""The lambdas/ folder ships as one asset to the Python Lambda runtime with the Powertools layer."""

from __future__ import annotations

import ast
import importlib
import sys
from pathlib import Path

import pytest

LAMBDAS = Path(__file__).resolve().parents[2] / "lambdas"
# What the runtime and the Powertools v3 layer provide, plus the `contract` package, which the CDK
# bundling ships as a folder at the asset's root. No numpy, Pillow or matplotlib.
PROVIDED = {"boto3", "botocore", "aws_lambda_powertools", "pydantic", "pydantic_core", "contract"}
HANDLER_MODULES = ("lambdas.execution_input", "lambdas.attempt_plan", "lambdas.evaluate_predictions")


def top_level_imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("path", sorted(LAMBDAS.glob("*.py")), ids=lambda p: p.name)
def test_imports_only_what_the_runtime_provides(path: Path) -> None:
    unknown = top_level_imports(path) - {"lambdas"} - PROVIDED - set(sys.stdlib_module_names) - {"__future__"}
    assert not unknown, f"{path.name} imports {sorted(unknown)}, which the Lambda runtime lacks"


@pytest.mark.parametrize("module", HANDLER_MODULES)
def test_handler_entry_points_exist(module: str) -> None:
    assert callable(importlib.import_module(module).handler)


@pytest.mark.parametrize("path", sorted(LAMBDAS.glob("*.py")), ids=lambda p: p.name)
def test_siblings_are_imported_by_their_package_name(path: Path) -> None:
    """One import name everywhere: `lambdas.<module>`, never the bare sibling (Lambda runtime or checkout)."""
    siblings = {p.stem for p in LAMBDAS.glob("*.py")} - {"__init__"}
    bare = top_level_imports(path) & siblings
    assert not bare, f"{path.name} imports {sorted(bare)} without the package name: use lambdas.<module>"
