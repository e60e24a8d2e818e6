"""SMPLer-X training losses (`main/SMPLer_X.py::Model.forward` train branch, `common/nets/loss.py`; spec §5).

Every term is an L1 `|pred − target| · mask` with the reference's weights: pose ×10 (axis-angle, root included),
shape ×1, expression ×1, 3D joints ×100 (`joint_cam` root-relative, `smplx_joint_cam` part-relative), hand/face boxes
×1, projected 2D joints ×1 (`joint_proj`), PositionNet joints ×1 (`joint_img`, `smplx_joint_img`).

Normalisation (documented choice): each term is `Σ |d|·mask / (B · K)` with B the batch size and K the elements
per sample — numerically the reference's `.mean()` over all elements. A labelled element therefore always has the
gradient weight 1/(B·K), however many other labels the batch happens to hold; dividing by the number of valid labels
instead would up-weight a rare label (a hand box, a 3D joint) whenever a batch has few of them, so the loss scale
would depend on the dataset mix of each batch.

Deliberate difference: every key is emitted in every step (a box loss with no valid box is an exact 0 that still
touches its parameters), so DDP needs no `find_unused_parameters` and the per-key all-reduce of the logs matches
across ranks (the reference emitted box keys only when the local batch had a valid box, spec §10.4).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .joints import L_WRIST, NECK, PARTS, POS_JOINTS, R_WRIST, ROOT

BODY_HM = (16, 16, 12)  # (D, H, W) body grid
HAND_HM = (16, 16, 16)
INPUT_BODY_SHAPE = (256, 192)
_L, _R, _F = (torch.as_tensor(PARTS[p]) for p in ("lhand", "rhand", "face"))


@dataclass(frozen=True)
class LossWeights:
    """Weights of the reference configs (`smplx_pose_weight` … `net_kps_2d_weight`)."""

    smplx_pose: float = 10.0
    smplx_shape: float = 1.0
    smplx_expr: float = 1.0
    joint_cam: float = 100.0
    smplx_joint_cam: float = 100.0
    box: float = 1.0
    joint_proj: float = 1.0
    joint_img: float = 1.0
    smplx_joint_img: float = 1.0


def masked_l1(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Σ|pred − target|·mask / numel(pred): the reference's mean over all elements, masked ones included."""
    return (torch.abs(pred - target) * mask).sum() / pred.numel()


def part_relative(j: torch.Tensor) -> torch.Tensor:
    """(B,137,3) → body root-relative, hands wrist-relative, face neck-relative (`joint_cam_ra`)."""
    rel = j - j[:, ROOT:ROOT + 1]
    out = rel.clone()
    out[:, _L] = rel[:, _L] - rel[:, L_WRIST:L_WRIST + 1]
    out[:, _R] = rel[:, _R] - rel[:, R_WRIST:R_WRIST + 1]
    out[:, _F] = rel[:, _F] - rel[:, NECK:NECK + 1]
    return out


def _to_hand_grid(xy: torch.Tensor, box: torch.Tensor) -> torch.Tensor:
    """(B,J,2) body-grid x,y → 16×16 hand-grid units of a (B,4) xyxy box given in body-input pixels."""
    sx, sy = BODY_HM[2] / INPUT_BODY_SHAPE[1], BODY_HM[1] / INPUT_BODY_SHAPE[0]
    x0, y0 = box[:, None, 0] * sx, box[:, None, 1] * sy
    w = (box[:, None, 2] - box[:, None, 0]) * sx
    h = (box[:, None, 3] - box[:, None, 1]) * sy
    return torch.stack(((xy[..., 0] - x0) * HAND_HM[2] / w, (xy[..., 1] - y0) * HAND_HM[1] / h), -1)


def hand_space_targets(coord: torch.Tensor, trunc: torch.Tensor, lbox: torch.Tensor, rbox: torch.Tensor):
    """Re-express hand joints of a (B,137,3) grid target in the predicted hand boxes and re-test truncation.

    Returns new (coord, trunc); hand z is scaled by 16/16 (HAND_HM[0]/BODY_HM[0]) as in the reference.
    """
    coord, trunc = coord.clone(), trunc.clone()
    for idx, box in ((_L, lbox), (_R, rbox)):
        xy = _to_hand_grid(coord[:, idx, :2], box)
        z = coord[:, idx, 2] * HAND_HM[0] / BODY_HM[0]
        inside = (xy[..., 0] >= 0) & (xy[..., 0] < HAND_HM[2]) & (xy[..., 1] >= 0) & (xy[..., 1] < HAND_HM[1])
        coord[:, idx] = torch.cat((xy, z[..., None]), -1)
        trunc[:, idx, 0] = trunc[:, idx, 0] * inside.to(trunc.dtype)
    return coord, trunc


