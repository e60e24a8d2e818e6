"""The 137-joint SMPL-X target set of SMPLer-X and the joint maps of every dataset layout it reads.

Reproduces `common/utils/human_models.py::SMPLX` (joint names, parts, flip pairs) and
`data/humandata.py::HumanDataset.SMPLX_137_MAPPING` of SMPLer-X (training_spec.md §3.3).

Deliberate fix (training_spec.md §3.3): the reference maps the ground-truth eyeball slots 67/68 (Face_3, Face_4) to
HumanData joints 56/57 while the network side (`smpl_x.joint_idx`) uses 57/56, so GT and prediction eye points were
swapped. Here one map, `SMPLX_TO_137`, serves both sides (57 = left eye, 56 = right eye, like body slots 22/23).
"""

from __future__ import annotations

import numpy as np

BODY_NAMES = (
    "Pelvis", "L_Hip", "R_Hip", "L_Knee", "R_Knee", "L_Ankle", "R_Ankle", "Neck", "L_Shoulder", "R_Shoulder",
    "L_Elbow", "R_Elbow", "L_Wrist", "R_Wrist", "L_Big_toe", "L_Small_toe", "L_Heel", "R_Big_toe", "R_Small_toe",
    "R_Heel", "L_Ear", "R_Ear", "L_Eye", "R_Eye", "Nose",
)
FINGERS = ("Thumb", "Index", "Middle", "Ring", "Pinky")
HAND_NAMES = tuple(f"{f}_{k}" for f in FINGERS for k in range(1, 5))
JOINT_NAMES = (
    BODY_NAMES
    + tuple("L_" + h for h in HAND_NAMES)
    + tuple("R_" + h for h in HAND_NAMES)
    + tuple(f"Face_{i}" for i in range(1, 73))
)
NUM_JOINTS = len(JOINT_NAMES)  # 137

PARTS = {
    "body": np.arange(0, 25),
    "lhand": np.arange(25, 45),
    "rhand": np.arange(45, 65),
    "face": np.arange(65, 137),
}
ROOT, NECK, L_WRIST, R_WRIST = 0, 7, 12, 13
POS_JOINTS = np.arange(0, 65)  # body + hands: the joints the PositionNets predict

# Indices into smplx's 144 output joints (== the first 144 HUMAN_DATA keypoints) for each of the 137 joints.
_LHAND_144 = [37, 38, 39, 66, 25, 26, 27, 67, 28, 29, 30, 68, 34, 35, 36, 69, 31, 32, 33, 70]
_RHAND_144 = [52, 53, 54, 71, 40, 41, 42, 72, 43, 44, 45, 73, 49, 50, 51, 74, 46, 47, 48, 75]
SMPLX_TO_137 = np.array(
    [0, 1, 2, 4, 5, 7, 8, 12, 16, 17, 18, 19, 20, 21, 60, 61, 62, 63, 64, 65, 59, 58, 57, 56, 55]
    + _LHAND_144 + _RHAND_144 + [22, 15, 57, 56] + list(range(76, 144)),
    dtype=np.int64,
)

# The reference's ground-truth map (`HumanDataset.SMPLX_137_MAPPING`): eyeball slots 67/68 swapped against the
# prediction's; used only when `one_eyeball_map` is off.
SMPLX_TO_137_REFERENCE_GT = SMPLX_TO_137.copy()
SMPLX_TO_137_REFERENCE_GT[[67, 68]] = [56, 57]


def _face_flip_pairs() -> list[tuple[int, int]]:
    """Mirror pairs of the 68-point face layout (51 landmarks at 69..119, 17 contour points at 120..136)."""
    lm = 69 - 17  # 137 index of 68-point landmark k (k >= 17)
    pairs = [(67, 68)]
    pairs += [(lm + a, lm + b) for a, b in [(17, 26), (18, 25), (19, 24), (20, 23), (21, 22)]]  # brows
    pairs += [(lm + a, lm + b) for a, b in [(31, 35), (32, 34)]]  # below the nose
    pairs += [(lm + a, lm + b) for a, b in [(36, 45), (37, 44), (38, 43), (39, 42), (40, 47), (41, 46)]]  # eyes
    pairs += [(lm + a, lm + b) for a, b in [(48, 54), (49, 53), (50, 52), (55, 59), (56, 58)]]  # outer lip
    pairs += [(lm + a, lm + b) for a, b in [(60, 64), (61, 63), (65, 67)]]  # inner lip
    pairs += [(120 + k, 136 - k) for k in range(8)]  # contour
    return pairs


