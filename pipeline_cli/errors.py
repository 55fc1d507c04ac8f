"""Errors a user can act on: one line on stderr and a non-zero exit, never a traceback."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Final, ParamSpec, TypeVar

import typer
from botocore.exceptions import (
    ClientError,
    EndpointConnectionError,
    NoCredentialsError,
    NoRegionError,
    PartialCredentialsError,
    ProfileNotFound,
    TokenRetrievalError,
)

P = ParamSpec("P")
R = TypeVar("R")

EXIT_FAILURE: Final = 1
EXIT_USAGE: Final = 2  # click's code for bad usage; bad input is the same kind of mistake

_CREDENTIAL_CODES: Final = frozenset(
    {"ExpiredToken", "ExpiredTokenException", "InvalidClientTokenId", "UnrecognizedClientException"}
)
NO_CREDENTIALS: Final = (
    "No AWS credentials found: run `aws configure` or `aws sso login`, set AWS_PROFILE, "
    "or use --local for the local session."
)
NO_REGION: Final = (
    "No AWS region: pass --region, or set AWS_REGION / AWS_DEFAULT_REGION or a region in your profile."
)


class CliError(Exception):
    """A problem the user can fix; the message says how."""

    def __init__(self, message: str, exit_code: int = EXIT_FAILURE) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def error_code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


def error_message(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Message", ""))


def explain(error: Exception) -> CliError | None:
    """The actionable message for an exception from boto3, or None when there is none."""
    if isinstance(error, CliError):
        return error
    if isinstance(error, NoCredentialsError | PartialCredentialsError | TokenRetrievalError):
        return CliError(NO_CREDENTIALS)
    if isinstance(error, ProfileNotFound):
        return CliError(f"{error}: check AWS_PROFILE or ~/.aws/config.")
    if isinstance(error, NoRegionError):
        return CliError(NO_REGION)
    if isinstance(error, EndpointConnectionError):
        return CliError(f"Cannot reach {error.kwargs.get('endpoint_url')}: check the network or the region.")
    if isinstance(error, ClientError):
        code = error_code(error)
        if code in _CREDENTIAL_CODES:
            return CliError(f"AWS rejected your credentials ({code}): refresh them (e.g. `aws sso login`).")
        if code in ("AccessDenied", "AccessDeniedException"):
            return CliError(f"Access denied: {error_message(error)}")
        operation = error.operation_name
        return CliError(f"{operation} failed: {code}: {error_message(error)}")
    return None


def fail(message: str, exit_code: int = EXIT_FAILURE) -> typer.Exit:
    """Print one line on stderr; the caller raises what this returns."""
    typer.echo(f"error: {' '.join(message.split())}", err=True)
    return typer.Exit(exit_code)


def cli_errors(command: Callable[P, R]) -> Callable[P, R]:
    """Turn the errors `explain` knows into one line and an exit code (typer reads the signature
    through functools.wraps)."""

    @functools.wraps(command)
    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return command(*args, **kwargs)
        except Exception as error:
            known = explain(error)
            if known is None:
                raise
            raise fail(str(known), known.exit_code) from None

    return run