def _align_translation(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Shift (B,J,2) predictions by the mean target−prediction offset over masked joints, so the term only sees the
    joints' layout relative to each other (the shift is differentiated through, as in the reference)."""
    offset = ((target - pred) * mask).sum(1, keepdim=True) / (mask.sum(1, keepdim=True) + 1e-6)
    return pred + offset


def compute_losses(pred: dict, batch: dict, w: LossWeights = LossWeights()) -> dict[str, torch.Tensor]:
    """All SMPLer-X loss terms (weighted).

    Args:
        pred: `smplx_pose` (B,159) axis-angle, `smplx_shape`, `smplx_expr` (B,10), `joint_cam` (B,137,3) m without
            the camera translation, `joint_proj` (B,137,2) body-grid units, `joint_img` (B,65,3) (body joints in
            body-grid units, hand joints in hand-RoI units with the left hand un-mirrored), `lhand_box`/`rhand_box`
            (B,4) xyxy body-input pixels (detached), `box_center`/`box_size` (B,3,2) grid units (lhand, rhand, face).
        batch: the collated targets and masks of `training.targets.build_targets`.
    Returns:
        dict of scalar tensors, one per key, always the same keys.
    """
    loss = {}
    loss["smplx_pose"] = w.smplx_pose * masked_l1(pred["smplx_pose"], batch["smplx_pose"], batch["smplx_pose_valid"])
    loss["smplx_shape"] = w.smplx_shape * masked_l1(pred["smplx_shape"], batch["smplx_shape"],
                                                    batch["smplx_shape_valid"][:, None])
    loss["smplx_expr"] = w.smplx_expr * masked_l1(pred["smplx_expr"], batch["smplx_expr"],
                                                  batch["smplx_expr_valid"][:, None])
    jc = pred["joint_cam"]
    loss["joint_cam"] = w.joint_cam * masked_l1(jc - jc[:, ROOT:ROOT + 1], batch["joint_cam"],
                                                batch["joint_valid"] * batch["is_3D"][:, None, None])
    loss["smplx_joint_cam"] = w.smplx_joint_cam * masked_l1(part_relative(jc), batch["smplx_joint_cam"],
                                                            batch["smplx_joint_valid"])
    for k, part in enumerate(("lhand", "rhand", "face")):
        valid = batch[f"{part}_bbox_valid"][:, None]
        loss[f"{part}_bbox"] = w.box * (
            masked_l1(pred["box_center"][:, k], batch[f"{part}_bbox_center"], valid)
            + masked_l1(pred["box_size"][:, k], batch[f"{part}_bbox_size"], valid))

    lbox, rbox = pred["lhand_box"].detach(), pred["rhand_box"].detach()
    joint_img, joint_trunc = hand_space_targets(batch["joint_img"], batch["joint_trunc"], lbox, rbox)
    sjoint_img, sjoint_trunc = hand_space_targets(batch["smplx_joint_img"], batch["smplx_joint_trunc"], lbox, rbox)

    proj = pred["joint_proj"].clone()
    for idx, box in ((_L, lbox), (_R, rbox)):
        proj[:, idx] = _to_hand_grid(proj[:, idx], box)
    for idx in (_L, _R, _F):  # 2D hand and face terms are translation-invariant (per sample, over valid joints)
        proj[:, idx] = _align_translation(proj[:, idx], joint_img[:, idx, :2], joint_trunc[:, idx])
    loss["joint_proj"] = w.joint_proj * masked_l1(proj, joint_img[:, :, :2], joint_trunc)

    pos = torch.as_tensor(POS_JOINTS, device=proj.device)
    net = pred["joint_img"]
    z_mask = batch["is_3D"][:, None, None]
    ji = joint_img[:, pos]
    jt = joint_trunc[:, pos]
    jmask = torch.cat((jt, jt, jt * z_mask), -1)  # depth only for 3D-labelled samples
    loss["joint_img"] = w.joint_img * masked_l1(net, ji, jmask)
    loss["smplx_joint_img"] = w.smplx_joint_img * masked_l1(net, sjoint_img[:, pos], sjoint_trunc[:, pos])
    return loss


def model_predictions(model, out: dict, b: int) -> dict:
    """The loss inputs from `core.model.SMPLerX`'s forward dict (`mid_*` intermediates) and its SMPL-X layer.

    Args:
        model: the unwrapped SMPLerX (its `smplx_outputs` runs the body layer).
        out: `SMPLerX.forward(crops)` output; b: batch size.
    """
    smpl = model.smplx_outputs(out)
    hand = out["mid_hand_joint_img"]
    left = torch.cat((HAND_HM[2] - 1 - hand[:b, :, :1], hand[:b, :, 1:]), 2)
    return {
        "smplx_pose": torch.cat([out["smplx_root_pose"], out["smplx_body_pose"], out["smplx_lhand_pose"],
                                 out["smplx_rhand_pose"], out["smplx_jaw_pose"]], 1),
        "smplx_shape": out["smplx_shape"], "smplx_expr": out["smplx_expr"],
        "joint_cam": smpl["smplx_joints144"][:, model.joint_idx],
        "joint_proj": smpl["smplx_joint_proj"],
        "joint_img": torch.cat((out["mid_body_joint_img"], left, hand[b:]), 1),
        "lhand_box": out["mid_lhand_bbox_body"], "rhand_box": out["mid_rhand_bbox_body"],
        "box_center": out["mid_box_centers"], "box_size": out["mid_box_sizes"],
    }
