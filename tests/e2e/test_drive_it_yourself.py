"""The README's "Drive it yourself", run as written: its commands parsed from the README, in order.

Every bash line of the section runs as a separate process in a scratch folder (the checkout on
PYTHONPATH, as when the reader runs them from the checkout), its Python block runs as a script.
The only things the test adds are what a reader does by hand: wait for `serve` to say it is running,
fill in the placeholders from what earlier commands printed, keep `serve` and `watch` running in
the background, and ask `models --status PENDING_APPROVAL` again until the model waits there.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
SECTION = re.compile(r"<!-- drive:start -->(.*?)<!-- drive:end -->", re.DOTALL)
BLOCK = re.compile(r"```(bash|python)\n(.*?)```", re.DOTALL)
COMMAND_SECONDS = 600
SERVE_SECONDS = 600
# What the commands print that later commands need (the README names them in capitals).
CAPTURES = {
    "DATA_BUCKET": re.compile(r"s3://([a-z0-9.-]+)/raw/"),
    "EXECUTION_ARN": re.compile(r"^started (arn:\S+)$", re.MULTILINE),
    "MODEL": re.compile(r"│ (\S+)\s+│ PENDING_APPROVAL"),
}
PROGRAMS = ("python", "mlpipeline")


@dataclass(frozen=True)
class Step:
    language: str  # "bash": one command line; "python": a script
    text: str


def readme_steps() -> list[Step]:
    """The section's commands in order: one step per bash command, one per Python block."""
    [section] = SECTION.findall((REPO_ROOT / "README.md").read_text(encoding="utf-8"))
    steps: list[Step] = []
    for language, body in BLOCK.findall(section):
        if language == "python":
            steps.append(Step("python", body))
            continue
        for line in body.splitlines():
            if shlex.split(line, comments=True):
                steps.append(Step("bash", line))
    return steps


def _argv(line: str, values: dict[str, str]) -> list[str]:
    words = shlex.split(line, comments=True)
    for index, word in enumerate(words):
        for name, value in values.items():
            word = word.replace(name, value)
        words[index] = word
    program, *args = words
    if program == "python":
        return [sys.executable, *args]
    installed = Path(sys.executable).parent / "mlpipeline"  # `make install` puts it beside python
    return [str(installed), *args] if installed.exists() else [sys.executable, "-m", "pipeline_cli", *args]


def _environment() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO_ROOT), env.get("PYTHONPATH", "")) if p)
    env.pop("MLPIPELINE_SESSION", None)  # the commands find ./local-run/session.json, as the reader's do
    env["COLUMNS"] = "250"
    return env


@dataclass
class Reader:
    """Runs the steps the way a reader would, in `folder`."""

    folder: Path
    values: dict[str, str]
    log: list[str]

    def start(self, line: str) -> subprocess.Popen[str]:
        out = (self.folder / f"background-{len(self.log)}.log").open("w")
        self.log.append(f"$ {line} (in the background, output in {out.name})")
        return subprocess.Popen(
            _argv(line, self.values),
            cwd=self.folder,
            env=_environment(),
            stdout=out,
            stderr=subprocess.STDOUT,
            text=True,
        )

    def run(self, argv: list[str], shown: str) -> str:
        done = subprocess.run(
            argv,
            cwd=self.folder,
            env=_environment(),
            capture_output=True,
            text=True,
            timeout=COMMAND_SECONDS,
            check=False,
        )
        self.log.append(f"$ {shown}\n{done.stdout[-3000:]}{done.stderr[-3000:]}")
        assert done.returncode == 0, "\n".join(self.log[-3:])
        for name, pattern in CAPTURES.items():
            found = pattern.search(done.stdout)
            if found:  # the latest: a second `start` names the execution to watch from then on
                self.values[name] = found.group(1)
        return done.stdout

    def command(self, line: str) -> str:
        return self.run(_argv(line, self.values), line)

    def until_model_waits(self, line: str) -> None:
        """The listing again until a model waits there, as a reader watching `watch` would."""
        deadline = time.monotonic() + COMMAND_SECONDS
        while "MODEL" not in self.values:
            assert time.monotonic() < deadline, "no model waited for approval:\n" + "\n".join(self.log)
            time.sleep(2)
            self.command(line)


def _wait_for(process: subprocess.Popen[str], log: Path, text: str, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if text in log.read_text():
            return
        assert process.poll() is None, log.read_text()[-4000:]
        time.sleep(1)
    raise AssertionError(f"{text!r} not printed in {seconds} s:\n{log.read_text()[-4000:]}")


def _stop(process: subprocess.Popen[str]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGINT)  # serve stops its stack on Ctrl-C
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def test_the_readme_section_lists_the_steps_it_promises() -> None:
    steps = readme_steps()
    commands = [step.text for step in steps if step.language == "bash"]

    assert all(shlex.split(c, comments=True)[0] in PROGRAMS for c in commands), commands
    wanted = ("local_mode serve", "data upload", "start", "watch", "approve", "rollback", "graph")
    for word in wanted:
        assert any(word in c for c in commands), f"the section has no `{word}` command"
    assert [step.language for step in steps].count("python") == 1  # invokes the endpoint with boto3
    assert "sagemaker-runtime" in next(step.text for step in steps if step.language == "python")


@pytest.mark.slow
def test_drive_it_yourself_as_the_readme_says(tmp_path: Path) -> None:
    reader = Reader(tmp_path, {}, [])
    steps = readme_steps()
    serve_line = steps[0].text
    assert "local_mode serve" in serve_line
    serve = reader.start(serve_line)
    background = [serve]
    try:
        _wait_for(serve, reader.folder / "background-0.log", "local stack running", SERVE_SECONDS)
        watch: subprocess.Popen[str] | None = None
        for step in steps[1:]:
            if step.language == "python":
                script = reader.folder / "invoke_endpoint.py"
                script.write_text(step.text)
                printed = reader.run([sys.executable, str(script)], "python invoke_endpoint.py")
                shown = re.search(r"predicted (\[.*?\]) labels (\[.*?\])", printed)
                assert shown is not None, printed
                predicted, labels = (json.loads(group) for group in shown.groups())
                right = sum(p == t for p, t in zip(predicted, labels, strict=True))
                assert right >= 0.8 * len(labels), (
                    printed
                )  # digits it trained on: a deployed model reads them
            elif " watch " in step.text:
                watch = reader.start(step.text)
                background.append(watch)
            elif "--status PENDING_APPROVAL" in step.text:
                reader.until_model_waits(step.text)
            else:
                printed = reader.command(step.text)
                if " approve " in step.text:
                    assert watch is not None, "the README approves before it watches"
                    assert watch.wait(timeout=COMMAND_SECONDS) == 0, "\n".join(reader.log)
                if " rollback " in step.text:
                    assert "is DEPLOYED" in printed and "is RETIRED" in printed, printed
        model = reader.values["MODEL"]
        matrix = reader.folder / "local-run" / "reports" / model / "confusion_matrix.png"
        assert matrix.read_bytes().startswith(b"\x89PNG")
        assert "RequestApproval" in (reader.folder / "run.svg").read_text()
    finally:
        for process in reversed(background):
            _stop(process)
