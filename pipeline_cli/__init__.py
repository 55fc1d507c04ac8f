"""Operator tooling for the deployed stack and local mode (`python -m pipeline_cli --help`)."""

from pipeline_cli._paths import ensure_repo_root

# The CLI reads the registry's vocabulary from `lambdas/` and may synthesize `app.py`: both live in
# the checkout, which is not on sys.path when the `mlpipeline` script runs from elsewhere.
ensure_repo_root()
