"""The SMPL-X body layer, built with `smplx.create` exactly as SMPLer-X does (reference/model_spec.md §3.11).

torch and smplx are imported inside `load_body_model`, so importing `core.body` stays numpy-only.
"""

from __future__ import annotations

import logging
import os
from typing import Any

from .files import model_file_path, plain_model_file

logger = logging.getLogger(__name__)

# SMPLer-X's layer settings (`human_models.py`): full 45-D hand poses relative to the mean hand, face contour on.
DEFAULT_SMPLX_KWARGS: dict[str, Any] = {
    "use_pca": False,
    "use_face_contour": True,
    "flat_hand_mean": False,
    "num_betas": 10,
    "num_expression_coeffs": 10,
}


def load_body_model(model_dir: str | os.PathLike, gender: str = "neutral", device: Any = "cpu", **smplx_kwargs: Any):
    """An `smplx.SMPLX` module for `<model_dir>/smplx/SMPLX_<GENDER>.npz`, on `device`.

    Its forward takes smplx's keywords (betas (B,10), global_orient (B,3), body_pose (B,63), left/right_hand_pose
    (B,45) relative to the mean hand, jaw_pose, leye_pose, reye_pose (B,3), expression (B,10), transl (B,3) metres)
    and returns vertices (B,10475,3) and joints (B,144,3) in the model frame (Y up, metres).

    Args:
        model_dir: directory holding `smplx/` (or the `smplx/` folder itself).
        gender: "neutral", "male" or "female".
        device: torch device for the module's buffers.
        **smplx_kwargs: override DEFAULT_SMPLX_KWARGS or pass other `smplx.create` options (batch_size, dtype, ...).

    Raises:
        FileNotFoundError: the model file is absent (the message says where to get it).
        ValueError: unknown gender, or the file lacks an array or has wrong shapes (one line naming it).
    """
    path = model_file_path(model_dir, gender)
    import smplx  # lazy: torch-free callers of core.body never pay for it

    kwargs = {**DEFAULT_SMPLX_KWARGS, **smplx_kwargs}
    kwargs.setdefault("ext", "npz")
    logger.debug("loading SMPL-X %s from %s", gender, path)
    # smplx opens npz files with allow_pickle=True: it only ever sees a copy holding plain arrays
    with plain_model_file(path) as plain:
        model = smplx.create(str(plain), model_type="smplx", gender=gender.lower(), **kwargs)
    return model.to(device)
