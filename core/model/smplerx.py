"""SMPLer-X (Cai et al., NeurIPS 2023): crop → whole-body SMPL-X, the reference's `main/SMPLer_X.py: Model`.

The network is the same function as the original on the same weights (checked against
../shared/reference/parity); it runs on current PyTorch with no compiled extension (RoIAlign from torchvision,
attention through scaled_dot_product_attention) and loads the official checkpoints strictly.
"""

from __future__ import annotations

import logging
import math
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ..atomic import atomic_write
from ..body.joint_names import JOINT_IDX_137
from .checkpoint import CheckpointError, ours_to_official, read_checkpoint
from .config import (
    CAMERA_3D_SIZE,
    FACE_BOX_EXT,
    HAND_BOX_EXT,
    INPUT_BODY_SHAPE,
    INPUT_IMG_SHAPE,
    VIRTUAL_FOCAL,
    VIRTUAL_PRINCPT,
    ModelConfig,
    variant_config,
)
from .heads import (
    BODY_HM,
    HAND_HM,
    NUM_BODY_POS_JOINTS,
    NUM_HAND_POS_JOINTS,
    BodyRotationNet,
    BoxNet,
    FaceRegressor,
    HandRoI,
    HandRotationNet,
    PositionNet,
    restore_bbox,
)
from .rotation import rot6d_to_axis_angle
from .vit import ViTEncoder

__all__ = ["SMPLerX"]

log = logging.getLogger(__name__)

# t_z = k · sigmoid(c): k = sqrt(fx·fy·size² / (H·W)) of the body image, in float32 as the reference
_K_DEPTH = float(np.float32(math.sqrt(VIRTUAL_FOCAL[0] * VIRTUAL_FOCAL[1] * CAMERA_3D_SIZE ** 2
                                      / (INPUT_BODY_SHAPE[0] * INPUT_BODY_SHAPE[1]))))
_PARAM_KEYS = ("smplx_root_pose", "smplx_body_pose", "smplx_lhand_pose", "smplx_rhand_pose", "smplx_jaw_pose",
               "smplx_shape", "smplx_expr", "cam_trans")


