"""`python -m core predict` and `python -m core mannequin` as a user runs them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def _run(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "core", *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=300)


def test_predict_matches_reference_case0(tmp_path, parity_dir, parity_model_dir):
    import cv2

    cases = np.load(parity_dir / "s32_reference_cases.npz")
    cv2.imwrite(str(tmp_path / "frame.png"), cases["image_rgb_uint8"][:, :, ::-1])
    box = [f"{v}" for v in cases["case0_det_xyxy"]]
    proc = _run("predict", str(tmp_path / "frame.png"), "--box", *box, "--box", "5000", "5000", "5100", "5300",
                "--checkpoint", str(parity_dir / "smpler_x_s32_random.pth.tar"), "--model-dir",
                str(parity_model_dir), "--device", "cpu", "-o", str(tmp_path / "people.npz"), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    out = np.load(tmp_path / "people.npz")
    assert out["valid"].tolist() == [True, False]
    np.testing.assert_allclose(out["body_pose"][0].reshape(-1), cases["case0_out_smplx_body_pose"][0], atol=1e-4)
    np.testing.assert_allclose(out["transl"][0], cases["case0_out_cam_trans"][0], atol=1e-4)
    np.testing.assert_allclose(out["focal"][0], cases["case0_focal"], rtol=1e-6)
    assert np.isnan(out["body_pose"][1]).all()


def test_predict_bad_image_one_line(tmp_path, parity_dir, parity_model_dir):
    (tmp_path / "x.png").write_bytes(b"not an image")
    proc = _run("predict", str(tmp_path / "x.png"), "--box", "0", "0", "10", "10", "--checkpoint",
                str(parity_dir / "smpler_x_s32_random.pth.tar"), "--model-dir", str(parity_model_dir),
                "-o", str(tmp_path / "o.npz"), cwd=tmp_path)
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines() == [f"error: {tmp_path / 'x.png'}: not a readable image (jpg/png expected)"]
    assert not (tmp_path / "o.npz").exists()


def test_mannequin_command_writes_loadable_model(tmp_path):
    import smplx

    proc = _run("mannequin", str(tmp_path / "models"), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    for name in ("SMPLX_NEUTRAL.npz", "SMPLX_MALE.npz", "SMPLX_FEMALE.npz", "MANO_SMPLX_vertex_ids.pkl"):
        assert (tmp_path / "models" / "smplx" / name).is_file()
    model = smplx.create(str(tmp_path / "models"), "smplx", use_pca=False)
    assert model.get_num_verts() == 10475


def test_missing_body_model_names_file_and_source(tmp_path, parity_dir):
    (tmp_path / "img.png").write_bytes(b"")
    import cv2

    cv2.imwrite(str(tmp_path / "img.png"), np.zeros((200, 200, 3), np.uint8))
    proc = _run("predict", str(tmp_path / "img.png"), "--box", "10", "10", "90", "190", "--checkpoint",
                str(parity_dir / "smpler_x_s32_random.pth.tar"), "--model-dir", str(tmp_path / "nomodels"),
                "-o", str(tmp_path / "o.npz"), cwd=tmp_path)
    assert proc.returncode == 1
    line = proc.stderr.strip()
    assert "SMPLX_NEUTRAL.npz" in line and "smpl-x.is.tue.mpg.de" in line and "\n" not in line
