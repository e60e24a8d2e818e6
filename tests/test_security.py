"""Files an attacker controls (body model npz, pickles, checkpoints) run no code and allocate no more memory than
their size warrants (issue 16, items 1, 4 and 7)."""

from __future__ import annotations

import copyreg
import os
import pickle
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]


def _cli(*args: str, cwd: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    full_env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "2", **(env or {})}
    return subprocess.run([sys.executable, "-m", "core", *args], cwd=cwd, env=full_env, capture_output=True,
                          text=True, timeout=300)


def _capped(code: str, extra_bytes: int, cwd: Path) -> subprocess.CompletedProcess:
    """Run `code` in a fresh Python whose address space may grow only `extra_bytes` beyond what its imports took."""
    prelude = textwrap.dedent(f"""
        import re, resource, torch, numpy
        _vm = int(re.search(r"VmSize:\\s+(\\d+)", open("/proc/self/status").read()).group(1)) * 1024
        resource.setrlimit(resource.RLIMIT_AS, (_vm + {extra_bytes}, resource.RLIM_INFINITY))
    """)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-c", prelude + textwrap.dedent(code)], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)


class _Call:
    """Pickles as `func(*args)`: how a crafted file asks the unpickler to call something."""

    def __init__(self, func, *args):
        self.func, self.args = func, args

    def __reduce__(self):
        return self.func, self.args


# ----------------------------------------------------------------------------------------------- item 1
@pytest.fixture
def tampered_model_dir(tmp_path, mannequin_dir):
    """The mannequin with an extra object entry whose unpickling would create `marker`."""
    models = tmp_path / "models"
    shutil.copytree(mannequin_dir, models)
    marker = tmp_path / "PWNED"
    npz = models / "smplx" / "SMPLX_NEUTRAL.npz"
    arrays = dict(np.load(npz))
    payload = np.array([_Call(os.system, f"touch {marker}")], dtype=object)
    np.savez(npz, **arrays, payload=payload)
    return models, marker, npz


def test_tampered_body_model_never_runs_its_payload(tampered_model_dir, tmp_path, monkeypatch, caplog):
    """smplx opens npz files with allow_pickle=True; load_body_model must hand it only plain arrays."""
    from core.body import load_body_model, read_model_arrays

    models, marker, npz = tampered_model_dir
    monkeypatch.setenv("SMPLX_VIDEO_CACHE", str(tmp_path / "cache"))
    with caplog.at_level("WARNING"):
        body = load_body_model(models)
    assert not marker.exists()
    assert any(str(npz) in r.getMessage() and "payload" in r.getMessage() for r in caplog.records)
    # the body is the file's own geometry
    np.testing.assert_allclose(body.v_template.numpy(), read_model_arrays(models)["v_template"], atol=0)
    # the cached plain copy has no object entries; a tampered cache entry is rebuilt, never unpickled
    (cached,) = (tmp_path / "cache").rglob("SMPLX_NEUTRAL.npz")
    np.savez(cached, **dict(np.load(cached)), payload=np.array([_Call(os.system, f"touch {marker}")], dtype=object))
    load_body_model(models)
    assert not marker.exists()


def test_tampered_body_model_cli_names_the_file(tampered_model_dir, tmp_path, parity_dir):
    """`python -m core predict` (the CLI path that built smplx from the folder) runs no payload and says why."""
    import cv2

    models, marker, npz = tampered_model_dir
    cv2.imwrite(str(tmp_path / "frame.png"), np.full((256, 192, 3), 127, np.uint8))
    proc = _cli("-v", "predict", str(tmp_path / "frame.png"), "--box", "10", "10", "180", "250", "--checkpoint",
                str(parity_dir / "smpler_x_s32_random.pth.tar"), "--model-dir", str(models), "--device", "cpu",
                "-o", str(tmp_path / "people.npz"), cwd=tmp_path, env={"SMPLX_VIDEO_CACHE": str(tmp_path / "c")})
    assert not marker.exists()
    assert proc.returncode == 0, proc.stderr
    assert str(npz) in proc.stderr and "payload" in proc.stderr


# ----------------------------------------------------------------------------------------------- item 4
@pytest.mark.parametrize("damage", ["no_shapedirs", "wrong_shape"])
def test_broken_body_model_fails_before_the_run_in_one_line(damage, tmp_path, mannequin_dir):
    from tests._media import moving_shapes, write_video

    models = tmp_path / "models"
    shutil.copytree(mannequin_dir, models)
    npz = models / "smplx" / "SMPLX_NEUTRAL.npz"
    arrays = dict(np.load(npz))
    if damage == "no_shapedirs":
        del arrays["shapedirs"]
    else:
        arrays["J_regressor"] = arrays["J_regressor"][:, :100]
    np.savez(npz, **arrays)
    frames, _ = moving_shapes(4, height=120, width=160, shapes=[], seed=1)
    write_video(tmp_path / "v.mp4", frames, fps=10.0)
    proc = _cli("convert", str(tmp_path / "v.mp4"), "-o", str(tmp_path / "clip.npz"), "--model-dir", str(models),
                "--checkpoint", str(ROOT / "assets" / "demo_smpler_x.pth.tar"), "--detector", "static-camera",
                "--device", "cpu", "--progress-json", cwd=tmp_path)
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 1 and len(lines) == 1, proc.stderr
    assert str(npz) in lines[0] and ("shapedirs" if damage == "no_shapedirs" else "J_regressor") in lines[0]
    assert '"detect"' not in proc.stdout  # before the slow work
    assert not (tmp_path / "clip.npz").exists()


