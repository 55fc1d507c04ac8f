#!/usr/bin/env python3
"""CDK app: one stack holding the whole life cycle of a TensorFlow 2 model."""

from __future__ import annotations

import json
import os
from pathlib import Path

import aws_cdk as cdk
from cdk_nag import AwsSolutionsChecks

from stacks.model_lifecycle_stack import ModelLifecycleStack
from stacks.nag_suppressions import suppress_reviewed_findings
from stacks.scanner_findings import acknowledge_scanner_findings
from stacks.settings import CONTEXT_KEY, load_settings

STACK_NAME = "TfModelLifecycle"
CDK_JSON = Path(__file__).resolve().parent / "cdk.json"


def default_context() -> dict[str, object]:
    """cdk.json's context, so `python app.py` and tests synthesize what `cdk synth` does."""
    context: dict[str, object] = json.loads(CDK_JSON.read_text())["context"]
    return context


def build_app(*, outdir: str | None = None, context: dict[str, object] | None = None) -> cdk.App:
    """The app with cdk-nag's AwsSolutions checks attached (findings fail synthesis)."""
    app = cdk.App(
        outdir=outdir,
        # Values the CLI passes (cdk.json, --context) take precedence over these.
        context=default_context() if context is None else context,
        # The built-in CloudFormation validator adds ~6 s per synth and finds nothing cfn-lint misses.
        builtin_cloud_formation_validation=False,
    )
    settings = load_settings(app.node.try_get_context(CONTEXT_KEY))
    stack = ModelLifecycleStack(
        app,
        STACK_NAME,
        settings=settings,
        description="TensorFlow 2 model life cycle: data, registry, training and evaluation workflows",
        env=cdk.Environment(
            account=os.environ.get("CDK_DEFAULT_ACCOUNT"), region=os.environ.get("CDK_DEFAULT_REGION")
        )
        if os.environ.get("CDK_PIN_ENVIRONMENT")
        else None,
    )
    suppress_reviewed_findings(stack)
    acknowledge_scanner_findings(stack)
    cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    return app


if __name__ == "__main__":
    build_app().synth()
