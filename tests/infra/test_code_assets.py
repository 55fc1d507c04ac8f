"""The training code ships as a deterministic tar.gz; the Lambda asset carries the shared contract."""

from __future__ import annotations

import tarfile
from pathlib import Path

from pipeline_constructs.code_assets import TRAINING_CODE_DIR, write_source_archive
from training_code.contract import PREPROCESSING_ENTRY_POINT, TRAINING_ENTRY_POINT


def test_archive_is_byte_identical_across_builds(tmp_path: Path) -> None:
    first, second = tmp_path / "a.tar.gz", tmp_path / "b.tar.gz"
    write_source_archive(TRAINING_CODE_DIR, first)
    write_source_archive(TRAINING_CODE_DIR, second)
    assert first.read_bytes() == second.read_bytes()


def test_archive_holds_the_entry_points_and_no_caches(tmp_path: Path) -> None:
    source = tmp_path / "src"
    (source / "__pycache__").mkdir(parents=True)
    (source / "__pycache__" / "train.cpython-311.pyc").write_bytes(b"\0")
    (source / "train.py").write_text("print('hi')\n")
    (source / "helpers").mkdir()
    (source / "helpers" / "util.py").write_text("X = 1\n")
    archive = tmp_path / "code.tar.gz"
    write_source_archive(source, archive)
    with tarfile.open(archive, "r:gz") as tar:
        members = {m.name: m for m in tar.getmembers()}
    assert set(members) == {"train.py", "helpers/util.py"}
    assert all(m.mtime == 0 and m.uid == 0 and m.mode == 0o644 for m in members.values())


def test_real_training_code_has_both_entry_points(tmp_path: Path) -> None:
    archive = tmp_path / "code.tar.gz"
    write_source_archive(TRAINING_CODE_DIR, archive)
    with tarfile.open(archive, "r:gz") as tar:
        names = set(tar.getnames())
    assert {TRAINING_ENTRY_POINT, PREPROCESSING_ENTRY_POINT, "contract.py"} <= names


def test_lambda_asset_carries_the_contract(synthesized: dict) -> None:
    staged = [p for p in Path(synthesized["outdir"]).glob("asset.*") if (p / "execution_input.py").exists()]
    assert len(staged) == 1
    assert (staged[0] / "contract.py").read_text() == (TRAINING_CODE_DIR / "contract.py").read_text()
    assert not list(staged[0].rglob("__pycache__"))