def _checkpoint_with_config(tmp_path: Path, **config) -> Path:
    import torch

    obj = torch.load(ROOT / "assets" / "demo_smpler_x.pth.tar", map_location="cpu", weights_only=True)
    obj["config"] = {**obj["config"], **config}
    path = tmp_path / "crafted.pth.tar"
    torch.save(obj, path)
    return path


def test_checkpoint_config_with_unknown_key_is_one_line(tmp_path, mannequin_dir):
    import cv2

    ckpt = _checkpoint_with_config(tmp_path, evil=1)
    cv2.imwrite(str(tmp_path / "frame.png"), np.full((64, 64, 3), 127, np.uint8))
    proc = _cli("predict", str(tmp_path / "frame.png"), "--box", "0", "0", "60", "60", "--checkpoint", str(ckpt),
                "--model-dir", str(mannequin_dir), "--device", "cpu", "-o", str(tmp_path / "o.npz"), cwd=tmp_path)
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 1 and len(lines) == 1, proc.stderr
    assert str(ckpt) in lines[0] and "unknown key" in lines[0] and "evil" in lines[0]


# ----------------------------------------------------------------------------------------------- item 7
@pytest.mark.parametrize("config", [dict(embed_dim=1280, depth=32, num_heads=16, box_width=256),
                                    dict(embed_dim=65536, depth=4, num_heads=4)], ids=["h32_sizes", "huge"])
def test_crafted_checkpoint_config_fails_before_building(config, tmp_path):
    """The embedded config is checked against the architecture's ranges and the weights' shapes on the meta
    device: a 15 MB file asking for an H32 (2.5 GB) or larger network fails with 300 MB of headroom."""
    ckpt = _checkpoint_with_config(tmp_path, **config)
    proc = _capped(f"""
        from core.model import CheckpointError, SMPLerX
        try:
            SMPLerX.from_checkpoint({str(ckpt)!r}, None)
        except CheckpointError as exc:
            print("REFUSED", exc)
    """, 300 << 20, tmp_path)
    assert proc.stdout.startswith("REFUSED"), proc.stdout + proc.stderr
    assert str(ckpt) in proc.stdout


@pytest.mark.parametrize("protocol", [2, 4])
@pytest.mark.parametrize("bomb", ["bytearray", "bytes", "ndarray", "reconstruct", "reconstructor"])
def test_restricted_unpickler_refuses_memory_bombs(bomb, protocol, tmp_path):
    """A pickle of a few dozen bytes must not make the reader allocate a gigabyte (protocol 4 names `builtins.*`
    directly, protocol 2 through `__builtin__`)."""
    from core.body.files import UnsafePickleError, load_pickle

    big = 1 << 30
    obj = {
        "bytearray": _Call(bytearray, big),
        "bytes": _Call(bytes, big),
        "ndarray": _Call(np.ndarray, (big,)),
        "reconstruct": _Call(np.core.multiarray._reconstruct, np.ndarray, (big,), b"b"),
        "reconstructor": _Call(copyreg._reconstructor, bytes, bytes, big),
    }[bomb]
    path = tmp_path / "bomb.pkl"
    path.write_bytes(pickle.dumps(obj, protocol=protocol))
    assert path.stat().st_size < 200
    with pytest.raises(UnsafePickleError, match="bomb.pkl"):
        load_pickle(path)
    proc = _capped(f"""
        from core.body.files import UnsafePickleError, load_pickle
        try:
            load_pickle({str(path)!r})
        except UnsafePickleError:
            print("REFUSED")
    """, 200 << 20, tmp_path)
    assert proc.stdout.strip() == "REFUSED", proc.stderr


def test_restricted_unpickler_still_reads_real_files(tmp_path, mannequin_dir):
    """What model-side pickles hold (arrays in protocols 2 and 5, scipy sparse, plain containers) still loads."""
    import scipy.sparse

    from core.body.files import _to_plain_array, load_pickle

    data = {"a": np.arange(6.0).reshape(2, 3), "ids": np.arange(5), "s": scipy.sparse.csr_matrix(np.eye(3)),
            "meta": ["x", (1, 2.5), b"", b"raw"]}
    for protocol in (2, 5):
        path = tmp_path / f"p{protocol}.pkl"
        path.write_bytes(pickle.dumps(data, protocol=protocol))
        out = load_pickle(path)
        np.testing.assert_array_equal(out["a"], data["a"])
        np.testing.assert_array_equal(_to_plain_array(out["s"]), np.eye(3))
        assert out["meta"] == data["meta"]
    mano = load_pickle(mannequin_dir / "smplx" / "MANO_SMPLX_vertex_ids.pkl")
    assert mano["left_hand"].shape == (778,)


@pytest.mark.parametrize("rate, ok", [(0.55, True), (0.0, True), (1.5, False), ("0.1", False), (True, False)])
def test_stored_drop_path_rate_is_checked(rate, ok):
    """A training checkpoint stores its stochastic-depth rate with the config; only a rate in [0, 1) loads."""
    from core.model.config import ModelConfig
    saved = dict(name="s32", embed_dim=384, depth=12, num_heads=12, drop_path_rate=rate)
    if ok:
        assert ModelConfig.from_dict(saved).drop_path_rate == rate
    else:
        with pytest.raises(ValueError, match="drop_path_rate"):
            ModelConfig.from_dict(saved)