def _name_flip_pairs(names: tuple[str, ...]) -> list[tuple[int, int]]:
    idx = {n: i for i, n in enumerate(names)}
    return [(i, idx["R_" + n[2:]]) for i, n in enumerate(names) if n.startswith("L_") and "R_" + n[2:] in idx]


FLIP_PAIRS = np.array(_name_flip_pairs(JOINT_NAMES) + _face_flip_pairs(), dtype=np.int64)


def flip_permutation(num: int, pairs: np.ndarray) -> np.ndarray:
    """Index array p with p[i] = mirror partner of i (itself when unpaired)."""
    perm = np.arange(num)
    perm[pairs[:, 0]] = pairs[:, 1]
    perm[pairs[:, 1]] = pairs[:, 0]
    return perm


FLIP_PERM = flip_permutation(NUM_JOINTS, FLIP_PAIRS)

# The 53 rotation joints of the (159,) pose target: root, 21 body (SMPL-X joints 1..21), 15 left hand,
# 15 right hand, jaw.
NUM_ROT = 53
_BODY_ROT_PAIRS = [(1, 2), (4, 5), (7, 8), (10, 11), (13, 14), (16, 17), (18, 19), (20, 21)]
ROT_FLIP_PAIRS = np.array(_BODY_ROT_PAIRS + [(22 + k, 37 + k) for k in range(15)], dtype=np.int64)
ROT_FLIP_PERM = flip_permutation(NUM_ROT, ROT_FLIP_PAIRS)
ROT_PARTS = {"root": [0], "body": list(range(1, 22)), "lhand": list(range(22, 37)), "rhand": list(range(37, 52)),
             "jaw": [52]}
# SMPLer-X invalidates these rotations and joints for MPII and Human3.6M (spec §2.2).
ROT_ANKLES_WRISTS = [7, 8, 20, 21]
FEET_137 = [14, 15, 16, 17, 18, 19]

# ---- dataset joint layouts (mapped to the 137 set by name; missing names stay invalid) ----
COCO_WHOLEBODY_NAMES = (
    ("Nose", "L_Eye", "R_Eye", "L_Ear", "R_Ear", "L_Shoulder", "R_Shoulder", "L_Elbow", "R_Elbow", "L_Wrist",
     "R_Wrist", "L_Hip", "R_Hip", "L_Knee", "R_Knee", "L_Ankle", "R_Ankle",
     "L_Big_toe", "L_Small_toe", "L_Heel", "R_Big_toe", "R_Small_toe", "R_Heel")
    + ("L_Wrist_Hand",) + tuple("L_" + h for h in HAND_NAMES)
    + ("R_Wrist_Hand",) + tuple("R_" + h for h in HAND_NAMES)
    + tuple(f"Face_{i}" for i in range(56, 73)) + tuple(f"Face_{i}" for i in range(5, 56))
)  # 133: body 17, feet 6, hands 21+21, face 68 (contour first), the COCO-WholeBody order
MPII_NAMES = ("R_Ankle", "R_Knee", "R_Hip", "L_Hip", "L_Knee", "L_Ankle", "Pelvis", "Thorax", "Neck", "Head_top",
              "R_Wrist", "R_Elbow", "R_Shoulder", "L_Shoulder", "L_Elbow", "L_Wrist")
# AGORA ships the first 127 smplx joints (55 skeleton + 21 vertex joints + 51 landmarks, no contour).
AGORA_NUM_JOINTS = 127


def name_map(src_names: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray]:
    """(dst_index, src_index) pairs mapping a named joint set onto the 137 set."""
    dst = {n: i for i, n in enumerate(JOINT_NAMES)}
    pairs = [(dst[n], i) for i, n in enumerate(src_names) if n in dst]
    return np.array([p[0] for p in pairs]), np.array([p[1] for p in pairs])


def to_137(joints: np.ndarray, src_names: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray]:
    """Map (K, C) joints of a named layout to (137, C) plus a (137,) validity (1 where the name exists)."""
    out = np.zeros((NUM_JOINTS, joints.shape[1]), np.float32)
    valid = np.zeros(NUM_JOINTS, np.float32)
    d, s = name_map(src_names)
    out[d] = joints[s]
    valid[d] = 1.0
    return out, valid


def smplx144_to_137(joints: np.ndarray) -> np.ndarray:
    """(..., 144, C) smplx joints (or the first 144 HUMAN_DATA keypoints) → (..., 137, C)."""
    return joints[..., SMPLX_TO_137, :]
