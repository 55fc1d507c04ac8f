"""The layout of local_mode/: the cloud does not import SageMaker (docs/architecture.md, "Layout")."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

LOCAL_MODE = Path(__file__).resolve().parents[2] / "local_mode"
CLOUD_MODULES = sorted((LOCAL_MODE / "cloud").rglob("*.py"))


def imported_modules(source: str, package: str) -> set[str]:
    """Every module `source` (a module of `package`) imports, at any depth, made absolute."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            parts = package.split(".")
            base = parts[: len(parts) - node.level + 1] if node.level else []
            module = ".".join([*base, node.module] if node.module else base)
            found.add(module)
            found.update(f"{module}.{alias.name}" for alias in node.names)
    return found


def sagemaker_imports(source: str, package: str) -> list[str]:
    return sorted(
        m
        for m in imported_modules(source, package)
        if m == "local_mode.sagemaker" or m.startswith("local_mode.sagemaker.")
    )


def test_the_cloud_package_has_its_modules() -> None:
    names = {p.name for p in CLOUD_MODULES}
    assert names >= {"__init__.py", "local_cloud.py", "moto_hooks.py", "cdk_deploy.py"}


@pytest.mark.parametrize("path", CLOUD_MODULES, ids=lambda p: p.name)
def test_the_cloud_imports_nothing_from_sagemaker(path: Path) -> None:
    package = ".".join(path.relative_to(LOCAL_MODE.parent).parts[:-1])
    found = sagemaker_imports(path.read_text(), package)
    assert found == [], f"{path.relative_to(LOCAL_MODE.parent)} imports {found}"


def test_the_check_sees_nested_and_relative_imports() -> None:
    source = (
        "import local_mode.sagemaker\n"
        "def f():\n"
        "    from local_mode import sagemaker\n"
        "    from ..sagemaker.shapes import utcnow\n"
        "    from local_mode.checks import iam_check\n"
    )
    assert sagemaker_imports(source, "local_mode.cloud") == [
        "local_mode.sagemaker",
        "local_mode.sagemaker.shapes",
        "local_mode.sagemaker.shapes.utcnow",
    ]
