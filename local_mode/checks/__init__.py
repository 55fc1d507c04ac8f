"""Checks: IAM (policies, roles, grants as a role) and API request/response shapes."""
