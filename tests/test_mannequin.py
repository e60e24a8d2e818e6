"""The licence-free mannequin: SMPL-X file layout, loadable by smplx, human-shaped, and well behaved when posed.

References: the parity body model's file layout, smplx's forward pass and vertex ids, and the designer's own joint
positions (computed from the skeleton, not from the regressor).
"""

from __future__ import annotations

import numpy as np
import pytest

from core.body import JOINT_NAMES, PARENTS, load_body_model, load_pickle, read_model_arrays, write_mannequin
from core.body._mannequin_geometry import GENDER_PROPORTIONS, design_skeleton


def designed_joints(gender: str) -> np.ndarray:
    """The skeleton as designed (55,3), computed from the proportions alone, without any mesh or regressor."""
    return design_skeleton(GENDER_PROPORTIONS[gender])[0]

J = {n: i for i, n in enumerate(JOINT_NAMES)}
GENDERS = ("neutral", "male", "female")


@pytest.fixture(scope="module")
def arrays(mannequin_dir):
    return {g: read_model_arrays(mannequin_dir, g) for g in GENDERS}


@pytest.fixture(scope="module")
def neutral_model(mannequin_dir):
    return load_body_model(mannequin_dir)


@pytest.fixture(scope="module")
def rest(neutral_model):
    """Rest-shape forward with the flat hand (all poses zero): vertices (V,3) and joints (144,3)."""
    import torch

    with torch.no_grad():
        out = neutral_model(left_hand_pose=-neutral_model.left_hand_mean[None],
                            right_hand_pose=-neutral_model.right_hand_mean[None])
    return out.vertices[0].numpy().astype(np.float64), out.joints[0].numpy().astype(np.float64)


def _height(v):
    return float(v[:, 1].max() - v[:, 1].min())


def test_files_have_the_official_layout(mannequin_dir, parity_model_dir, arrays):
    smplx_dir = mannequin_dir / "smplx"
    for name in ("SMPLX_to_J14.pkl", "MANO_SMPLX_vertex_ids.pkl", "SMPL-X__FLAME_vertex_ids.npy"):
        assert (smplx_dir / name).is_file()
    ref = read_model_arrays(parity_model_dir)
    for g in GENDERS:
        a = arrays[g]
        assert set(a) == set(ref)
        for key in ref:
            assert a[key].dtype == ref[key].dtype, key
            if key == "f":
                assert a[key].shape[1] == 3 and 19000 < len(a[key]) < 22000
            else:
                assert a[key].shape == ref[key].shape, key
    j14 = load_pickle(smplx_dir / "SMPLX_to_J14.pkl")
    ref_j14 = load_pickle(parity_model_dir / "smplx" / "SMPLX_to_J14.pkl")
    assert j14.shape == ref_j14.shape and j14.dtype == ref_j14.dtype


@pytest.mark.parametrize("gender", GENDERS)
def test_loads_with_smplx(mannequin_dir, gender):
    import torch

    model = load_body_model(mannequin_dir, gender)
    with torch.no_grad():
        out = model()
    assert out.vertices.shape == (1, 10475, 3) and out.joints.shape == (1, 144, 3)
    assert model.J_regressor.shape == (55, 10475)
    assert model.parents.tolist() == PARENTS


def test_kintree_table(arrays):
    kt = arrays["neutral"]["kintree_table"]
    assert kt[0, 1:].tolist() == PARENTS[1:] and kt[1].tolist() == list(range(55))


@pytest.mark.parametrize("gender", GENDERS)
def test_regressor_reproduces_designed_joints(arrays, gender):
    a = arrays[gender]
    designed = designed_joints(gender)
    regressed = a["J_regressor"].astype(np.float64) @ a["v_template"].astype(np.float64)
    np.testing.assert_allclose(regressed, designed, atol=2e-6)


def test_smplx_rest_joints_are_the_designed_joints(rest):
    np.testing.assert_allclose(rest[1][:55], designed_joints("neutral"), atol=1e-5)


@pytest.mark.parametrize("gender", GENDERS)
def test_weights_and_regressor_rows(arrays, gender):
    a = arrays[gender]
    for key in ("weights", "J_regressor"):
        assert a[key].min() >= 0.0
        np.testing.assert_allclose(a[key].sum(1), 1.0, atol=1e-6)
    # every joint drives some vertices
    assert (a["weights"].max(0) > 0.5).all()


