"""Per-sample training targets of SMPLer-X: joints in the 12×16×16 grid, camera-frame joints, SMPL-X parameters,
hand/face boxes, and every validity mask (training_spec.md §4.3–4.4).

Reproduces `process_db_coord`, `process_human_model_output` and `process_hand_face_bbox`
(`common/utils/preprocessing.py` of SMPLer-X) on a loader-independent *record* (see `training.datasets.base`).

Reference bugs fixed here (each is a deliberate, documented difference):
1. 2D-only supervision was always masked (`joint_trunc` required the original depth > 0, which is 0 for 2D data;
   spec §2.2/§10.2). Here the truncation test uses x and y only when the sample has no depth, and the depth channel
   is left unsupervised through `is_3D` (joint_img loss) — so MSCOCO/MPII keypoints and HumanData files without 3D
   keypoints do supervise the 2D heads.
2. Depth of hand and face joints: the reference mixed root-relative body-scale depth (`process_db_coord`) with
   wrist/neck-relative 0.3 m depth (`process_human_model_output`) for the same hand PositionNet. Both target sets use
   part-relative depth here (body: root, 2 m; hands: wrist, 0.3 m; face: neck, 0.3 m), which is what the hand
   PositionNet predicts.
3. The eyeball slots use one joint map for GT and prediction (see `training.joints`).
4. Parameter-derived 2D targets without a known camera fall back to the dataset keypoints (as the reference), but
   their depth is the SMPL-X forward's relative depth instead of a constant 0 (same truncation bug as 1).
Fixes 1 and 4 are `DataFlags.supervise_2d_only`, fix 2 is `DataFlags.part_relative_depth` (False = the reference,
whose truncation test also reads the un-flipped original coordinates joint by joint, reproduced as is).
"""

from __future__ import annotations

import numpy as np

from .augment import Aug, apply_affine, flip_joints, flip_points_2d, flip_pose, rotate_root
from .fidelity import DataFlags
from .joints import (L_WRIST, NECK, NUM_JOINTS, NUM_ROT, PARTS, R_WRIST, ROOT, ROT_FLIP_PERM, ROT_PARTS,
                     SMPLX_TO_137)

OUTPUT_HM_SHAPE = (16, 16, 12)  # (D, H, W) of the body heat-map grid
INPUT_IMG_SHAPE = (512, 384)
BODY_3D_SIZE, HAND_3D_SIZE, FACE_3D_SIZE = 2.0, 0.3, 0.3  # metres spanned by the 16 depth bins
MAX_ABS_BETA = 3.0
PART_OF_JOINT = np.zeros(NUM_JOINTS, np.int64)  # 0 body, 1 lhand, 2 rhand, 3 face
for _i, _p in enumerate(("body", "lhand", "rhand", "face")):
    PART_OF_JOINT[PARTS[_p]] = _i
_PART_ANCHOR = np.array([ROOT, L_WRIST, R_WRIST, NECK])[PART_OF_JOINT]
_PART_DEPTH = np.array([BODY_3D_SIZE, HAND_3D_SIZE, HAND_3D_SIZE, FACE_3D_SIZE])[PART_OF_JOINT]


def root_relative(j: np.ndarray) -> np.ndarray:
    """(137,3) camera joints → root-relative (the `joint_cam_wo_ra` convention)."""
    return j - j[ROOT]


def part_relative(j: np.ndarray) -> np.ndarray:
    """(…,137,3) joints → body root-relative, hands wrist-relative, face neck-relative (`joint_cam_ra`)."""
    rel = j - j[..., [ROOT], :]
    return rel - np.where((PART_OF_JOINT > 0)[:, None], rel[..., _PART_ANCHOR, :], 0.0)


def depth_bins(z_rel: np.ndarray) -> np.ndarray:
    """(137,) part-relative depth (m) → 16-bin grid units (body 2 m, hands/face 0.3 m spans)."""
    d = OUTPUT_HM_SHAPE[0]
    return (z_rel / (_PART_DEPTH / 2.0) + 1.0) / 2.0 * d


def to_grid(px: np.ndarray, img2bb: np.ndarray) -> np.ndarray:
    """(N,2) (flipped-)image pixels → (N,2) 12×16 body-grid units through the crop affine."""
    p = apply_affine(px, img2bb)
    return p * np.array([OUTPUT_HM_SHAPE[2] / INPUT_IMG_SHAPE[1], OUTPUT_HM_SHAPE[1] / INPUT_IMG_SHAPE[0]])


