"""One synthesized stack shared by the infrastructure tests (a synth costs seconds)."""

from __future__ import annotations

from typing import Any

import pytest
from aws_cdk.assertions import Template

import app as cdk_app


@pytest.fixture(scope="session")
def synthesized(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    outdir = tmp_path_factory.mktemp("cdk.out")
    assembly = cdk_app.build_app(outdir=str(outdir)).synth()
    stack = assembly.get_stack_by_name(cdk_app.STACK_NAME)
    return {"template": stack.template, "outdir": outdir}


@pytest.fixture(scope="session")
def template_json(synthesized: dict[str, Any]) -> dict[str, Any]:
    return synthesized["template"]


@pytest.fixture(scope="session")
def template(template_json: dict[str, Any]) -> Template:
    return Template.from_json(template_json)
