"""Operator tooling for the deployed stack and local mode (`python -m pipeline_cli --help`)."""