def body_depth_bins(z: np.ndarray) -> np.ndarray:
    """(137,) depth (m) relative to the root → 16-bin grid units on the body's 2 m span for every joint (the
    reference's `process_db_coord` convention for dataset keypoints)."""
    return (z / (BODY_3D_SIZE / 2.0) + 1.0) / 2.0 * OUTPUT_HM_SHAPE[0]


def in_grid(img: np.ndarray, check_depth: bool) -> np.ndarray:
    """(137,) 1 where a grid coordinate (x,y[,d]) lies inside the 12×16(×16) volume."""
    d, h, w = OUTPUT_HM_SHAPE
    ok = (img[:, 0] >= 0) & (img[:, 0] < w) & (img[:, 1] >= 0) & (img[:, 1] < h)
    if check_depth:
        ok &= (img[:, 2] >= 0) & (img[:, 2] < d)
    return ok.astype(np.float32)


def coord_targets(px: np.ndarray, cam: np.ndarray | None, valid: np.ndarray, aug: Aug, img_w: float,
                  img2bb: np.ndarray, px_valid: np.ndarray | None = None, body_scale_depth: bool = False,
                  orig_depth: np.ndarray | None = None) -> dict:
    """Grid and camera targets for one joint set.

    Args:
        px: (137,2) original-image pixels.
        cam: (137,3) metres, OpenCV camera frame (absolute or root-relative), or None for 2D-only.
        valid: (137,) 0/1.
        aug: augmentation (flip first, then rotation, as the reference).
        img_w: original image width (px) for the flip.
        img2bb: (2,3) affine of the (flipped) image to the crop.
        px_valid: (137,) validity of `px` alone when it differs from `valid` (SMPL-X joints whose 2D comes from the
            file's keypoints): it limits `trunc`, not `valid`.
        body_scale_depth: depth channel root-relative on the 2 m body span for every joint (the reference's
            dataset-keypoint convention) instead of part-relative.
        orig_depth: (137,) the reference's truncation (`supervise_2d_only=False`): a joint also needs x, y and this
            depth > 0 in the original, un-flipped arrays (index by index, even after a flip, as the reference);
            0 for 2D-only data, so all of it is masked. None = the fixed test.
    Returns:
        dict of `img` (137,3) grid x,y + depth bin (0 without depth), `cam` (137,3) root-relative rotated,
        `cam_ra` (137,3) part-relative rotated, `valid` (137,1), `trunc` (137,1).
    """
    px = px.astype(np.float64)
    cam = None if cam is None else cam.astype(np.float64)
    px_valid = np.ones_like(valid) if px_valid is None else px_valid
    orig_ok = np.ones(NUM_JOINTS, np.float32)
    if orig_depth is not None:
        orig_ok = ((px[:, 0] > 0) & (px[:, 1] > 0) & (np.asarray(orig_depth) > 0)).astype(np.float32)
    if aug.flip:
        px = flip_joints(flip_points_2d(px, img_w))
        valid, px_valid = flip_joints(valid), flip_joints(px_valid)
        if cam is not None:
            cam = flip_joints(cam * np.array([-1.0, 1.0, 1.0]))
    img = np.zeros((NUM_JOINTS, 3))
    img[:, :2] = to_grid(px, img2bb)
    if cam is not None:
        cam = cam @ aug.rot_mat.T
        cam_ra = part_relative(cam)
        cam_wo = root_relative(cam)
        img[:, 2] = body_depth_bins(cam_wo[:, 2]) if body_scale_depth else depth_bins(cam_ra[:, 2])
    else:
        cam_ra = cam_wo = np.zeros((NUM_JOINTS, 3))
    trunc = valid * px_valid * orig_ok * in_grid(img, cam is not None)
    return {"img": img.astype(np.float32), "cam": cam_wo.astype(np.float32), "cam_ra": cam_ra.astype(np.float32),
            "valid": valid.astype(np.float32)[:, None], "trunc": trunc.astype(np.float32)[:, None]}


