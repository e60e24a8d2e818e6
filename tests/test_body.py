"""core.body: model files, safe unpickling, joint names and the smplx layer (parity model, reference outputs)."""

from __future__ import annotations

import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from core.body import (
    BODY_POSITION_JOINT_NAMES,
    HAND_POSE_JOINT_NAMES,
    JOINT_IDX_137,
    JOINT_NAMES,
    OUTPUT_JOINT_NAMES,
    PARENTS,
    VERTEX_JOINT_IDS,
    UnsafePickleError,
    convert_pkl_to_npz,
    default_model_dir,
    load_body_model,
    load_pickle,
    model_dir_status,
    model_file_path,
    read_model_arrays,
)
from core.body.joint_names import VERTEX_JOINT_KEYS, mirror_joint_name

ROOT = Path(__file__).resolve().parents[1]


# ---------------------------------------------------------------------------------------------------------------
# Restricted unpickler
# ---------------------------------------------------------------------------------------------------------------


class _Evil:
    def __reduce__(self):
        import os

        return (os.system, ("echo pwned",))


def test_load_pickle_refuses_code(tmp_path):
    path = tmp_path / "evil.pkl"
    path.write_bytes(pickle.dumps({"v": np.zeros(3), "x": _Evil()}, protocol=2))
    with pytest.raises(UnsafePickleError, match="system") as info:
        load_pickle(path)
    assert str(path) in str(info.value)


def test_load_pickle_refuses_chumpy_like_class(tmp_path):
    # protocol 2: GLOBAL chumpy.ch Ch, EMPTY_TUPLE, NEWOBJ, STOP (what a chumpy-laden SMPL pickle starts with)
    path = tmp_path / "chumpy.pkl"
    path.write_bytes(b"\x80\x02cchumpy.ch\nCh\nq\x00)\x81q\x01.")
    with pytest.raises(UnsafePickleError, match=r"chumpy\.ch\.Ch"):
        load_pickle(path)


def test_load_pickle_accepts_plain_data(tmp_path):
    import scipy.sparse

    data = {
        "ids": np.arange(7, dtype=np.int64),
        "reg": np.random.default_rng(0).standard_normal((3, 4)),
        "nested": [1, 2.5, "name", (np.float32(3.0), True)],
        "sparse": scipy.sparse.csr_matrix(np.eye(4)),
    }
    path = tmp_path / "ok.pkl"
    path.write_bytes(pickle.dumps(data, protocol=2))
    back = load_pickle(path)
    np.testing.assert_array_equal(back["ids"], data["ids"])
    np.testing.assert_array_equal(back["reg"], data["reg"])
    assert back["nested"][:3] == [1, 2.5, "name"]
    np.testing.assert_array_equal(back["sparse"].toarray(), np.eye(4))


def test_load_pickle_reads_parity_aux_files(parity_model_dir):
    mano = load_pickle(parity_model_dir / "smplx" / "MANO_SMPLX_vertex_ids.pkl")
    assert set(mano) == {"left_hand", "right_hand"} and mano["left_hand"].shape == (778,)
    j14 = load_pickle(parity_model_dir / "smplx" / "SMPLX_to_J14.pkl")
    assert j14.shape == (14, 10475)


def test_convert_pkl_to_npz(tmp_path):
    import scipy.sparse

    data = {"v_template": np.ones((5, 3), np.float32), "J_regressor": scipy.sparse.csc_matrix(np.eye(2, 5)),
            "note": "text is skipped", "kintree_table": np.array([[-1, 0], [0, 1]])}
    pkl = tmp_path / "model.pkl"
    pkl.write_bytes(pickle.dumps(data, protocol=2))
    out = convert_pkl_to_npz(pkl, tmp_path / "smplx" / "SMPLX_NEUTRAL.npz")
    with np.load(out, allow_pickle=False) as npz:
        assert set(npz.files) == {"v_template", "J_regressor", "kintree_table"}
        np.testing.assert_array_equal(npz["J_regressor"], np.eye(2, 5))


