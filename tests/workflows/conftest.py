"""Fixtures for the workflow suite: a real synth of the app, running in LocalCloud with the instant runner."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.workflows.support import (
    Stack,
    StackManager,
    model_archive,
    session_dir,
    synthesized_app,
    template_json,
)

_USER = f"user-{os.getpid()}"


def _register_user() -> None:
    (session_dir() / _USER).write_text("")


def pytest_sessionfinish(session: pytest.Session) -> None:
    """The last process of the run to finish removes the shared synth."""
    root = session_dir()
    (root / _USER).unlink(missing_ok=True)
    if not any(p.name.startswith("user-") for p in root.iterdir()):
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def cdk_out() -> Path:
    return synthesized_app()


@pytest.fixture(scope="package")
def stacks(cdk_out: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[StackManager]:
    """This package's LocalCloud; package scope closes it whenever pytest leaves the package (moto and
    the task hooks are process-global: other packages' tests may open their own in this process)."""
    model_archive()  # built once per run, shared by the workers
    manager = StackManager(cdk_out, tmp_path_factory.mktemp("sagemaker"))
    yield manager
    manager.close()


@pytest.fixture
def stack(stacks: StackManager) -> Stack:
    """The app's stack, reset to an empty registry and no SageMaker resources."""
    current = stacks.get()
    current.reset()
    return current


@pytest.fixture(scope="session")
def template(cdk_out: Path) -> dict[str, Any]:
    return template_json(cdk_out)


def pytest_configure(config: pytest.Config) -> None:
    _register_user()  # before collection: the fault-injection cases are generated from a synth