def smplx_forward(body_model, params: dict, cam: dict | None, raw: bool = False) -> np.ndarray:
    """Camera-frame SMPL-X joints of one record.

    Args:
        body_model: a neutral smplx SMPL-X module (batch 1, flat_hand_mean=False, use_face_contour=True).
        params: `root_pose` (3,), `body_pose` (63,), `lhand_pose`/`rhand_pose` (45,) relative to the hand mean,
            `jaw_pose` (3,), `shape` (10,), `expr` (10,), `trans` (3,) metres.
        cam: optional `R` (3,3) and `t` (3,) metres taking the parameters' world frame to the camera.
        raw: return the smplx layer's own joint order (all its joints) instead of the 137 set.
    Returns:
        (137,3) joints (or the raw set), metres, OpenCV camera frame.
    """
    import torch

    def t(x):
        return torch.as_tensor(np.asarray(x, np.float32).reshape(1, -1))

    root = np.asarray(params["root_pose"], np.float64)
    rot = None if cam is None or cam.get("R") is None else np.asarray(cam["R"], np.float64)
    if rot is not None:
        root = rotate_root(root, rot)
    with torch.no_grad():
        out = body_model(global_orient=t(root), body_pose=t(params["body_pose"]),
                         left_hand_pose=t(params["lhand_pose"]), right_hand_pose=t(params["rhand_pose"]),
                         jaw_pose=t(params["jaw_pose"]), betas=t(params["shape"]), expression=t(params["expr"]),
                         leye_pose=torch.zeros(1, 3), reye_pose=torch.zeros(1, 3), transl=torch.zeros(1, 3))
    j = out.joints[0].numpy().astype(np.float64)
    if not raw:
        j = j[SMPLX_TO_137]
    trans = np.asarray(params.get("trans", np.zeros(3)), np.float64).reshape(3)
    if rot is None:
        return j + trans
    root_j = j[0]
    return j - root_j + rot @ (root_j + trans) + np.asarray(cam["t"], np.float64).reshape(3)


def project(cam_pts: np.ndarray, focal, princpt) -> np.ndarray:
    """(N,3) camera points (m) → (N,2) pixels with a pinhole camera."""
    z = cam_pts[:, 2:3]
    return cam_pts[:, :2] / z * np.asarray(focal) + np.asarray(princpt)


def smpl_slot_grid(body_model, params: dict, cam: dict, aug: Aug, img_w: float, img2bb: np.ndarray) -> np.ndarray:
    """The reference's 3DPW 2D target bug (`joint_img[:22] = smpl_joint_img[:22]`, spec §2.2): the 22 skeleton
    joints in SMPL order (pelvis, hips, spine1, knees, …) written into the first 22 slots of the 137 set, the rest 0.

    The skeleton joints of the SMPL-X forward stand in for the SMPL layer's (same order and kinematic tree; the
    positions differ by the two models' regressors). Flip swaps SMPL's pairs, depth is root-relative on the 2 m span.
    Returns:
        (137,3) grid x, y, depth bin.
    """
    j = smplx_forward(body_model, params, cam, raw=True)[:22]
    px = project(j, cam["focal"], cam["princpt"])
    z = j[:, 2] - j[0, 2]
    if aug.flip:
        px = flip_points_2d(px, img_w)
        perm = ROT_FLIP_PERM[:22]  # root + the 21 body rotations = SMPL's first 22 joints, same pairs
        px, z = px[perm], z[perm]
    out = np.zeros((NUM_JOINTS, 3))
    out[:22, :2] = to_grid(px, img2bb)
    out[:22, 2] = body_depth_bins(z)
    return out.astype(np.float32)