def test_load_pickle_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="nothing.pkl"):
        load_pickle(tmp_path / "nothing.pkl")


# ---------------------------------------------------------------------------------------------------------------
# Model directory
# ---------------------------------------------------------------------------------------------------------------


def test_missing_model_file_message(tmp_path):
    with pytest.raises(FileNotFoundError) as info:
        model_file_path(tmp_path, "female")
    msg = str(info.value)
    assert str(tmp_path / "smplx" / "SMPLX_FEMALE.npz") in msg
    assert "smpl-x.is.tue.mpg.de" in msg and "mannequin" in msg


def test_load_body_model_missing_file_fails_before_smplx(tmp_path):
    with pytest.raises(FileNotFoundError, match="SMPLX_NEUTRAL.npz"):
        load_body_model(tmp_path)


def test_bad_gender():
    with pytest.raises(ValueError, match="gender"):
        model_file_path(".", "alien")


def test_model_file_path_accepts_the_smplx_folder(parity_model_dir):
    assert model_file_path(parity_model_dir) == model_file_path(parity_model_dir / "smplx")


def test_read_model_arrays_matches_the_file(parity_model_dir):
    arrays = read_model_arrays(parity_model_dir)
    with np.load(parity_model_dir / "smplx" / "SMPLX_NEUTRAL.npz") as ref:
        assert set(arrays) == set(ref.files)
        for key in ref.files:
            np.testing.assert_array_equal(arrays[key], ref[key])


def test_read_model_arrays_skips_pickled_entries(tmp_path, mannequin_dir):
    """Official v1.1 files carry dicts (part2num, joint2num) as object arrays: skipped, never unpickled."""
    (tmp_path / "smplx").mkdir()
    plain = read_model_arrays(mannequin_dir, "MALE")
    np.savez(tmp_path / "smplx" / "SMPLX_MALE.npz", **plain, part2num=np.array({"head": 15}, dtype=object))
    arrays = read_model_arrays(tmp_path, "MALE")
    assert set(arrays) == set(plain)


def test_corrupt_model_file(tmp_path):
    (tmp_path / "smplx").mkdir()
    (tmp_path / "smplx" / "SMPLX_NEUTRAL.npz").write_bytes(b"not a zip")
    with pytest.raises(ValueError, match="SMPLX_NEUTRAL.npz"):
        read_model_arrays(tmp_path)


def test_missing_npz_mentions_a_pkl_beside_it(tmp_path):
    (tmp_path / "smplx").mkdir()
    (tmp_path / "smplx" / "SMPLX_NEUTRAL.pkl").write_bytes(b"")
    with pytest.raises(FileNotFoundError, match="convert_pkl_to_npz"):
        model_file_path(tmp_path)


def test_default_model_dir(monkeypatch, tmp_path):
    monkeypatch.setenv("SMPLX_VIDEO_MODELS", str(tmp_path))
    assert default_model_dir() == tmp_path
    monkeypatch.delenv("SMPLX_VIDEO_MODELS")
    assert default_model_dir() == Path.home() / "smplx_video_models"


def test_model_dir_status(parity_model_dir, tmp_path):
    rows = model_dir_status(parity_model_dir)
    present = {rel for rel, ok, _ in rows if ok}
    assert present == {"smplx/SMPLX_NEUTRAL.npz", "smplx/SMPLX_to_J14.pkl", "smplx/MANO_SMPLX_vertex_ids.pkl",
                       "smplx/SMPL-X__FLAME_vertex_ids.npy"}
    rels = [rel for rel, _, _ in rows]
    for rel in ("smplx/SMPLX_MALE.npz", "smplx/SMPLX_FEMALE.npz", "smpler_x_h32.pth.tar",
                "fasterrcnn_resnet50_fpn_coco-258fb6c6.pth"):
        assert rel in rels
    assert not any(ok for _, ok, _ in model_dir_status(tmp_path))
    assert all(how for _, _, how in rows)


def test_import_is_numpy_only():
    code = "import sys, core.body; bad = {'torch', 'smplx', 'cv2', 'scipy'} & set(sys.modules); assert not bad, bad"
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True)


