"""The training code ships as a deterministic tar.gz; it and the Lambda asset carry the `contract` package."""

from __future__ import annotations

import tarfile
from pathlib import Path

from contract import PREPROCESSING_ENTRY_POINT, TRAINING_ENTRY_POINT
from pipeline_constructs.code_assets import (
    REPO_ROOT,
    SHARED_PACKAGES,
    TRAINING_CODE_DIR,
    write_source_archive,
)


def test_archive_is_byte_identical_across_builds(tmp_path: Path) -> None:
    first, second = tmp_path / "a.tar.gz", tmp_path / "b.tar.gz"
    write_source_archive(TRAINING_CODE_DIR, first, SHARED_PACKAGES)
    write_source_archive(TRAINING_CODE_DIR, second, SHARED_PACKAGES)
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


def test_packages_ship_as_folders_of_their_name(tmp_path: Path) -> None:
    source, package = tmp_path / "src", tmp_path / "shared"
    source.mkdir()
    (source / "train.py").write_text("import shared\n")
    (package / "__pycache__").mkdir(parents=True)
    (package / "__pycache__" / "__init__.cpython-311.pyc").write_bytes(b"\0")
    (package / "__init__.py").write_text("X = 1\n")
    archive = tmp_path / "code.tar.gz"
    write_source_archive(source, archive, (package,))
    with tarfile.open(archive, "r:gz") as tar:
        assert tar.getnames() == ["train.py", "shared/__init__.py"]


def test_real_training_code_has_both_entry_points_and_the_contract_package(tmp_path: Path) -> None:
    archive = tmp_path / "code.tar.gz"
    write_source_archive(TRAINING_CODE_DIR, archive, SHARED_PACKAGES)
    with tarfile.open(archive, "r:gz") as tar:
        names = set(tar.getnames())
    assert {TRAINING_ENTRY_POINT, PREPROCESSING_ENTRY_POINT, "contract/__init__.py"} <= names
    assert "contract.py" not in names


def test_synthesized_training_archive_carries_the_contract_package(synthesized: dict) -> None:
    staged = Path(synthesized["outdir"]).glob("asset.*")
    archives = [p for p in staged if p.is_file() and tarfile.is_tarfile(p)]
    assert len(archives) == 1
    for archive in archives:
        with tarfile.open(archive, "r:gz") as tar:
            shipped = tar.extractfile("contract/__init__.py")
            assert shipped is not None
            assert shipped.read() == (REPO_ROOT / "contract" / "__init__.py").read_bytes()


def test_lambda_asset_carries_the_contract_package(synthesized: dict) -> None:
    staged = [p for p in Path(synthesized["outdir"]).glob("asset.*") if (p / "lambdas").is_dir()]
    assert len(staged) == 1
    assert (staged[0] / "contract" / "__init__.py").read_text() == (
        REPO_ROOT / "contract" / "__init__.py"
    ).read_text()
    assert not (staged[0] / "contract.py").exists()
    assert not list(staged[0].rglob("__pycache__"))


def test_every_function_handler_is_a_module_of_the_lambda_asset(
    synthesized: dict, template_json: dict
) -> None:
    [staged] = [p for p in Path(synthesized["outdir"]).glob("asset.*") if (p / "lambdas").is_dir()]
    handlers = {
        resource["Properties"]["Handler"]
        for resource in template_json["Resources"].values()
        if resource["Type"] == "AWS::Lambda::Function"
        and resource["Properties"].get("Runtime", "").startswith("python")
    }
    assert handlers, "no Python functions in the template"
    for handler in handlers:
        module, _, function = handler.rpartition(".")
        assert module.startswith("lambdas."), f"{handler}: handlers live in the lambdas package"
        source = staged / (module.replace(".", "/") + ".py")
        assert source.exists(), f"{handler}: {source.relative_to(staged)} is not in the asset"
        assert f"def {function}(" in source.read_text(), f"{handler}: no {function}() in {source.name}"
