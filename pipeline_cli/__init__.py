"""Operator tooling for the deployed stack and local mode."""