# ---------------------------------------------------------------------------------------------------------------
# Joint names (checked against smplx's own tables and the parity model file)
# ---------------------------------------------------------------------------------------------------------------


def test_joint_names_match_smplx():
    import smplx.joint_names
    from smplx.vertex_ids import vertex_ids

    assert OUTPUT_JOINT_NAMES == smplx.joint_names.JOINT_NAMES
    assert JOINT_NAMES == smplx.joint_names.JOINT_NAMES[:55]
    assert VERTEX_JOINT_IDS == [vertex_ids["smplx"][k] for k in VERTEX_JOINT_KEYS]


def test_parents_match_the_model_file(parity_model_dir):
    kintree = read_model_arrays(parity_model_dir)["kintree_table"]
    assert PARENTS[1:] == kintree[0, 1:].tolist() and PARENTS[0] == -1
    assert all(PARENTS[j] < j for j in range(1, 55))


def test_joint_subsets():
    # 137 entries; the eyeballs appear twice (body eyes 22/23 and face eyeballs 67/68)
    assert len(JOINT_IDX_137) == 137 and len(set(JOINT_IDX_137)) == 135
    names = [OUTPUT_JOINT_NAMES[i] for i in JOINT_IDX_137]
    # the first 25 are the body position joints (same meaning, different spelling)
    assert names[:7] == ["pelvis", "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle"]
    assert names[20:25] == ["left_ear", "right_ear", "left_eye", "right_eye", "nose"]
    assert BODY_POSITION_JOINT_NAMES[20:25] == ["L_Ear", "R_Ear", "L_Eye", "R_Eye", "Nose"]
    # left hand: thumb1-3 then the thumb tip
    assert names[25:29] == ["left_thumb1", "left_thumb2", "left_thumb3", "left_thumb"]
    assert names[65:69] == ["jaw", "head", "left_eye", "right_eye"]
    assert HAND_POSE_JOINT_NAMES == [n[len("left_"):] for n in JOINT_NAMES[25:40]]
    assert mirror_joint_name("left_knee") == "right_knee" and mirror_joint_name("neck") == "neck"


# ---------------------------------------------------------------------------------------------------------------
# The smplx layer against the reference outputs
# ---------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("case", ["case0", "case3"])
def test_layer_reproduces_parity_mesh(parity_dir, parity_model_dir, case):
    import torch

    ref = np.load(parity_dir / "s32_reference_cases.npz")
    model = load_body_model(parity_model_dir)

    def t(key):
        return torch.from_numpy(ref[f"{case}_out_smplx_{key}"]).float()

    with torch.no_grad():
        out = model(betas=t("shape"), body_pose=t("body_pose"), global_orient=t("root_pose"),
                    left_hand_pose=t("lhand_pose"), right_hand_pose=t("rhand_pose"), jaw_pose=t("jaw_pose"),
                    expression=t("expr"), leye_pose=torch.zeros(1, 3), reye_pose=torch.zeros(1, 3))
    np.testing.assert_allclose(out.vertices.numpy(), ref[f"{case}_smplx_vertices_nocam"], atol=1e-5)
    np.testing.assert_allclose(out.joints.numpy(), ref[f"{case}_smplx_joints144"], atol=1e-5)
    # and the mesh in the camera is the reference output (vertices + cam_trans)
    cam = ref[f"{case}_out_cam_trans"][:, None, :]
    np.testing.assert_allclose(out.vertices.numpy() + cam, ref[f"{case}_out_smplx_mesh_cam"], atol=1e-5)


def test_layer_defaults(parity_model_dir):
    model = load_body_model(parity_model_dir)
    assert model.use_pca is False and model.num_betas == 10 and model.num_expression_coeffs == 10
    assert model.use_face_contour is True
    assert float(model.left_hand_mean.abs().sum()) > 0      # flat_hand_mean=False: the mean hand is used
    flat = load_body_model(parity_model_dir, flat_hand_mean=True)
    assert float(flat.left_hand_mean.abs().sum()) == 0
