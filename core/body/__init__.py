"""SMPL-X body model: model files, the smplx layer, joint names and the licence-free mannequin.

Importing this package needs numpy only (the Blender add-on uses the file reading and joint names);
`load_body_model` imports torch and smplx when called.
"""

from .files import (
    AUX_FILES,
    ENV_VAR,
    GENDERS,
    UnsafePickleError,
    convert_pkl_to_npz,
    default_model_dir,
    expected_model_files,
    load_pickle,
    model_dir_status,
    model_file_path,
    read_model_arrays,
)
from .joint_names import (
    BODY_POSITION_JOINT_NAMES,
    HAND_POSE_JOINT_NAMES,
    HAND_POSITION_JOINT_NAMES,
    JOINT_IDX_137,
    JOINT_NAMES,
    LSP14_NAMES,
    OUTPUT_JOINT_NAMES,
    PARENTS,
    VERTEX_JOINT_IDS,
    VERTEX_JOINT_NAMES,
)
from .layer import DEFAULT_SMPLX_KWARGS, load_body_model
from .mannequin import build_mannequin, write_mannequin

__all__ = [
    "AUX_FILES",
    "BODY_POSITION_JOINT_NAMES",
    "DEFAULT_SMPLX_KWARGS",
    "ENV_VAR",
    "GENDERS",
    "HAND_POSE_JOINT_NAMES",
    "HAND_POSITION_JOINT_NAMES",
    "JOINT_IDX_137",
    "JOINT_NAMES",
    "LSP14_NAMES",
    "OUTPUT_JOINT_NAMES",
    "PARENTS",
    "UnsafePickleError",
    "VERTEX_JOINT_IDS",
    "VERTEX_JOINT_NAMES",
    "build_mannequin",
    "convert_pkl_to_npz",
    "default_model_dir",
    "expected_model_files",
    "load_body_model",
    "load_pickle",
    "model_dir_status",
    "model_file_path",
    "read_model_arrays",
    "write_mannequin",
]