def param_targets(params: dict, pvalid: dict, aug: Aug, cam_rot: np.ndarray | None = None) -> dict:
    """Pose/shape/expression targets and validities (reference `process_human_model_output` steps 1, 7–10).

    Args:
        params: as `smplx_forward`; missing parts were filled with zeros by the loader.
        pvalid: per-part validity: `root`, `body`, `lhand`, `rhand`, `jaw`, `shape`, `expr` (floats 0/1).
        aug: the sample's augmentation.
        cam_rot: (3,3) world→camera rotation when the parameters live in a world frame (Human3.6M).
    Returns:
        `smplx_pose` (159,), `smplx_pose_valid` (159,), `smplx_shape` (10,), `smplx_shape_valid`, `smplx_expr`
        (10,), `smplx_expr_valid`.
    """
    pose = np.concatenate([np.reshape(params[k], (-1, 3)) for k in
                           ("root_pose", "body_pose", "lhand_pose", "rhand_pose", "jaw_pose")]).astype(np.float64)
    rvalid = np.zeros(NUM_ROT, np.float32)
    for part, idx in ROT_PARTS.items():
        rvalid[idx] = pvalid.get(part, 0.0)
    for j in pvalid.get("rot_invalid", ()):
        rvalid[j] = 0.0
    if cam_rot is not None:
        pose[0] = rotate_root(pose[0], cam_rot)
    if aug.flip:
        pose = flip_pose(pose)
        rvalid = rvalid[ROT_FLIP_PERM]
    pose[0] = rotate_root(pose[0], aug.rot_mat)
    shape = np.asarray(params["shape"], np.float32).reshape(-1)[:10].copy()
    shape_valid = float(pvalid.get("shape", 0.0))
    if np.any(np.abs(shape) > MAX_ABS_BETA) or not np.any(shape):
        shape[:] = 0.0
        shape_valid = 0.0
    expr = np.asarray(params["expr"], np.float32).reshape(-1)[:10]
    return {"smplx_pose": pose.reshape(-1).astype(np.float32), "smplx_pose_valid": np.repeat(rvalid, 3),
            "smplx_shape": shape, "smplx_shape_valid": np.float32(shape_valid),
            "smplx_expr": expr.astype(np.float32), "smplx_expr_valid": np.float32(pvalid.get("expr", 0.0))}


def box_targets(boxes: dict, aug: Aug, img_w: float, img2bb: np.ndarray) -> dict:
    """Hand/face box targets in grid units (reference `process_hand_face_bbox`).

    Args:
        boxes: `lhand`, `rhand`, `face` → (4,) xyxy original pixels, or None when absent.
    Returns:
        `{part}_bbox_center` (2,), `{part}_bbox_size` (2,), `{part}_bbox_valid` float; left/right swapped on flip.
    """
    out = {}
    for part in ("lhand", "rhand", "face"):
        b = boxes.get(part)
        if b is None:
            center, size, valid = np.zeros(2), np.zeros(2), 0.0
        else:
            b = np.asarray(b, np.float64).reshape(2, 2).copy()
            if aug.flip:
                b[:, 0] = img_w - 1 - b[:, 0]
                b[:, 0] = b[::-1, 0]
            (x0, y0), (x1, y1) = b
            corners = to_grid(np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]]), img2bb)
            lo, hi = corners.min(0), corners.max(0)
            center, size, valid = (lo + hi) / 2.0, hi - lo, 1.0
        out[part] = (center.astype(np.float32), size.astype(np.float32), np.float32(valid))
    if aug.flip:
        out["lhand"], out["rhand"] = out["rhand"], out["lhand"]
    res = {}
    for part, (c, s, v) in out.items():
        res[f"{part}_bbox_center"], res[f"{part}_bbox_size"], res[f"{part}_bbox_valid"] = c, s, v
    return res


def joint_validity_from_params(pvalid: dict) -> np.ndarray:
    """(137,) validity of SMPL-X-derived joints: a part's joints count when its parameters are labelled."""
    v = np.zeros(NUM_JOINTS, np.float32)
    v[PARTS["body"]] = pvalid.get("body", 0.0)
    v[PARTS["lhand"]] = pvalid.get("lhand", 0.0)
    v[PARTS["rhand"]] = pvalid.get("rhand", 0.0)
    v[PARTS["face"]] = pvalid.get("expr", 0.0) * pvalid.get("jaw", 0.0)
    return v