def test_weights_blend_smoothly_near_joints(arrays):
    """Along the left arm, the elbow's weight rises gradually, not as a step."""
    a = arrays["neutral"]
    v, w = a["v_template"], a["weights"]
    el, sh, wr = (J[f"left_{n}"] for n in ("elbow", "shoulder", "wrist"))
    designed = designed_joints("neutral")
    on_arm = (np.abs(v[:, 1] - designed[el, 1]) < 0.06) & (v[:, 0] > designed[sh, 0]) & (v[:, 0] < designed[wr, 0])
    blended = on_arm & (w[:, el] > 0.1) & (w[:, el] < 0.9)
    assert blended.sum() >= 20
    x = v[blended, 0]
    assert x.min() < designed[el, 0] < x.max()


def test_vertex_joints_sit_at_anatomical_places(rest):
    """smplx reads 21 fixed vertex ids (nose, eyes, ears, toes, heels, finger tips): they sit where the names say."""
    v, joints = rest
    jn = joints[:55]
    named = dict(zip(("nose", "reye", "leye", "rear", "lear", "LBigToe", "LSmallToe", "LHeel", "RBigToe", "RSmallToe",
                      "RHeel"), joints[55:66]))
    head = jn[J["head"]]
    assert named["nose"][2] > head[2] + 0.1 and abs(named["nose"][0]) < 1e-3
    assert np.linalg.norm(named["leye"] - jn[J["left_eye_smplhf"]]) < 0.02 and named["leye"][0] > 0
    assert np.linalg.norm(named["reye"] - jn[J["right_eye_smplhf"]]) < 0.02 and named["reye"][0] < 0
    assert named["lear"][0] > 0.07 and named["rear"][0] < -0.07
    for side, s in (("L", "left"), ("R", "right")):
        foot, ankle = jn[J[f"{s}_foot"]], jn[J[f"{s}_ankle"]]
        assert named[f"{side}BigToe"][2] > foot[2] and named[f"{side}SmallToe"][2] > foot[2]
        assert named[f"{side}Heel"][2] < ankle[2] and named[f"{side}Heel"][1] < ankle[1]
        # the big toe is medial (closer to the body's midline) than the small toe
        assert abs(named[f"{side}BigToe"][0]) < abs(named[f"{side}SmallToe"][0])
    tips = joints[66:76]
    for k, (side, finger) in enumerate([(s, f) for s in ("left", "right")
                                        for f in ("thumb", "index", "middle", "ring", "pinky")]):
        j3 = jn[J[f"{side}_{finger}3"]]
        assert 0.01 < np.linalg.norm(tips[k] - j3) < 0.05, (side, finger)
        assert np.sign(tips[k][0] - jn[J[f"{side}_wrist"]][0]) == (1 if side == "left" else -1)


def test_human_proportions(rest, arrays):
    v, joints = rest
    assert 1.6 < _height(v) < 1.8
    assert np.linalg.norm(joints[J["pelvis"]]) < 0.05
    assert joints[J["head"], 1] > joints[J["neck"], 1] > joints[J["spine3"], 1] > joints[J["pelvis"], 1]
    assert joints[J["left_ankle"], 1] < joints[J["left_knee"], 1] < joints[J["left_hip"], 1]
    assert joints[J["left_shoulder"], 0] > 0 and joints[J["right_shoulder"], 0] < 0     # subject's left = +x
    assert joints[J["left_foot"], 2] > joints[J["left_ankle"], 2]                        # toes forward (+z)
    # arm span about the height (T-pose)
    assert 0.9 < (v[:, 0].max() - v[:, 0].min()) / _height(v) < 1.15
    # symmetric
    mirrored = arrays["neutral"]["v_template"] * np.array([-1, 1, 1])
    from scipy.spatial import cKDTree

    d, _ = cKDTree(arrays["neutral"]["v_template"]).query(mirrored)
    assert d.max() < 1e-4


