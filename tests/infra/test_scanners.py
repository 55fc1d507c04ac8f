"""Independent scanners on a fresh synth: cfn-lint and checkov report nothing unreviewed.

Reviewed findings are acknowledged in the template itself, each on one resource with its
reason (stacks/scanner_findings.py, and the access-log bucket in pipeline_constructs/storage.py).
`make scan` runs the same scanners with human-readable output.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import app as cdk_app
from stacks.scanner_findings import CFN_LINT, CHECKOV, acknowledge

ROOT = Path(__file__).resolve().parents[2]
CFN_LINT_BIN = Path(sys.executable).parent / "cfn-lint"
# checkov has its own virtualenv (its pins conflict with requirements.txt): see the Makefile.
CHECKOV_BIN = ROOT / ".venv-scan" / "bin" / "checkov"
SCAN_TIMEOUT_SECONDS = 300


@pytest.fixture(scope="module")
def template_path(synthesized: dict[str, Any]) -> Path:
    return Path(synthesized["outdir"]) / f"{cdk_app.STACK_NAME}.template.json"


UNACKNOWLEDGED_CFN_LINT = "cfn-lint without acknowledgements"


@pytest.fixture(scope="module")
def scans(
    template_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, subprocess.CompletedProcess[str]]:
    """The scanners, started together (each is a few seconds of one core)."""
    # The template without cfn-lint's acknowledgements: each one must still match a finding.
    template = json.loads(template_path.read_text())
    for resource in template["Resources"].values():
        resource.get("Metadata", {}).pop(CFN_LINT, None)
    unacknowledged = tmp_path_factory.mktemp("scan") / "unacknowledged.template.json"
    unacknowledged.write_text(json.dumps(template))
    if not CHECKOV_BIN.exists():
        pytest.fail(f"{CHECKOV_BIN} is missing: `make install` creates it (requirements-scan.txt)")
    commands = {
        CFN_LINT: [str(CFN_LINT_BIN), "--format", "json", str(template_path)],
        UNACKNOWLEDGED_CFN_LINT: [str(CFN_LINT_BIN), "--format", "json", str(unacknowledged)],
        CHECKOV: [
            str(CHECKOV_BIN),
            "--file",
            str(template_path),
            "--framework",
            "cloudformation",
            "--output",
            "json",
            # No network: no guideline links, nothing else changes.
            "--skip-download",
        ],
    }
    # Output to files: a scanner never waits on a full pipe while another one is read.
    folder = unacknowledged.parent
    outputs = {name: (folder / f"{i}.out", folder / f"{i}.err") for i, name in enumerate(commands)}
    running = {}
    for name, command in commands.items():
        out, err = outputs[name]
        with out.open("w") as stdout, err.open("w") as stderr:
            running[name] = subprocess.Popen(command, cwd=ROOT, stdout=stdout, stderr=stderr, text=True)
    results = {}
    for name, process in running.items():
        process.wait(timeout=SCAN_TIMEOUT_SECONDS)
        out, err = outputs[name]
        results[name] = subprocess.CompletedProcess(
            commands[name], process.returncode, out.read_text(), err.read_text()
        )
    return results


@pytest.fixture(scope="module")
def checkov_results(scans: dict[str, subprocess.CompletedProcess[str]]) -> dict[str, Any]:
    scan = scans[CHECKOV]
    try:
        report = json.loads(scan.stdout)
    except json.JSONDecodeError:
        pytest.fail(f"checkov did not report JSON (exit {scan.returncode}):\n{scan.stderr[-3000:]}")
    assert report["summary"]["parsing_errors"] == 0, report["summary"]
    assert report["summary"]["resource_count"] > 0, report["summary"]
    results: dict[str, Any] = report["results"]
    return results


def test_cfn_lint_reports_nothing(scans: dict[str, subprocess.CompletedProcess[str]]) -> None:
    scan = scans[CFN_LINT]
    findings = json.loads(scan.stdout or "[]")
    described = [
        f"{finding['Rule']['Id']} {'/'.join(map(str, finding['Location']['Path']))}: {finding['Message']}"
        for finding in findings
    ]
    assert not described, "cfn-lint findings on the synthesized template:\n  " + "\n  ".join(described)
    assert scan.returncode == 0, scan.stderr


def test_checkov_reports_no_failures(checkov_results: dict[str, Any]) -> None:
    described = [
        f"{check['check_id']} on {check['resource']}: {check['check_name']}"
        for check in checkov_results["failed_checks"]
    ]
    assert not described, (
        "checkov failures on the synthesized template (fix them, or acknowledge one on its resource "
        "with a reason in stacks/scanner_findings.py):\n  " + "\n  ".join(described)
    )
    assert checkov_results["passed_checks"], "checkov ran no checks"


def test_every_checkov_skip_is_on_one_resource_with_a_reason(
    template_json: dict[str, Any], checkov_results: dict[str, Any]
) -> None:
    in_template = set()
    for logical_id, resource in template_json["Resources"].items():
        skips = resource.get("Metadata", {}).get(CHECKOV, {}).get("skip", [])
        ids = [skip.get("id") for skip in skips]
        assert len(ids) == len(set(ids)), f"{logical_id} acknowledges a checkov finding twice: {ids}"
        for skip in skips:
            assert set(skip) == {"id", "comment"}, f"{logical_id}: {skip}"
            assert str(skip["comment"]).strip(), f"{logical_id}: {skip['id']} has no reason"
            in_template.add((skip["id"], f"{resource['Type']}.{logical_id}"))
    # What checkov skipped is exactly what the template acknowledges, each on its own resource
    # (no run-wide --skip-check, no skip that checkov did not read).
    skipped = {(check["check_id"], check["resource"]) for check in checkov_results["skipped_checks"]}
    assert skipped == in_template
    assert ("CKV_AWS_18", next(r for _, r in in_template if "StorageAccessLogs" in r)) in skipped
    for check in checkov_results["skipped_checks"]:
        assert str(check["check_result"].get("suppress_comment", "")).strip(), check["check_id"]


def test_every_cfn_lint_ignore_is_on_one_resource_with_a_reason(template_json: dict[str, Any]) -> None:
    for logical_id, resource in template_json["Resources"].items():
        metadata = resource.get("Metadata", {}).get(CFN_LINT)
        if metadata is None:
            continue
        ignored = metadata["config"]["ignore_checks"]
        assert len(ignored) == len(set(ignored)), f"{logical_id} ignores a cfn-lint rule twice: {ignored}"
        assert set(ignored) == set(metadata["reasons"]), f"{logical_id}: every ignored rule needs its reason"
        assert all(str(reason).strip() for reason in metadata["reasons"].values()), logical_id


def test_no_scanner_config_skips_checks_run_wide() -> None:
    # Both scanners read a config file from the working directory; a skip there would cover every resource.
    configs = (".checkov.yaml", ".checkov.yml", ".cfnlintrc", ".cfnlintrc.yaml", ".cfnlintrc.yml")
    assert not [name for name in configs if (ROOT / name).exists()]


def test_no_cfn_lint_acknowledgement_is_stale(
    template_json: dict[str, Any], scans: dict[str, subprocess.CompletedProcess[str]]
) -> None:
    found = {
        (finding["Rule"]["Id"], finding["Location"]["Path"][1])
        for finding in json.loads(scans[UNACKNOWLEDGED_CFN_LINT].stdout or "[]")
        if finding["Location"]["Path"][:1] == ["Resources"]
    }
    acknowledged = {
        (rule, logical_id)
        for logical_id, resource in template_json["Resources"].items()
        for rule in resource.get("Metadata", {}).get(CFN_LINT, {}).get("config", {}).get("ignore_checks", [])
    }
    stale = sorted(acknowledged - found)
    assert not stale, f"cfn-lint no longer reports these, drop them (stacks/scanner_findings.py): {stale}"


def test_an_acknowledgement_needs_a_reason() -> None:
    import aws_cdk as cdk

    resource = cdk.CfnResource(cdk.Stack(), "Thing", type="AWS::SNS::Topic")
    with pytest.raises(ValueError, match="needs its reason"):
        acknowledge(resource, CHECKOV, "CKV_AWS_26", "  ")
