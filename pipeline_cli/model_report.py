"""`models show` keeps the evaluation report on disk: report.json and its confusion matrix as a PNG.

The PNG is drawn from the report's own matrix by the evaluation Lambda's heatmap code, so it is the
picture the evaluation wrote beside the report, and needs only the report itself (one GetObject).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Final

from botocore.exceptions import ClientError

from lambdas.png_heatmap import render_confusion_png
from lambdas.s3_uris import split_s3_uri
from pipeline_cli.errors import CliError, error_code

REPORT_FILE: Final = "report.json"
CONFUSION_MATRIX_FILE: Final = "confusion_matrix.png"
# Beside the local session and the demo summary: the project's own scratch folder, ignored by git.
DEFAULT_REPORT_DIR: Final = Path("local-run") / "reports"


def save_report(s3: Any, model: dict[str, Any], directory: Path) -> tuple[Path, Path] | None:
    """`directory/<model>/report.json` and `confusion_matrix.png`; None when the model has no report."""
    uri = model.get("evaluation_report_uri")
    if not uri:
        return None
    bucket, key = split_s3_uri(str(uri))
    try:
        body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    except ClientError as error:
        if error_code(error) in ("NoSuchKey", "404"):
            raise CliError(f"The evaluation report {uri} is gone from S3.") from None
        raise
    report = json.loads(body)
    matrix = report.get("confusion_matrix")
    if not isinstance(matrix, list):
        raise CliError(f"The evaluation report {uri} has no confusion_matrix.")
    folder = directory / str(model["model_name"])
    folder.mkdir(parents=True, exist_ok=True)
    report_path, png_path = folder / REPORT_FILE, folder / CONFUSION_MATRIX_FILE
    report_path.write_bytes(body)
    png_path.write_bytes(render_confusion_png(matrix))
    return report_path, png_path