def test_male_and_female_differ(arrays):
    vm, vf = arrays["male"]["v_template"], arrays["female"]["v_template"]
    assert np.abs(vm - vf).max() > 0.02
    assert _height(vm) > _height(vf)
    jm = arrays["male"]["J_regressor"] @ vm
    jf = arrays["female"]["J_regressor"] @ vf
    def shoulder_to_hip(j):
        return (j[J["left_shoulder"], 0] - j[J["right_shoulder"], 0]) / (j[J["left_hip"], 0] - j[J["right_hip"], 0])

    assert shoulder_to_hip(jm) > shoulder_to_hip(jf)


def test_mesh_is_closed_and_outward(arrays):
    a = arrays["neutral"]
    f = a["f"].astype(np.int64)
    v = a["v_template"].astype(np.float64)
    assert f.min() >= 0 and f.max() < len(v)
    assert len(np.unique(f)) == len(v)           # every vertex is used
    assert (f[:, 0] != f[:, 1]).all() and (f[:, 1] != f[:, 2]).all() and (f[:, 0] != f[:, 2]).all()
    edges = np.sort(np.concatenate([f[:, [0, 1]], f[:, [1, 2]], f[:, [2, 0]]]), axis=1)
    _, counts = np.unique(edges, axis=0, return_counts=True)
    assert (counts == 2).all()                   # closed surfaces
    tri = v[f]
    volume = np.einsum("ij,ij->i", tri[:, 0], np.cross(tri[:, 1], tri[:, 2])).sum() / 6.0
    assert 0.04 < volume < 0.12                  # m³, outward normals (a 70 kg person is ~0.07 m³)


def test_betas_change_height_monotonically(neutral_model):
    import torch

    betas = torch.zeros(5, 10)
    betas[:, 0] = torch.linspace(-2, 2, 5)
    with torch.no_grad():
        v = neutral_model(betas=betas, global_orient=torch.zeros(5, 3), body_pose=torch.zeros(5, 63),
                          left_hand_pose=torch.zeros(5, 45), right_hand_pose=torch.zeros(5, 45),
                          jaw_pose=torch.zeros(5, 3), leye_pose=torch.zeros(5, 3), reye_pose=torch.zeros(5, 3),
                          expression=torch.zeros(5, 10)).vertices.numpy()
    heights = [_height(x) for x in v]
    assert np.all(np.diff(heights) > 0.02), heights


def test_every_beta_changes_the_shape_and_the_rest_are_zero(arrays):
    sd = arrays["neutral"]["shapedirs"]
    for k in range(10):
        assert np.abs(sd[:, :, k]).max() > 0.005, k
    assert np.abs(sd[:, :, 10:300]).max() == 0 and np.abs(sd[:, :, 310:]).max() == 0


def test_expressions_move_only_the_face(arrays, mannequin_dir):
    a = arrays["neutral"]
    expr = a["shapedirs"][:, :, 300:310].astype(np.float64)
    joints = a["J_regressor"] @ a["v_template"]
    head, neck = joints[J["head"]], joints[J["neck"]]
    flame = set(np.load(mannequin_dir / "smplx" / "SMPL-X__FLAME_vertex_ids.npy").tolist())
    for k in range(10):
        moved = np.flatnonzero(np.linalg.norm(expr[:, :, k], axis=1) > 1e-7)
        assert len(moved) > 20 and np.linalg.norm(expr[:, :, k], axis=1).max() > 0.002, k
        assert set(moved.tolist()) <= flame, k
        pos = a["v_template"][moved]
        assert (pos[:, 1] > neck[1]).all() and (pos[:, 2] > head[2]).all(), k    # on the front of the head
    # expressions do not move the skeleton
    np.testing.assert_allclose(np.einsum("jv,vck->jck", a["J_regressor"].astype(np.float64), expr), 0.0, atol=1e-7)


def test_mouth_opens_with_the_first_expression(neutral_model, rest):
    import torch

    lm0 = rest[1][76:127]
    with torch.no_grad():
        expr = torch.zeros(1, 10)
        expr[0, 0] = 2.0
        out = neutral_model(expression=expr, left_hand_pose=-neutral_model.left_hand_mean[None],
                            right_hand_pose=-neutral_model.right_hand_mean[None])
    lm1 = out.joints[0, 76:127].numpy()
    from core.body.joint_names import FACE_LANDMARK_NAMES

    bottom = FACE_LANDMARK_NAMES.index("mouth_bottom")
    assert lm1[bottom, 1] < lm0[bottom, 1] - 0.003


