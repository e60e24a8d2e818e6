"""SMPL-X joint names, the kinematic tree and the joint subsets SMPLer-X uses (pure Python, no numpy).

Orders follow smplx 0.1.28 (`smplx/joint_names.py`, `smplx/vertex_joint_selector.py`) and SMPLer-X
`common/utils/human_models.py` (`joint_idx`, reference/model_spec.md Appendix A). The Blender add-on imports this
module, so it must stay free of numpy, torch and smplx.
"""

from __future__ import annotations

# The 55 skeleton joints of the SMPL-X model file (rows of J_regressor, columns of the skinning weights).
JOINT_NAMES: list[str] = [
    "pelvis", "left_hip", "right_hip", "spine1", "left_knee", "right_knee", "spine2", "left_ankle", "right_ankle",
    "spine3", "left_foot", "right_foot", "neck", "left_collar", "right_collar", "head", "left_shoulder",
    "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist", "jaw", "left_eye_smplhf",
    "right_eye_smplhf", "left_index1", "left_index2", "left_index3", "left_middle1", "left_middle2",
    "left_middle3", "left_pinky1", "left_pinky2", "left_pinky3", "left_ring1", "left_ring2", "left_ring3",
    "left_thumb1", "left_thumb2", "left_thumb3", "right_index1", "right_index2", "right_index3", "right_middle1",
    "right_middle2", "right_middle3", "right_pinky1", "right_pinky2", "right_pinky3", "right_ring1", "right_ring2",
    "right_ring3", "right_thumb1", "right_thumb2", "right_thumb3",
]

# Parent of each of the 55 joints (row 0 of `kintree_table`; -1 for the root).
PARENTS: list[int] = [
    -1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 12, 13, 14, 16, 17, 18, 19, 15, 15, 15,
    20, 25, 26, 20, 28, 29, 20, 31, 32, 20, 34, 35, 20, 37, 38,
    21, 40, 41, 21, 43, 44, 21, 46, 47, 21, 49, 50, 21, 52, 53,
]

# The 21 extra joints smplx appends from single vertices (`VertexJointSelector` order): joints 55..75.
VERTEX_JOINT_NAMES: list[str] = [
    "nose", "right_eye", "left_eye", "right_ear", "left_ear", "left_big_toe", "left_small_toe", "left_heel",
    "right_big_toe", "right_small_toe", "right_heel", "left_thumb", "left_index", "left_middle", "left_ring",
    "left_pinky", "right_thumb", "right_index", "right_middle", "right_ring", "right_pinky",
]

# smplx's key for each vertex joint in `smplx.vertex_ids.vertex_ids['smplx']`, same order as VERTEX_JOINT_NAMES.
VERTEX_JOINT_KEYS: list[str] = [
    "nose", "reye", "leye", "rear", "lear", "LBigToe", "LSmallToe", "LHeel", "RBigToe", "RSmallToe", "RHeel",
    "lthumb", "lindex", "lmiddle", "lring", "lpinky", "rthumb", "rindex", "rmiddle", "rring", "rpinky",
]

# The vertex each of them reads in an SMPL-X mesh (`smplx.vertex_ids.vertex_ids['smplx']`), same order.
VERTEX_JOINT_IDS: list[int] = [
    9120, 9929, 9448, 616, 6, 5770, 5780, 8846, 8463, 8474, 8635, 5361, 4933, 5058, 5169, 5286, 8079, 7669, 7794,
    7905, 8022,
]

# The 51 static face landmarks (joints 76..126) and the 17 dynamic contour points (joints 127..143).
FACE_LANDMARK_NAMES: list[str] = [
    "right_eye_brow1", "right_eye_brow2", "right_eye_brow3", "right_eye_brow4", "right_eye_brow5",
    "left_eye_brow5", "left_eye_brow4", "left_eye_brow3", "left_eye_brow2", "left_eye_brow1", "nose1", "nose2",
    "nose3", "nose4", "right_nose_2", "right_nose_1", "nose_middle", "left_nose_1", "left_nose_2", "right_eye1",
    "right_eye2", "right_eye3", "right_eye4", "right_eye5", "right_eye6", "left_eye4", "left_eye3", "left_eye2",
    "left_eye1", "left_eye6", "left_eye5", "right_mouth_1", "right_mouth_2", "right_mouth_3", "mouth_top",
    "left_mouth_3", "left_mouth_2", "left_mouth_1", "left_mouth_5", "left_mouth_4", "mouth_bottom",
    "right_mouth_4", "right_mouth_5", "right_lip_1", "right_lip_2", "lip_top", "left_lip_2", "left_lip_1",
    "left_lip_3", "lip_bottom", "right_lip_3",
]
CONTOUR_NAMES: list[str] = [
    "right_contour_1", "right_contour_2", "right_contour_3", "right_contour_4", "right_contour_5",
    "right_contour_6", "right_contour_7", "right_contour_8", "contour_middle", "left_contour_8", "left_contour_7",
    "left_contour_6", "left_contour_5", "left_contour_4", "left_contour_3", "left_contour_2", "left_contour_1",
]