class SMPLerX(nn.Module):
    """The whole network: ViT encoder, body/box/hand/face heads, and the SMPL-X layer for mesh outputs.

    Args:
        cfg: the network size (see `core.model.config.VARIANTS`).
        body_model: an smplx SMPL-X module (neutral, flat_hand_mean=False) or None for parameters only.
    """

    def __init__(self, cfg: ModelConfig, body_model: nn.Module | None = None) -> None:
        super().__init__()
        c = cfg.embed_dim
        self.cfg = cfg
        self.encoder = ViTEncoder(cfg)
        self.body_position_net = PositionNet(c, NUM_BODY_POS_JOINTS, BODY_HM)
        self.body_regressor = BodyRotationNet(c)
        self.box_net = BoxNet(c, cfg.box_width)
        self.hand_roi_net = HandRoI(c)
        self.hand_position_net = PositionNet(c, NUM_HAND_POS_JOINTS, HAND_HM)
        self.hand_regressor = HandRotationNet(c)
        self.face_regressor = FaceRegressor(c)
        self.smplx_layer = body_model
        self.compute_dtype = torch.float32
        self.register_buffer("joint_idx", torch.tensor(JOINT_IDX_137, dtype=torch.long), persistent=False)

    # ------------------------------------------------------------------ construction
    @classmethod
    def build(cls, variant: str | ModelConfig, body_model_dir: str | Path | None, device: Any = "cpu") -> "SMPLerX":
        """A randomly initialised network of a variant ("s32", "b32", "l32", "h32") or a custom config."""
        cfg = variant if isinstance(variant, ModelConfig) else variant_config(variant)
        model = cls(cfg, _load_body(body_model_dir, device))
        return model.to(device).eval()

    @classmethod
    def from_checkpoint(cls, path: str | Path, body_model_dir: str | Path | None, device: Any = "cpu",
                        dtype: torch.dtype = torch.float32, variant: str | None = None) -> "SMPLerX":
        """Load an official (or our) checkpoint strictly; the size comes from the weights.

        Args:
            path: `smpler_x_*.pth.tar` (official container, fp32 or fp16) or a bare state dict.
            body_model_dir: SMPL-X model directory (`smplx/SMPLX_NEUTRAL.npz` inside), None for no mesh outputs.
            device: where to run.
            dtype: compute dtype of the network (float32, or bfloat16/float16 through autocast); the rotation
                conversion and the SMPL-X layer always run in float32.
            variant: when given, the checkpoint must be of this size.

        Raises:
            FileNotFoundError: missing checkpoint or body model file.
            CheckpointError: unreadable file, a different size than requested, missing or unexpected keys.
        """
        sd, cfg, _ = read_checkpoint(path)
        if variant is not None:
            want = variant_config(variant)
            if (want.embed_dim, want.depth) != (cfg.embed_dim, cfg.depth):
                raise CheckpointError(
                    f"{path}: checkpoint is {cfg.name.upper()} (width {cfg.embed_dim}, depth {cfg.depth}), "
                    f"{want.name.upper()} requested (width {want.embed_dim}, depth {want.depth})")
        with torch.device("meta"):  # shapes only: a mismatched file fails before any memory is allocated
            _check_state_dict(cls(cfg, None), sd, path)
        model = cls(cfg, None)
        model.load_state_dict(sd, strict=True)
        model.smplx_layer = _load_body(body_model_dir, device)
        model.compute_dtype = dtype
        return model.to(device).eval()

    def save_checkpoint(self, path: str | Path, epoch: int = 0, optimizer: dict | None = None) -> Path:
        """Write the official container (`epoch`, `network` with `module.` keys, optional `optimizer`).

        Our `config` entry rides along so that custom sizes reload; the original's loader ignores it.
        The write is atomic (temporary file, then rename).
        """
        path = Path(path)
        state = {k: v.detach().cpu() for k, v in self.state_dict().items()}
        obj: dict[str, Any] = {"epoch": int(epoch), "network": ours_to_official(state), "config": self.cfg.to_dict()}
        if optimizer is not None:
            obj["optimizer"] = optimizer
        return atomic_write(path, lambda fh: torch.save(obj, fh))

    # ------------------------------------------------------------------ forward
    def forward(self, crops: torch.Tensor) -> dict[str, torch.Tensor]:
        """Network outputs before the SMPL-X layer.

        Args:
            crops: (B, 3, 512, 384) float RGB in [0, 1] (no mean/std), the affine crop of `core.crop`.

        Returns:
            dict of the reference's test-mode parameters, boxes (crop pixels) and `joint_img`, plus the raw
            intermediates `mid_*` used by training and the parity tests.
        """
        device_type = crops.device.type
        amp = (torch.autocast(device_type, dtype=self.compute_dtype)
               if self.compute_dtype != torch.float32 else nullcontext())
        with amp:
            net = self._network(crops)
        return self._decode({k: v.float() for k, v in net.items()}, crops.shape[0])

    def _network(self, crops: torch.Tensor) -> dict[str, torch.Tensor]:
        """The learned part: everything up to the 6D and raw camera outputs."""
        body_img = crops[:, :, ::2, ::2]  # the reference's F.interpolate 'nearest' to 256×192
        tokens, feat = self.encoder(body_img)
        body_hm, body_joint_img = self.body_position_net(feat)
        root6d, body6d, shape, cam = self.body_regressor(tokens[:, 6:], tokens[:, 0], tokens[:, 1],
                                                         body_joint_img.detach())
        centers, sizes = self.box_net(feat, body_hm.detach())
        hm_wh = (BODY_HM[2], BODY_HM[1])
        body_wh = (INPUT_BODY_SHAPE[1], INPUT_BODY_SHAPE[0])
        lbox = restore_bbox(centers[:, 0], sizes[:, 0], 1.0, HAND_BOX_EXT, hm_wh, body_wh).detach()
        rbox = restore_bbox(centers[:, 1], sizes[:, 1], 1.0, HAND_BOX_EXT, hm_wh, body_wh).detach()
        fbox = restore_bbox(centers[:, 2], sizes[:, 2], 1.0, FACE_BOX_EXT, hm_wh, body_wh)
        hand_feat = self.hand_roi_net(feat, lbox, rbox, body_wh)
        _, hand_joint_img = self.hand_position_net(hand_feat)
        hand6d = self.hand_regressor(hand_feat, hand_joint_img.detach())
        expr, jaw6d = self.face_regressor(tokens[:, 2], tokens[:, 3])
        return {
            "mid_root_pose_6d": root6d, "mid_body_pose_6d": body6d, "mid_hand_pose_6d": hand6d,
            "mid_jaw_pose_6d": jaw6d, "smplx_shape": shape, "smplx_expr": expr, "mid_cam_param": cam,
            "mid_body_joint_img": body_joint_img, "mid_hand_joint_img": hand_joint_img,
            "mid_lhand_bbox_body": lbox, "mid_rhand_bbox_body": rbox, "mid_face_bbox_body": fbox,
            "mid_box_centers": centers, "mid_box_sizes": sizes,
        }

    def _decode(self, net: dict[str, torch.Tensor], b: int) -> dict[str, torch.Tensor]:
        """6D → axis-angle, camera translation, hand un-flipping and the output units of the reference."""
        out = dict(net)
        out["smplx_root_pose"] = rot6d_to_axis_angle(net["mid_root_pose_6d"])
        out["smplx_body_pose"] = rot6d_to_axis_angle(net["mid_body_pose_6d"]).reshape(b, -1)
        out["smplx_jaw_pose"] = rot6d_to_axis_angle(net["mid_jaw_pose_6d"])
        hand = rot6d_to_axis_angle(net["mid_hand_pose_6d"]).reshape(2 * b, 15, 3)
        # the left hand was regressed mirrored: un-mirror as (x, −y, −z)
        out["smplx_lhand_pose"] = torch.cat((hand[:b, :, :1], -hand[:b, :, 1:]), dim=2).reshape(b, -1)
        out["smplx_rhand_pose"] = hand[b:].reshape(b, -1)
        cam = net["mid_cam_param"]
        out["cam_trans"] = torch.cat((cam[:, :2], (_K_DEPTH * torch.sigmoid(cam[:, 2]))[:, None]), dim=1)
        out["joint_img"] = self._joint_img(net, b)
        sx, sy = INPUT_IMG_SHAPE[1] / INPUT_BODY_SHAPE[1], INPUT_IMG_SHAPE[0] / INPUT_BODY_SHAPE[0]
        for part in ("lhand", "rhand", "face"):  # body-input pixels → crop pixels
            box = net[f"mid_{part}_bbox_body"]
            out[f"{part}_bbox"] = torch.stack((box[:, 0] * sx, box[:, 1] * sy, box[:, 2] * sx, box[:, 3] * sy), dim=1)
        return out

    @staticmethod
    def _joint_img(net: dict[str, torch.Tensor], b: int) -> torch.Tensor:
        """(B, 65, 3): body joints in body heat-map units, hand joints mapped through their boxes (x, y only)."""
        hand = net["mid_hand_joint_img"]
        left = torch.cat((HAND_HM[2] - 1 - hand[:b, :, :1], hand[:b, :, 1:]), dim=2)
        parts = [net["mid_body_joint_img"]]
        for joints, box in ((left, net["mid_lhand_bbox_body"]), (hand[b:], net["mid_rhand_bbox_body"])):
            bw, bh = INPUT_BODY_SHAPE[1], INPUT_BODY_SHAPE[0]
            x = joints[:, :, 0] * ((box[:, None, 2] - box[:, None, 0]) / bw * BODY_HM[2] / HAND_HM[2]) \
                + box[:, None, 0] / bw * BODY_HM[2]
            y = joints[:, :, 1] * ((box[:, None, 3] - box[:, None, 1]) / bh * BODY_HM[1] / HAND_HM[1]) \
                + box[:, None, 1] / bh * BODY_HM[1]
            parts.append(torch.stack((x, y, joints[:, :, 2]), dim=2))
        return torch.cat(parts, dim=1)

    def smplx_outputs(self, out: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Run the SMPL-X layer on predicted parameters → 144 joints, mesh and projected 137 joints.

        Returns:
            `smplx_mesh_cam` (B,10475,3) m, OpenCV virtual camera; `smplx_joint_proj` (B,137,2) body heat-map
            units; `smplx_joints144` (B,144,3) without the camera translation.
        """
        if self.smplx_layer is None:
            raise ValueError("this SMPLer-X has no body model: pass body_model_dir to get mesh outputs")
        b = out["smplx_root_pose"].shape[0]
        zeros = torch.zeros(b, 3, device=out["smplx_root_pose"].device)
        smpl = self.smplx_layer(
            betas=out["smplx_shape"], body_pose=out["smplx_body_pose"], global_orient=out["smplx_root_pose"],
            right_hand_pose=out["smplx_rhand_pose"], left_hand_pose=out["smplx_lhand_pose"],
            jaw_pose=out["smplx_jaw_pose"], leye_pose=zeros, reye_pose=zeros, expression=out["smplx_expr"])
        t = out["cam_trans"]
        joints = smpl.joints[:, self.joint_idx]
        z = joints[:, :, 2] + t[:, None, 2] + 1e-4
        x = (joints[:, :, 0] + t[:, None, 0]) / z * VIRTUAL_FOCAL[0] + VIRTUAL_PRINCPT[0]
        y = (joints[:, :, 1] + t[:, None, 1]) / z * VIRTUAL_FOCAL[1] + VIRTUAL_PRINCPT[1]
        x = x / INPUT_BODY_SHAPE[1] * BODY_HM[2]
        y = y / INPUT_BODY_SHAPE[0] * BODY_HM[1]
        return {"smplx_mesh_cam": smpl.vertices + t[:, None, :], "smplx_joint_proj": torch.stack((x, y), dim=2),
                "smplx_joints144": smpl.joints}

    @torch.inference_mode()
    def forward_crops(self, crops: torch.Tensor, with_mesh: bool = True) -> dict[str, torch.Tensor]:
        """Inference on crops: the reference's test-mode output dict (mesh outputs when `with_mesh`).

        Args:
            crops: (B, 3, 512, 384) float RGB in [0, 1], on any device (moved to the model's).
            with_mesh: also run the SMPL-X layer (`smplx_mesh_cam`, `smplx_joint_proj`).
        """
        crops = crops.to(self.encoder.pos_embed.device, torch.float32)
        out = self(crops)
        out["img"] = crops
        if with_mesh:
            out.update(self.smplx_outputs(out))
        return out

    @torch.inference_mode()
    def predict(self, image_rgb_uint8: np.ndarray, boxes_xyxy: np.ndarray, with_mesh: bool = False,
                ratio: float = 1.25) -> list[dict[str, np.ndarray]]:
        """One person per detector box, results in the original image's camera.

        Args:
            image_rgb_uint8: (H, W, 3) uint8 RGB frame.
            boxes_xyxy: (N, 4) detector boxes, original pixels.
            with_mesh: also return `vertices` (10475, 3), metres, original camera.
            ratio: box enlargement of `process_bbox` (the reference's 1.25).

        Returns:
            per box (None for boxes that `process_bbox` rejects): SMPL-X params named like smplx's keywords
            (`global_orient` (3,), `body_pose` (21,3), `left_hand_pose`/`right_hand_pose` (15,3) relative to
            hands_mean, `jaw_pose` (3,), `betas` (10,), `expression` (10,)), `transl` (3,) m in the original
            camera, `focal` (2,), `princpt` (2,), `bbox` processed xywh, and `lhand_bbox`, `rhand_bbox`,
            `face_bbox` xyxy in original pixels.
        """
        from ..camera import crop_camera
        from ..crop import crop_people

        batch = crop_people(image_rgb_uint8, np.asarray(boxes_xyxy, dtype=np.float64).reshape(-1, 4), ratio=ratio)
        results: list[dict[str, np.ndarray] | None] = [None] * len(batch.valid)
        if not batch.valid.any():
            return results
        out = self.forward_crops(torch.from_numpy(batch.crops), with_mesh=with_mesh)
        out = {k: v.cpu().numpy() for k, v in out.items() if k in _PARAM_KEYS or k.endswith("_bbox")
               or k == "smplx_mesh_cam"}
        for row, i in enumerate(np.flatnonzero(batch.valid)):
            focal, princpt = crop_camera(batch.bboxes[i])
            res = _params_row(out, row)
            res.update(focal=focal, princpt=princpt, bbox=batch.bboxes[i])
            for key in ("lhand_bbox", "rhand_bbox", "face_bbox"):
                res[key] = batch.crop_to_image(out[key][row].reshape(2, 2), i).reshape(4)
            if with_mesh:
                res["vertices"] = out["smplx_mesh_cam"][row]
            results[i] = res
        return results


def _params_row(out: dict[str, np.ndarray], row: int) -> dict[str, np.ndarray]:
    """One row of the output dict → arrays named like smplx's forward keywords."""
    return {
        "global_orient": out["smplx_root_pose"][row],
        "body_pose": out["smplx_body_pose"][row].reshape(21, 3),
        "left_hand_pose": out["smplx_lhand_pose"][row].reshape(15, 3),
        "right_hand_pose": out["smplx_rhand_pose"][row].reshape(15, 3),
        "jaw_pose": out["smplx_jaw_pose"][row],
        "betas": out["smplx_shape"][row],
        "expression": out["smplx_expr"][row],
        "transl": out["cam_trans"][row],
    }


def _load_body(model_dir: str | Path | None, device: Any) -> nn.Module | None:
    """The neutral SMPL-X layer the reference uses (flat_hand_mean=False, face contour, 10 betas/expr)."""
    if model_dir is None:
        return None
    from ..body import load_body_model

    return load_body_model(model_dir, gender="neutral", device=device)


def _check_state_dict(model: SMPLerX, sd: dict[str, torch.Tensor], path: str | Path) -> None:
    """CheckpointError naming every missing, unexpected or mis-shaped key together with the file."""
    own = model.state_dict()
    missing = sorted(k for k in own if k not in sd)
    unexpected = sorted(k for k in sd if k not in own)
    shapes = sorted(f"{k}: file {tuple(sd[k].shape)} vs model {tuple(own[k].shape)}"
                    for k in own if k in sd and tuple(sd[k].shape) != tuple(own[k].shape))
    if missing or unexpected or shapes:
        def _fmt(names: list[str]) -> str:
            return ", ".join(names[:8]) + (f" … (+{len(names) - 8})" if len(names) > 8 else "")
        parts = [f"{len(missing)} missing: {_fmt(missing)}" if missing else "",
                 f"{len(unexpected)} unexpected: {_fmt(unexpected)}" if unexpected else "",
                 f"{len(shapes)} of another shape: {_fmt(shapes)}" if shapes else ""]
        raise CheckpointError(f"{path}: does not match SMPLer-X {model.cfg.name.upper()}: "
                              + "; ".join(p for p in parts if p))