def test_pose_correctives_are_small_and_local(arrays):
    pd = arrays["neutral"]["posedirs"].astype(np.float64)
    assert np.abs(pd).max() > 1e-3 and np.abs(pd).max() < 0.01
    used = {c // 9 + 1 for c in np.flatnonzero(np.abs(pd).reshape(-1, 486).max(0) > 0)}
    assert used <= {J[f"{s}_{n}"] for s in ("left", "right") for n in ("shoulder", "elbow", "hip", "knee")}
    assert {J["left_elbow"], J["right_knee"]} <= used


def test_hand_means_and_components(arrays):
    a = arrays["neutral"]
    ml, mr = a["hands_meanl"].reshape(15, 3), a["hands_meanr"].reshape(15, 3)
    assert np.abs(mr).max() > 0.1
    np.testing.assert_allclose(ml, mr * np.array([1, -1, -1]), atol=1e-7)
    for side in "lr":
        c = a[f"hands_components{side}"].astype(np.float64)
        np.testing.assert_allclose(c @ c.T, np.eye(45), atol=1e-5)


def test_mean_hand_curls_towards_the_palm(neutral_model):
    """With flat_hand_mean=False and zero hand pose, the finger tips drop below the knuckles (palm faces -y)."""
    import torch

    with torch.no_grad():
        j = neutral_model().joints[0].numpy()
    for side, tip in (("left", 67), ("right", 72)):     # index tips
        assert j[tip, 1] < j[J[f"{side}_index1"], 1] - 0.02


def test_landmarks_are_on_the_face(arrays, rest):
    a = arrays["neutral"]
    head_vertices = a["v_template"][a["f"][a["lmk_faces_idx"]].ravel()]
    joints = a["J_regressor"] @ a["v_template"]
    head = joints[J["head"]]
    assert (np.linalg.norm(head_vertices - head, axis=1) < 0.2).all()
    for key in ("lmk_bary_coords", "dynamic_lmk_bary_coords"):
        assert a[key].min() >= 0 and np.allclose(a[key].sum(-1), 1.0, atol=1e-6)
    from core.body.joint_names import FACE_LANDMARK_NAMES

    lm = dict(zip(FACE_LANDMARK_NAMES, rest[1][76:127]))
    assert all(p[2] > head[2] + 0.05 for p in lm.values())           # on the front of the face
    assert lm["left_eye1"][0] > 0 > lm["right_eye1"][0]
    assert lm["left_eye_brow3"][1] > lm["left_eye1"][1] > lm["nose4"][1] > lm["mouth_top"][1] > lm["mouth_bottom"][1]
    contour = rest[1][127:144]
    assert contour[0][0] < 0 < contour[-1][0] and contour[8][1] < lm["mouth_bottom"][1]


def test_mano_and_flame_ids_index_hands_and_head(mannequin_dir, arrays):
    v = arrays["neutral"]["v_template"]
    joints = arrays["neutral"]["J_regressor"] @ v
    mano = load_pickle(mannequin_dir / "smplx" / "MANO_SMPLX_vertex_ids.pkl")
    assert set(mano) == {"left_hand", "right_hand"}
    for side in ("left", "right"):
        ids = mano[f"{side}_hand"]
        assert ids.dtype == np.int64 and ids.shape == (778,) and len(np.unique(ids)) == 778
        d = np.linalg.norm(v[ids] - joints[J[f"{side}_middle1"]], axis=1)
        assert d.max() < 0.12
        outward = 1.0 if side == "left" else -1.0          # the hand lies beyond the wrist (less a 2 cm margin)
        assert (outward * (v[ids, 0] - joints[J[f"{side}_wrist"], 0]) > -0.02).all()
    flame = np.load(mannequin_dir / "smplx" / "SMPL-X__FLAME_vertex_ids.npy")
    assert flame.dtype == np.int64 and flame.shape == (5023,) and len(np.unique(flame)) == 5023
    assert (np.linalg.norm(v[flame] - joints[J["head"]], axis=1) < 0.25).all()
    assert (v[flame, 1] > joints[J["neck"], 1] - 0.07).all()      # the neck reaches a little into the torso


def test_j14_regressor(mannequin_dir, arrays):
    from core.body.joint_names import LSP14_NAMES

    j14 = load_pickle(mannequin_dir / "smplx" / "SMPLX_to_J14.pkl")
    v = arrays["neutral"]["v_template"].astype(np.float64)
    joints = arrays["neutral"]["J_regressor"] @ v
    pts = j14 @ v
    np.testing.assert_allclose(j14.sum(1), 1.0)
    for row, name in enumerate(LSP14_NAMES[:-1]):
        np.testing.assert_allclose(pts[row], joints[J[name]], atol=1e-5)
    assert abs(pts[-1, 1] - v[:, 1].max()) < 1e-6        # head top


def test_random_poses_stay_plausible(neutral_model, rest):
    """A batch of moderate random poses: finite, and no vertex drifts away from the skeleton."""
    import torch

    v_rest, j_rest = rest
    rest_reach = np.linalg.norm(v_rest[:, None] - j_rest[None, :55], axis=2).min(1).max()
    gen = torch.Generator().manual_seed(0)
    b = 16
    body = (torch.rand(b, 21, 3, generator=gen) * 2 - 1) * 0.6
    kwargs = dict(
        global_orient=(torch.rand(b, 3, generator=gen) * 2 - 1) * 1.5,
        body_pose=body.reshape(b, 63),
        left_hand_pose=(torch.rand(b, 45, generator=gen) * 2 - 1) * 0.5,
        right_hand_pose=(torch.rand(b, 45, generator=gen) * 2 - 1) * 0.5,
        jaw_pose=torch.rand(b, 3, generator=gen) * 0.3,
        betas=torch.randn(b, 10, generator=gen),
        expression=torch.randn(b, 10, generator=gen),
        leye_pose=torch.zeros(b, 3), reye_pose=torch.zeros(b, 3),
    )
    with torch.no_grad():
        out = neutral_model(**kwargs)
    v, j = out.vertices.numpy(), out.joints.numpy()
    assert np.isfinite(v).all() and np.isfinite(j).all()
    reach = np.linalg.norm(v[:, :, None] - j[:, None, :55], axis=3).min(2)
    assert reach.max() < rest_reach + 0.08
    heights = np.linalg.norm(v - j[:, :1], axis=2).max(1)
    assert heights.max() < 1.3


def test_bent_elbow_keeps_the_forearm_rigid(neutral_model, rest):
    import torch

    body = torch.zeros(1, 21, 3)
    body[0, J["left_elbow"] - 1, 1] = -1.5           # bend the left elbow ~86° about y
    with torch.no_grad():
        flat = dict(left_hand_pose=-neutral_model.left_hand_mean[None],
                    right_hand_pose=-neutral_model.right_hand_mean[None])
        out = neutral_model(body_pose=body.reshape(1, 63), **flat)
    v, j = out.vertices[0].numpy(), out.joints[0].numpy()
    v0, j0 = rest
    hand = v0[:, 0] > j0[J["left_wrist"], 0] + 0.02
    d0 = np.linalg.norm(v0[hand] - j0[J["left_elbow"]], axis=1)
    d1 = np.linalg.norm(v[hand] - j[J["left_elbow"]], axis=1)
    np.testing.assert_allclose(d1, d0, atol=1e-5)
    assert np.linalg.norm(j[J["left_wrist"]] - j0[J["left_wrist"]]) > 0.2
    # the right side did not move
    right = v0[:, 0] < -0.2
    np.testing.assert_allclose(v[right], v0[right], atol=1e-6)


def test_identical_bytes_on_two_runs(tmp_path, mannequin_dir):
    """A second run into another directory writes the same bytes as the session's mannequin."""
    written = write_mannequin(tmp_path / "again")
    assert sorted(p.name for p in written) == sorted(p.name for p in (mannequin_dir / "smplx").iterdir())
    for p in written:
        assert p.read_bytes() == (mannequin_dir / "smplx" / p.name).read_bytes(), p.name