def build_targets(rec: dict, aug: Aug, img2bb: np.ndarray, body_model, flags: DataFlags = DataFlags()) -> dict:
    """All targets and masks of one record (training_spec.md §4.4), flat dict of float32 arrays.

    Records (see `training.datasets.base`) carry `kp2d` (137,3) px+valid or None, `kp3d` (137,4) m+valid or None,
    `smplx` params or None, `smplx_valid`, `cam` (`focal`, `princpt`, optional `R`, `t`), `boxes`, `img_shape`,
    `targets_from_smplx` (2D/3D joint targets are the SMPL-X forward's, as for UBody/H36M/PW3D/RenBody),
    `joint_invalid` (137-indices to mask). `flags` chooses the project's fixes or the reference's behaviour.
    """
    img_w = float(rec["img_shape"][1])
    cam = rec.get("cam") or {}
    has_focal = cam.get("focal") is not None
    params, pvalid = rec.get("smplx"), rec.get("smplx_valid", {})
    j_smplx = smplx_forward(body_model, params, cam) if params is not None else None
    px_valid = np.ones(NUM_JOINTS, np.float32)  # 2D of the SMPL-X joints: projected, or the file's keypoints
    if j_smplx is not None and has_focal:
        px_smplx = project(j_smplx, cam["focal"], cam["princpt"])
    elif rec.get("kp2d") is not None:
        px_smplx, px_valid = rec["kp2d"][:, :2], rec["kp2d"][:, 2].astype(np.float32)
    else:
        px_smplx = None

    # dataset keypoint targets
    kp2d, kp3d = rec.get("kp2d"), rec.get("kp3d")
    from_smplx = bool(rec.get("targets_from_smplx")) and j_smplx is not None and px_smplx is not None
    if from_smplx:
        px, cam3d, valid = px_smplx, j_smplx, joint_validity_from_params(pvalid)
        is_3d = 1.0
    elif kp2d is not None:
        px = kp2d[:, :2]
        valid = (kp3d[:, 3] if kp3d is not None else kp2d[:, 2]).astype(np.float32)
        cam3d = None if kp3d is None else kp3d[:, :3]
        is_3d = float(kp3d is not None)
    else:
        px, cam3d, valid, is_3d = np.zeros((NUM_JOINTS, 2)), None, np.zeros(NUM_JOINTS, np.float32), 0.0
    valid = valid.copy()
    valid[list(rec.get("joint_invalid", ()))] = 0.0
    body_scale = not flags.part_relative_depth and not from_smplx and cam3d is not None
    jt_depth = None
    if not flags.supervise_2d_only:  # the reference's x, y, depth > 0 test on the original coordinates
        if from_smplx:
            jt_depth = j_smplx[:, 2] if has_focal else np.zeros(NUM_JOINTS)
        else:
            jt_depth = np.zeros(NUM_JOINTS) if cam3d is None else body_depth_bins(root_relative(cam3d)[:, 2])
    jt = coord_targets(px, cam3d, valid, aug, img_w, img2bb, px_valid if from_smplx else None, body_scale, jt_depth)

    # SMPL-X targets: 3D keypoints when present (reference HumanData behaviour), else the parameters' forward
    if kp3d is not None and not rec.get("targets_from_smplx"):
        st = dict(jt)
    elif j_smplx is not None and px_smplx is not None:
        sv = joint_validity_from_params(pvalid)
        sv[list(rec.get("joint_invalid", ()))] = 0.0
        st_depth = None
        if not flags.supervise_2d_only:  # projected: the camera depth; file keypoints: depth 0 (all masked)
            st_depth = j_smplx[:, 2] if has_focal else np.zeros(NUM_JOINTS)
        st = coord_targets(px_smplx, j_smplx, sv, aug, img_w, img2bb, px_valid, orig_depth=st_depth)
    else:
        st = {k: np.zeros_like(v) for k, v in jt.items()}

    if rec.get("smpl_order_slots") and j_smplx is not None and has_focal:
        jt["img"] = st["img"] = smpl_slot_grid(body_model, params, cam, aug, img_w, img2bb)
    out = {
        "joint_img": jt["img"], "joint_cam": jt["cam"], "joint_valid": jt["valid"], "joint_trunc": jt["trunc"],
        "smplx_joint_img": st["img"], "smplx_joint_cam": st["cam_ra"], "smplx_joint_valid": st["valid"],
        "smplx_joint_trunc": st["trunc"], "is_3D": np.float32(is_3d),
    }
    if params is not None:
        out.update(param_targets(params, pvalid, aug, cam.get("R")))
    else:
        out.update({"smplx_pose": np.zeros(159, np.float32), "smplx_pose_valid": np.zeros(159, np.float32),
                    "smplx_shape": np.zeros(10, np.float32), "smplx_shape_valid": np.float32(0),
                    "smplx_expr": np.zeros(10, np.float32), "smplx_expr_valid": np.float32(0)})
    out.update(box_targets(rec.get("boxes", {}), aug, img_w, img2bb))
    return out
