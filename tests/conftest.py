"""Shared fixtures: the parity folder, a session-wide mannequin, the CI rule for `blender` tests, and the opt-in
`blender_binary` tests."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PARITY_DIR = ROOT.parent / "shared" / "reference" / "parity"


def pytest_collection_modifyitems(config, items):
    """Skip `gpu` tests without CUDA; `blender` tests skip without bpy, except in CI where that is a failure.

    `blender_binary` tests (a real Blender in a Debian tree, minutes) run only when asked for with
    `-m blender_binary` (`make test-blender-binary`); any other run leaves them out.
    """
    import importlib.util

    if "blender_binary" not in (config.getoption("markexpr", "") or ""):
        binary = [item for item in items if "blender_binary" in item.keywords]
        if binary:
            config.hook.pytest_deselected(items=binary)
            items[:] = [item for item in items if "blender_binary" not in item.keywords]

    has_bpy = importlib.util.find_spec("bpy") is not None
    in_ci = os.environ.get("CI", "").lower() in ("1", "true", "yes")
    try:
        import torch

        has_cuda = torch.cuda.is_available()
    except ImportError:
        has_cuda = False
    for item in items:
        if "gpu" in item.keywords and not has_cuda:
            item.add_marker(pytest.mark.skip(reason="needs a CUDA device"))
        if "blender" in item.keywords and not has_bpy and not in_ci:
            item.add_marker(pytest.mark.skip(reason="needs bpy (pip install -e .[blender])"))


@pytest.fixture(scope="session")
def parity_dir() -> Path:
    """The reference parity folder (../shared/reference/parity beside the checkout)."""
    if not PARITY_DIR.is_dir():
        pytest.skip(f"parity data not found at {PARITY_DIR}")
    return PARITY_DIR


@pytest.fixture(scope="session")
def parity_model_dir(parity_dir: Path) -> Path:
    """The synthetic SMPL-X model directory used to make the parity outputs."""
    return parity_dir / "human_model_files"


@pytest.fixture(scope="session")
def mannequin_dir(tmp_path_factory) -> Path:
    """A model directory holding the licence-free mannequin (written once per test session)."""
    from core.body import write_mannequin

    out = tmp_path_factory.mktemp("mannequin")
    write_mannequin(out)
    return out
