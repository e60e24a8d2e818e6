"""Losses (training/losses.py) against hand-computed values."""

from __future__ import annotations

import torch

from training.losses import LossWeights, compute_losses, hand_space_targets, masked_l1, part_relative
from training.joints import L_WRIST, NECK, PARTS


def _batch(b=2):
    z = torch.zeros
    batch = {
        "smplx_pose": z(b, 159), "smplx_pose_valid": torch.ones(b, 159), "smplx_shape": z(b, 10),
        "smplx_shape_valid": torch.ones(b), "smplx_expr": z(b, 10), "smplx_expr_valid": torch.ones(b),
        "joint_cam": z(b, 137, 3), "joint_valid": torch.ones(b, 137, 1), "is_3D": torch.ones(b),
        "smplx_joint_cam": z(b, 137, 3), "smplx_joint_valid": torch.ones(b, 137, 1),
        "joint_img": z(b, 137, 3), "joint_trunc": z(b, 137, 1), "smplx_joint_img": z(b, 137, 3),
        "smplx_joint_trunc": z(b, 137, 1),
    }
    for p in ("lhand", "rhand", "face"):
        batch[f"{p}_bbox_center"], batch[f"{p}_bbox_size"], batch[f"{p}_bbox_valid"] = z(b, 2), z(b, 2), z(b)
    pred = {"smplx_pose": z(b, 159), "smplx_shape": z(b, 10), "smplx_expr": z(b, 10), "joint_cam": z(b, 137, 3),
            "joint_proj": z(b, 137, 2), "joint_img": z(b, 65, 3),
            "lhand_box": torch.tensor([[0.0, 0.0, 16.0, 16.0]] * b), "rhand_box": torch.tensor([[0, 0, 16.0, 16]] * b),
            "box_center": z(b, 3, 2), "box_size": z(b, 3, 2)}
    return pred, batch


def test_masked_l1_is_mean_over_all_elements():
    pred = torch.tensor([[1.0, 2.0], [3.0, 4.0]])
    assert float(masked_l1(pred, torch.zeros(2, 2), torch.tensor([[1.0, 0.0], [0.0, 1.0]]))) == (1 + 4) / 4


def test_same_keys_and_zero_for_perfect_prediction():
    pred, batch = _batch()
    loss = compute_losses(pred, batch)
    assert set(loss) == {"smplx_pose", "smplx_shape", "smplx_expr", "joint_cam", "smplx_joint_cam", "lhand_bbox",
                         "rhand_bbox", "face_bbox", "joint_proj", "joint_img", "smplx_joint_img"}
    assert all(float(v) == 0.0 for v in loss.values())


def test_pose_shape_expr_values():
    pred, batch = _batch()
    pred["smplx_pose"][0, 5] = 0.3  # one element off
    batch["smplx_pose_valid"][1] = 0.0
    pred["smplx_pose"][1, :] = 9.0  # masked sample
    pred["smplx_shape"][0, 0] = 2.0
    batch["smplx_expr_valid"][0] = 0.0
    pred["smplx_expr"][0] = 5.0
    loss = compute_losses(pred, batch)
    assert abs(float(loss["smplx_pose"]) - 10 * 0.3 / (2 * 159)) < 1e-7
    assert abs(float(loss["smplx_shape"]) - 2.0 / 20) < 1e-7
    assert float(loss["smplx_expr"]) == 0.0


def test_joint_cam_root_relative_and_is3d_mask():
    pred, batch = _batch()
    pred["joint_cam"][:, :, 2] = 5.0  # a pure translation: root-relative error 0
    pred["joint_cam"][0, 3, 0] += 0.1  # one joint off by 10 cm
    batch["is_3D"][1] = 0.0
    pred["joint_cam"][1, 4, 1] += 1.0  # not 3D-labelled: ignored by joint_cam
    loss = compute_losses(pred, batch)
    assert abs(float(loss["joint_cam"]) - 100 * 0.1 / (2 * 137 * 3)) < 1e-6
    # smplx_joint_cam: part-relative, is_3D does not apply; joint 4 (R_Knee) is body → root-relative error 1.0
    assert abs(float(loss["smplx_joint_cam"]) - 100 * (0.1 + 1.0) / (2 * 137 * 3)) < 1e-6


def test_part_relative_anchors():
    j = torch.randn(1, 137, 3)
    r = part_relative(j)
    assert torch.allclose(r[0, 0], torch.zeros(3))
    assert torch.allclose(r[0, PARTS["lhand"][0]], j[0, PARTS["lhand"][0]] - j[0, L_WRIST])
    assert torch.allclose(r[0, PARTS["face"][5]], j[0, PARTS["face"][5]] - j[0, NECK])


def test_box_loss_only_for_valid_boxes():
    pred, batch = _batch()
    batch["face_bbox_valid"][0] = 1.0
    batch["face_bbox_center"][0] = torch.tensor([1.0, 2.0])
    batch["face_bbox_size"][0] = torch.tensor([0.5, 0.5])
    batch["lhand_bbox_center"][1] = torch.tensor([7.0, 7.0])  # invalid → ignored
    loss = compute_losses(pred, batch)
    assert abs(float(loss["face_bbox"]) - ((1 + 2) / 4 + (0.5 + 0.5) / 4)) < 1e-7
    assert float(loss["lhand_bbox"]) == 0.0


def test_hand_targets_in_box_units():
    coord = torch.zeros(1, 137, 3)
    coord[0, 25] = torch.tensor([2.0, 3.0, 8.0])  # body grid
    trunc = torch.ones(1, 137, 1)
    box = torch.tensor([[16.0, 32.0, 48.0, 96.0]])  # body px: grid x0=1, y0=2, w=2, h=4
    c, t = hand_space_targets(coord, trunc, box, box)
    assert torch.allclose(c[0, 25], torch.tensor([(2 - 1) * 16 / 2, (3 - 2) * 16 / 4, 8.0]))
    assert t[0, 25, 0] == 1 and t[0, 45, 0] == 0  # right-hand joint at (0,0) is outside its box


def test_joint_proj_hand_terms_are_translation_invariant():
    pred, batch = _batch(1)
    batch["joint_trunc"][:] = 1.0
    g = torch.Generator().manual_seed(0)
    batch["joint_img"][0, :, :2] = torch.rand(137, 2, generator=g) * 0.5 + 0.2
    pred["joint_proj"][0] = batch["joint_img"][0, :, :2] + 0.01 * torch.randn(137, 2, generator=g)
    base = float(compute_losses(pred, batch)["joint_proj"])
    pred["joint_proj"][0, PARTS["face"]] += torch.tensor([0.3, -0.2])
    assert abs(float(compute_losses(pred, batch)["joint_proj"]) - base) < 1e-5
    pred["joint_proj"][0, PARTS["body"]] += torch.tensor([0.3, -0.2])  # the body is not aligned
    assert float(compute_losses(pred, batch)["joint_proj"]) > base + 0.01


def test_joint_img_depth_only_when_3d():
    pred, batch = _batch(1)
    batch["joint_trunc"][:] = 1.0
    batch["smplx_joint_trunc"][:] = 0.0
    batch["is_3D"][:] = 0.0
    pred["joint_img"][0, 0] = torch.tensor([0.0, 0.0, 4.0])  # body joint 0: only depth wrong
    w = LossWeights()
    assert float(compute_losses(pred, batch, w)["joint_img"]) == 0.0
    batch["is_3D"][:] = 1.0
    assert abs(float(compute_losses(pred, batch, w)["joint_img"]) - 4.0 / (65 * 3)) < 1e-7