# Names of the 144 joints of `smplx.create(..., use_face_contour=True)(...).joints`.
OUTPUT_JOINT_NAMES: list[str] = JOINT_NAMES + VERTEX_JOINT_NAMES + FACE_LANDMARK_NAMES + CONTOUR_NAMES

# SMPLer-X's 137-joint set (`human_models.py: joint_idx`): indices into the 144 output joints.
JOINT_IDX_137: list[int] = (
    [0, 1, 2, 4, 5, 7, 8, 12, 16, 17, 18, 19, 20, 21, 60, 61, 62, 63, 64, 65, 59, 58, 57, 56, 55]
    + [37, 38, 39, 66, 25, 26, 27, 67, 28, 29, 30, 68, 34, 35, 36, 69, 31, 32, 33, 70]
    + [52, 53, 54, 71, 40, 41, 42, 72, 43, 44, 45, 73, 49, 50, 51, 74, 46, 47, 48, 75]
    + [22, 15, 57, 56]
    + list(range(76, 144))
)

# The 25 body position joints of SMPLer-X's `PositionNet('body')` (the first 25 of the 137 set).
BODY_POSITION_JOINT_NAMES: list[str] = [
    "Pelvis", "L_Hip", "R_Hip", "L_Knee", "R_Knee", "L_Ankle", "R_Ankle", "Neck", "L_Shoulder", "R_Shoulder",
    "L_Elbow", "R_Elbow", "L_Wrist", "R_Wrist", "L_Big_toe", "L_Small_toe", "L_Heel", "R_Big_toe", "R_Small_toe",
    "R_Heel", "L_Ear", "R_Ear", "L_Eye", "R_Eye", "Nose",
]

# The 20 hand position joints per hand (wrist excluded; 4 = the finger tip), as `PositionNet('hand')` orders them.
HAND_POSITION_JOINT_NAMES: list[str] = [
    f"{finger}_{k}" for finger in ("Thumb", "Index", "Middle", "Ring", "Pinky") for k in (1, 2, 3, 4)
]

# The 15 hand rotation joints, in SMPL-X order (hand pose vectors are (15,3) in this order, per hand).
HAND_POSE_JOINT_NAMES: list[str] = [
    f"{finger}{k}" for finger in ("index", "middle", "pinky", "ring", "thumb") for k in (1, 2, 3)
]

# The 21 body joints of `body_pose` (SMPL-X joints 1..21).
BODY_POSE_JOINT_NAMES: list[str] = JOINT_NAMES[1:22]

# LSP-14 order of `SMPLX_to_J14.pkl` rows, with the SMPL-X joint whose location each row approximates
# ("head" is the top of the head in LSP; the mannequin uses the crown).
LSP14_NAMES: list[str] = [
    "right_ankle", "right_knee", "right_hip", "left_hip", "left_knee", "left_ankle", "right_wrist", "right_elbow",
    "right_shoulder", "left_shoulder", "left_elbow", "left_wrist", "neck", "head_top",
]

NUM_JOINTS = len(JOINT_NAMES)
NUM_BODY_JOINTS = 21
NUM_HAND_JOINTS = 15
NECK_IDX = JOINT_NAMES.index("neck")
LEFT_HAND_START = JOINT_NAMES.index("left_index1")
RIGHT_HAND_START = JOINT_NAMES.index("right_index1")


def joint_index(name: str) -> int:
    """Index of an SMPL-X joint name among the 55 skeleton joints; ValueError names the unknown joint."""
    try:
        return JOINT_NAMES.index(name)
    except ValueError:
        raise ValueError(f"unknown SMPL-X joint name {name!r}; expected one of core.body.JOINT_NAMES") from None


def mirror_joint_name(name: str) -> str:
    """The left/right counterpart of a joint name (`left_knee` → `right_knee`); centre joints map to themselves."""
    if name.startswith("left_"):
        return "right_" + name[5:]
    if name.startswith("right_"):
        return "left_" + name[6:]
    return name
