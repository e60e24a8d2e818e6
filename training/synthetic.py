"""Synthetic datasets in SMPLer-X's training and evaluation formats, made from a SMPL-X body model (the mannequin).

Recipe of training_spec.md §3.5: random SMPL-X parameters within loose joint limits, a pinhole camera, the body
model's 144 joints projected into a procedural image (a gradient background with the projected mesh painted as
coloured dots), and the annotation files of each layout (HumanData `.npz`, OSX-style json). Used by the tests and by
the demo; nothing here is learned or licensed.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core.atomic import atomic_write

from .joints import SMPLX_TO_137

log = logging.getLogger(__name__)

# mmhuman3d part keypoints (indices into the 144 smplx joints) used for the hand and face boxes
_LHAND_144 = list(range(25, 40)) + list(range(66, 71))
_RHAND_144 = list(range(40, 55)) + list(range(71, 76))
_HEAD_144 = [15, 22, 23, 24, 55, 56, 57, 58, 59] + list(range(76, 144))


@dataclass
class Bodies:
    """N synthetic people. Params in SMPL-X layout (hand poses relative to the mean hand), metres, OpenCV camera.

    Attributes:
        params: `global_orient` (N,3), `body_pose` (N,21,3), `left_hand_pose`/`right_hand_pose` (N,15,3),
            `jaw_pose` (N,3), `betas` (N,10), `expression` (N,10), `transl` (N,3).
        joints: (N,144,3) camera-frame joints; vertices (N,10475,3).
        focal, princpt: (2,) pixels; img_shape (H, W).
    """

    params: dict
    joints: np.ndarray
    vertices: np.ndarray
    focal: np.ndarray
    princpt: np.ndarray
    img_shape: tuple[int, int]

    @property
    def kp2d(self) -> np.ndarray:
        """(N,144,2) projected joints, pixels."""
        return self.joints[..., :2] / self.joints[..., 2:3] * self.focal + self.princpt


def sample_params(rng: np.random.Generator, n: int) -> dict:
    """Random SMPL-X parameters: upright in the OpenCV camera (root ≈ 180° about x), body angles clipped to
    ±0.6 rad, relaxed hands, |betas| < 2.5 (the loaders zero any |β| > 3), person 3–6 m in front of the camera."""
    root = np.array([np.pi, 0.0, 0.0]) + rng.normal(0, [0.1, 0.4, 0.1], (n, 3))
    body = np.clip(rng.normal(0, 0.2, (n, 21, 3)), -0.6, 0.6)
    return {
        "global_orient": root.astype(np.float32),
        "body_pose": body.astype(np.float32),
        "left_hand_pose": np.clip(rng.normal(0, 0.1, (n, 15, 3)), -0.4, 0.4).astype(np.float32),
        "right_hand_pose": np.clip(rng.normal(0, 0.1, (n, 15, 3)), -0.4, 0.4).astype(np.float32),
        "jaw_pose": np.stack([rng.uniform(0, 0.3, n), np.zeros(n), np.zeros(n)], 1).astype(np.float32),
        "betas": np.clip(rng.normal(0, 1, (n, 10)), -2.5, 2.5).astype(np.float32),
        "expression": np.clip(rng.normal(0, 0.5, (n, 10)), -1.5, 1.5).astype(np.float32),
        "transl": np.stack([rng.uniform(-0.3, 0.3, n), rng.uniform(-0.2, 0.2, n), rng.uniform(3, 6, n)],
                           1).astype(np.float32),
    }


def make_bodies(model_dir: str | Path, n: int, rng: np.random.Generator, img_shape=(480, 640),
                focal: float | None = None) -> Bodies:
    """Sample N people and run the neutral SMPL-X model (hand poses relative to the mean, flat_hand_mean=False)."""
    import torch

    from core.body import load_body_model

    params = sample_params(rng, n)
    bm = load_body_model(model_dir, gender="neutral", batch_size=n)
    with torch.no_grad():
        out = bm(**{k: torch.from_numpy(v.reshape(n, -1)) for k, v in params.items()},
                 leye_pose=torch.zeros(n, 3), reye_pose=torch.zeros(n, 3))
    h, w = img_shape
    f = float(focal if focal is not None else 1.2 * max(h, w))
    return Bodies(params, out.joints.numpy(), out.vertices.numpy(), np.array([f, f]), np.array([w / 2.0, h / 2.0]),
                  (h, w))


def render(bodies: Bodies, i: int, rng: np.random.Generator) -> np.ndarray:
    """(H,W,3) uint8 BGR procedural image: a random gradient with the person's projected vertices as dots."""
    import cv2

    h, w = bodies.img_shape
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    base = rng.uniform(40, 200, 3)
    img = (base[None, None] + 40 * np.sin(xx[..., None] / rng.uniform(20, 80) + rng.uniform(0, 6, 3))
           + 30 * np.cos(yy[..., None] / rng.uniform(20, 80))).clip(0, 255).astype(np.uint8)
    v = bodies.vertices[i]
    uv = v[:, :2] / v[:, 2:3] * bodies.focal + bodies.princpt
    order = np.argsort(-v[:, 2])
    colors = ((np.arange(len(v))[:, None] * np.array([37, 91, 53])) % 200 + 40).astype(np.uint8)
    for k in order[::3]:
        x, y = int(round(uv[k, 0])), int(round(uv[k, 1]))
        if 0 <= x < w and 0 <= y < h:
            cv2.circle(img, (x, y), 2, tuple(int(c) for c in colors[k]), -1)
    return img


def _part_box(kp: np.ndarray, idx: list[int], img_shape, scale: float) -> np.ndarray:
    """mmhuman3d `_keypoints_to_scaled_bbox_bfh`: min/max box of part keypoints, scaled about its centre,
    clipped to the image, as xywh + conf (conf 0 when empty)."""
    h, w = img_shape
    p = kp[idx]
    lo, hi = p.min(0), p.max(0)
    c, s = (lo + hi) / 2, (hi - lo) * scale
    lo, hi = np.maximum(c - s / 2, 0), np.minimum(c + s / 2, [w - 1, h - 1])
    ok = float(np.all(hi > lo))
    return np.array([lo[0], lo[1], max(hi[0] - lo[0], 0), max(hi[1] - lo[1], 0), ok], np.float32)


def boxes_from_keypoints(kp2d: np.ndarray, img_shape) -> dict:
    """Body (×1.2, all joints), left/right hand and face (×1.0, part keypoints) boxes of one person, xywh + conf.

    Args:
        kp2d: (144,2) pixels.
    """
    return {"bbox_xywh": _part_box(kp2d, list(range(144)), img_shape, 1.2),
            "lhand_bbox_xywh": _part_box(kp2d, _LHAND_144, img_shape, 1.0),
            "rhand_bbox_xywh": _part_box(kp2d, _RHAND_144, img_shape, 1.0),
            "face_bbox_xywh": _part_box(kp2d, _HEAD_144, img_shape, 1.0)}


def _write_images(bodies: Bodies, img_root: Path, names: list[str], rng: np.random.Generator) -> None:
    import cv2

    for i, name in enumerate(names):
        p = img_root / name
        p.parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(p), render(bodies, i, rng))


def _save_npz(path: Path, **arrays) -> None:
    atomic_write(path, lambda fh: np.savez_compressed(fh, **arrays))


def write_humandata(data_root: str | Path, name: str, model_dir: str | Path, n: int = 8, seed: int = 0,
                    split: str = "train", kind: str = "smplx", with_3d: bool = True, compressed: bool = False,
                    betas_neutral: bool = False, with_meta: bool | None = None,
                    img_shape: tuple[int, int] | None = None, part_boxes: bool = True) -> list[Path]:
    """Write a small HumanData dataset in the layout `training.datasets.humandata.DATA[name]` expects.

    Args:
        data_root: the dataset root (`preprocessed_datasets/` and image folders are created inside).
        name: a key of DATA (file names, image folder, fixed image size, flat-hand-mean flag come from it).
        model_dir: SMPL-X model directory used to make the people.
        n: people per file (one person per image).
        kind: "smplx", "smpl" (body_pose (N,23,3), no hands/face) or "smplh".
        with_3d: write `keypoints3d_smplx`; False gives a 2D-only file.
        compressed: store keypoints compressed by mask (mmhuman3d `compress_keypoints_by_mask`).
        betas_neutral: store the shape as `betas_neutral` (and random `betas`).
        with_meta: write meta height/width (default: only when the dataset has no fixed image size).
        img_shape: image size (default: the dataset's fixed size, or 480×640).
        part_boxes: write the hand/face box keys (False: the loader derives them from the keypoints).
    Returns:
        the npz paths written.
    """
    from .datasets.humandata import DATA

    spec = DATA[name]
    files = spec.train if split == "train" else spec.test
    shape = img_shape or spec.img_shape or (480, 640)
    if spec.img_shape is not None and tuple(shape) != tuple(spec.img_shape):
        raise ValueError(f"{name} has a fixed image size {spec.img_shape}, got {shape}")
    with_meta = spec.img_shape is None if with_meta is None else with_meta
    rng = np.random.default_rng(seed)
    root = Path(data_root)
    written = []
    for fi, fname in enumerate(files):
        focal = spec.focal[0] if spec.focal else None
        bodies = make_bodies(model_dir, n, rng, shape, focal)
        if spec.princpt:
            bodies.princpt = np.array(spec.princpt)
        kp = bodies.kp2d
        names = [f"{split}_{Path(fname).stem}/{i:05d}.jpg" for i in range(n)]
        _write_images(bodies, root / spec.img_dir, names, rng)
        boxes = [boxes_from_keypoints(kp[i], shape) for i in range(n)]
        p = bodies.params
        # the parameters' own frame is the camera: the joints already include transl
        params = {k: v.copy() for k, v in p.items()}
        if spec.flat_hand_mean:
            from core.body import read_model_arrays

            arr = read_model_arrays(model_dir)
            params["left_hand_pose"] += arr["hands_meanl"].reshape(15, 3)
            params["right_hand_pose"] += arr["hands_meanr"].reshape(15, 3)
        if betas_neutral:
            params["betas_neutral"] = params["betas"]
            params["betas"] = rng.normal(0, 1, params["betas"].shape).astype(np.float32)
        if kind == "smpl":
            params = {"global_orient": params["global_orient"], "transl": params["transl"],
                      "betas": params["betas"],
                      "body_pose": np.concatenate([params["body_pose"], np.zeros((n, 2, 3), np.float32)], 1)}
        elif kind == "smplh":
            params = {k: params[k] for k in ("global_orient", "body_pose", "left_hand_pose", "right_hand_pose",
                                             "betas", "transl")}
        k2 = np.zeros((n, 190, 3), np.float32)
        k2[:, :144, :2], k2[:, :144, 2] = kp, 1.0
        k3 = np.zeros((n, 190, 4), np.float32)
        k3[:, :144, :3], k3[:, :144, 3] = bodies.joints, 1.0
        mask = np.zeros(190, np.uint8)
        mask[:144] = 1
        arrays = {
            "image_path": np.array(names), "__keypoints_compressed__": np.array(compressed),
            "__data_len__": np.array(n), "__key_strict__": np.array(False), "config": np.array(name),
            kind: np.array(params, dtype=object),
            "misc": np.array({"flat_hand_mean": spec.flat_hand_mean, "bbox_body_scale": 1.2,
                              "bbox_facehand_scale": 1.0, "kps3d_root_aligned": False}, dtype=object),
            "keypoints2d_smplx": k2[:, mask > 0] if compressed else k2, "keypoints2d_smplx_mask": mask,
        }
        for key in ("bbox_xywh",) + (("lhand_bbox_xywh", "rhand_bbox_xywh", "face_bbox_xywh") if part_boxes else ()):
            arrays[key] = np.stack([b[key] for b in boxes])
        if with_3d:
            arrays["keypoints3d_smplx"] = k3[:, mask > 0] if compressed else k3
            arrays["keypoints3d_smplx_mask"] = mask
        if with_meta:
            arrays["meta"] = np.array({"height": [shape[0]] * n, "width": [shape[1]] * n,
                                       "gender": ["neutral"] * n, "focal_length": [bodies.focal.tolist()] * n,
                                       "principal_point": [bodies.princpt.tolist()] * n}, dtype=object)
        path = root / "preprocessed_datasets" / fname
        _save_npz(path, **arrays)
        log.info("wrote %s (%d people)", path, n)
        written.append(path)
    return written


def _write_json(path: Path, obj) -> None:
    atomic_write(path, lambda fh: fh.write(json.dumps(obj)), mode="w")


# ---------------------------------------------------------------------------------------------- OSX-style layouts
def _coco133(kp137: np.ndarray) -> np.ndarray:
    """(137,2) → (133,3) COCO-WholeBody keypoints (x, y, visibility 2); the hand roots are the wrists."""
    from .joints import COCO_WHOLEBODY_NAMES, JOINT_NAMES

    idx = {n: i for i, n in enumerate(JOINT_NAMES)}
    out = np.zeros((133, 3), np.float32)
    for k, name in enumerate(COCO_WHOLEBODY_NAMES):
        j = idx.get(name.replace("_Wrist_Hand", "_Wrist"))
        if j is not None:
            out[k] = [kp137[j, 0], kp137[j, 1], 2.0]
    return out


def _osx_param(bodies: Bodies, i: int) -> dict:
    p = bodies.params
    return {"root_pose": p["global_orient"][i].tolist(), "body_pose": p["body_pose"][i].reshape(-1).tolist(),
            "lhand_pose": p["left_hand_pose"][i].reshape(-1).tolist(),
            "rhand_pose": p["right_hand_pose"][i].reshape(-1).tolist(), "jaw_pose": p["jaw_pose"][i].tolist(),
            "shape": p["betas"][i].tolist(), "expr": p["expression"][i].tolist(), "trans": p["transl"][i].tolist(),
            "lhand_valid": True, "rhand_valid": True, "face_valid": True}


def _cam_param(bodies: Bodies) -> dict:
    return {"focal": bodies.focal.tolist(), "princpt": bodies.princpt.tolist()}


def _wholebody_ann(bodies: Bodies, i: int, ann_id: int, image_id: int) -> dict:
    kp = bodies.kp2d[i]
    k133 = _coco133(kp[SMPLX_TO_137])
    b = boxes_from_keypoints(kp, bodies.img_shape)
    return {"id": ann_id, "image_id": image_id, "iscrowd": 0, "num_keypoints": 17,
            "bbox": b["bbox_xywh"][:4].tolist(), "keypoints": k133[:17].reshape(-1).tolist(),
            "foot_kpts": k133[17:23].reshape(-1).tolist(), "lefthand_kpts": k133[23:44].reshape(-1).tolist(),
            "righthand_kpts": k133[44:65].reshape(-1).tolist(), "face_kpts": k133[65:].reshape(-1).tolist(),
            "lefthand_valid": True, "righthand_valid": True, "face_valid": True,
            "lefthand_box": b["lhand_bbox_xywh"][:4].tolist(), "righthand_box": b["rhand_bbox_xywh"][:4].tolist(),
            "face_box": b["face_bbox_xywh"][:4].tolist(), "valid_label": 1}


def write_mscoco(data_root, model_dir, n: int = 4, seed: int = 0) -> Bodies:
    """MSCOCO in the OSX layout: COCO-WholeBody json + NeuralAnnot SMPL-X json + images."""
    rng = np.random.default_rng(seed)
    root = Path(data_root) / "MSCOCO"
    b = make_bodies(model_dir, n, rng)
    names = [f"{i:012d}.jpg" for i in range(n)]
    _write_images(b, root / "images" / "train2017", names, rng)
    h, w = b.img_shape
    db = {"images": [{"id": i, "file_name": names[i], "width": w, "height": h} for i in range(n)],
          "annotations": [_wholebody_ann(b, i, 100 + i, i) for i in range(n)]}
    _write_json(root / "annotations" / "coco_wholebody_train_v1.0.json", db)
    _write_json(root / "annotations" / "MSCOCO_train_SMPLX_all_NeuralAnnot.json",
                {str(100 + i): {"smplx_param": _osx_param(b, i), "cam_param": _cam_param(b)} for i in range(n)})
    return b


def write_mpii(data_root, model_dir, n: int = 4, seed: int = 0) -> Bodies:
    """MPII in the OSX layout: COCO-style json with 16 keypoints + NeuralAnnot SMPL-X json + images."""
    from .joints import JOINT_NAMES, MPII_NAMES

    rng = np.random.default_rng(seed)
    root = Path(data_root) / "MPII" / "data"
    b = make_bodies(model_dir, n, rng)
    names = [f"{i:09d}.jpg" for i in range(n)]
    _write_images(b, root / "images", names, rng)
    h, w = b.img_shape
    idx = {nm: i for i, nm in enumerate(JOINT_NAMES)}
    anns = []
    for i in range(n):
        kp = b.kp2d[i][SMPLX_TO_137]
        k16 = np.array([[*kp[idx[nm]], 1.0] if nm in idx else [0, 0, 0] for nm in MPII_NAMES], np.float32)
        anns.append({"id": 200 + i, "image_id": i, "bbox": boxes_from_keypoints(b.kp2d[i], b.img_shape)["bbox_xywh"][:4]
                     .tolist(), "keypoints": k16.reshape(-1).tolist(), "num_keypoints": 14})
    _write_json(root / "annotations" / "train.json",
                {"images": [{"id": i, "file_name": names[i], "width": w, "height": h} for i in range(n)],
                 "annotations": anns})
    _write_json(root / "annotations" / "MPII_train_SMPLX_NeuralAnnot.json",
                {str(200 + i): {"smplx_param": _osx_param(b, i), "cam_param": _cam_param(b)} for i in range(n)})
    return b


def write_ubody(data_root, model_dir, n: int = 4, seed: int = 0, scenes=("Magic_show", "Talk_show")) -> dict:
    """UBody in the OSX layout: per-scene keypoint/smplx json, images under `images/<scene>/` (file names relative to
    it, as the reference joins them), and the intra-scene test list (the second video of every scene is a test
    video). Returns {scene: Bodies}."""
    rng = np.random.default_rng(seed)
    root = Path(data_root) / "UBody"
    out, test_videos = {}, []
    for s, scene in enumerate(scenes):
        b = make_bodies(model_dir, n, rng)
        h, w = b.img_shape
        videos = [f"{scene}_video{v}" for v in range(2)]
        test_videos.append(videos[1])
        names = [f"{videos[i % 2]}_Trim0/{i:06d}.jpg" for i in range(n)]
        _write_images(b, root / "images" / scene, names, rng)
        ids = [1000 * (s + 1) + i for i in range(n)]
        _write_json(root / "annotations" / scene / "keypoint_annotation.json",
                    {"images": [{"id": i, "file_name": names[i], "width": w, "height": h} for i in range(n)],
                     "annotations": [_wholebody_ann(b, i, ids[i], i) for i in range(n)]})
        _write_json(root / "annotations" / scene / "smplx_annotation.json",
                    {str(ids[i]): {"smplx_param": _osx_param(b, i), "cam_param": _cam_param(b)} for i in range(n)})
        out[scene] = b
    (root / "splits").mkdir(parents=True, exist_ok=True)
    np.save(root / "splits" / "intra_scene_test_list.npy", np.array(test_videos))
    return out


def write_pw3d(data_root, model_dir, n: int = 4, seed: int = 0, split: str = "train") -> Bodies:
    """3DPW in the Hand4Whole layout (SMPL `pose` (72) = root + 21 body joints + 2 zero hand joints)."""
    rng = np.random.default_rng(seed)
    root = Path(data_root) / "PW3D" / "data"
    b = make_bodies(model_dir, n, rng)
    names = [f"image_{i:05d}.jpg" for i in range(n)]
    _write_images(b, root / "imageFiles" / "courtyard_synthetic_00", names, rng)
    h, w = b.img_shape
    p = b.params
    anns = [{"id": i, "image_id": i, "bbox": boxes_from_keypoints(b.kp2d[i], b.img_shape)["bbox_xywh"][:4].tolist(),
             "smpl_param": {"pose": np.concatenate([p["global_orient"][i], p["body_pose"][i].reshape(-1),
                                                    np.zeros(6, np.float32)]).tolist(),
                            "shape": p["betas"][i].tolist(), "trans": p["transl"][i].tolist(), "gender": "neutral"}}
            for i in range(n)]
    _write_json(root / f"3DPW_{split}.json",
                {"images": [{"id": i, "sequence": "courtyard_synthetic_00", "file_name": names[i], "width": w,
                             "height": h, "cam_param": _cam_param(b)} for i in range(n)], "annotations": anns})
    return b


def write_h36m(data_root, model_dir, n: int = 4, seed: int = 0, subject: int = 1) -> Bodies:
    """Human3.6M per-subject json files: NeuralAnnot SMPL-X in a world frame, camera R, t (mm), f, c."""
    from scipy.spatial.transform import Rotation

    rng = np.random.default_rng(seed)
    root = Path(data_root) / "Human36M"
    b = make_bodies(model_dir, n, rng)
    h, w = b.img_shape
    rot = Rotation.from_euler("y", 35, degrees=True).as_matrix()
    t = np.array([0.2, -0.1, 0.5])
    p = b.params
    j0 = b.joints[:, 0] - p["transl"]  # rest root joint (depends on the shape only)
    names = [f"s_{subject:02d}_act_02_subact_01_ca_01/{5 * i:06d}.jpg" for i in range(n)]
    _write_images(b, root / "images", names, rng)
    fits, images, anns = {}, [], []
    for i in range(n):
        root_w = (Rotation.from_matrix(rot.T) * Rotation.from_rotvec(p["global_orient"][i])).as_rotvec()
        trans_w = rot.T @ (j0[i] + p["transl"][i] - t) - j0[i]
        prm = _osx_param(b, i)
        prm.update(root_pose=root_w.tolist(), trans=trans_w.tolist())
        fits.setdefault("2", {}).setdefault("1", {})[str(5 * i)] = prm
        images.append({"id": i, "file_name": names[i], "width": w, "height": h, "subject": subject, "action_idx": 2,
                       "subaction_idx": 1, "frame_idx": 5 * i, "cam_idx": 1})
        anns.append({"id": i, "image_id": i, "bbox": boxes_from_keypoints(b.kp2d[i], b.img_shape)["bbox_xywh"][:4]
                     .tolist()})
    a = root / "annotations"
    _write_json(a / f"Human36M_subject{subject}_data.json", {"images": images, "annotations": anns})
    _write_json(a / f"Human36M_subject{subject}_camera.json",
                {"1": {"R": rot.tolist(), "t": (t * 1000).tolist(), "f": b.focal.tolist(), "c": b.princpt.tolist()}})
    _write_json(a / f"Human36M_subject{subject}_joint_3d.json", {})
    _write_json(a / f"Human36M_subject{subject}_SMPLX_NeuralAnnot.json", fits)
    return b


def write_agora(data_root, model_dir, n: int = 3, seed: int = 0, split: str = "train", kids: tuple = ()) -> Bodies:
    """AGORA in OSX's layout with 512×384 pre-crops of (never written) 3840×2160 frames; the people in `kids` are
    marked `kid` and get gendered `betas` that differ from their `betas_neutral` (the ones the meshes use)."""
    import pickle

    import cv2

    from core.crop import crop_transform, process_bbox

    rng = np.random.default_rng(seed)
    tag = "train" if split == "train" else "validation"
    root = Path(data_root) / "AGORA" / "data"
    b = make_bodies(model_dir, n, rng, img_shape=(2160, 3840), focal=3000.0)
    images, anns = [], []
    for i in range(n):
        stem = f"ag_{tag}_{i:05d}"
        frame = render(b, i, rng)
        kp = b.kp2d[i]
        boxes = boxes_from_keypoints(kp, b.img_shape)
        box = process_bbox(boxes["bbox_xywh"][:4], 3840, 2160, 1.25)
        trans = crop_transform(box)
        crop = cv2.warpAffine(frame, trans, (384, 512), flags=cv2.INTER_LINEAR)
        crop_dir = root / "3840x2160" / f"{tag}_crop"
        crop_dir.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(crop_dir / f"{stem}_ann_id_{i}.png"), crop)
        _write_json(crop_dir / f"{stem}_ann_id_{i}.json",
                    {"img2bb_trans": trans.tolist(), "resized_height": 512, "resized_width": 384})
        rel = {k: f"annot/{tag}/{i}_{k}.json" for k in ("j2d", "j3d", "verts")}
        _write_json(root / rel["j2d"], kp[:127].tolist())
        _write_json(root / rel["j3d"], b.joints[i, :127].tolist())
        _write_json(root / rel["verts"], b.vertices[i].tolist())
        p = {k: v[i].reshape(1, -1) for k, v in b.params.items()}
        p["betas_neutral"] = p["betas"]
        if i in kids:
            p["betas"] = p["betas"] + 0.5
        prm_path = root / f"annot/{tag}/{i}_smplx.pkl"
        with open(prm_path, "wb") as f:
            pickle.dump(p, f, protocol=4)
        images.append({"id": i, "file_name_3840x2160": f"{stem}.png", "file_name_1280x720": f"{stem}_1280x720.png"})
        anns.append({"id": i, "image_id": i, "bbox": boxes["bbox_xywh"][:4].tolist(),
                     "lhand_bbox": boxes["lhand_bbox_xywh"][:4].tolist(),
                     "rhand_bbox": boxes["rhand_bbox_xywh"][:4].tolist(),
                     "face_bbox": boxes["face_bbox_xywh"][:4].tolist(), "smplx_joints_2d_path": rel["j2d"],
                     "smplx_joints_3d_path": rel["j3d"], "smplx_verts_path": rel["verts"],
                     "smplx_param_path": f"annot/{tag}/{i}_smplx.pkl", "gender": "neutral", "kid": i in kids,
                     "is_valid": True})
    _write_json(root / f"AGORA_{tag}_fix_betas.json", {"images": images, "annotations": anns})
    return b


def write_agora_test(data_root, model_dir, n: int = 2, seed: int = 0) -> Bodies:
    """AGORA's server test set in OSX's layout: `AGORA_test_bbox.json` (detections per 3840×2160 frame, here all
    people in one frame) and the 512×384 pre-crops `3840x2160/test_crop/<frame>_pid_<k>.{png,json}`."""
    import cv2

    from core.crop import crop_transform, process_bbox

    rng = np.random.default_rng(seed)
    root = Path(data_root) / "AGORA" / "data"
    b = make_bodies(model_dir, n, rng, img_shape=(2160, 3840), focal=3000.0)
    crop_dir = root / "3840x2160" / "test_crop"
    crop_dir.mkdir(parents=True, exist_ok=True)
    dets = []
    for i in range(n):
        boxes = boxes_from_keypoints(b.kp2d[i], b.img_shape)
        x, y, w, h = boxes["bbox_xywh"][:4]
        dets.append({"bbox": [float(x), float(y), float(x + w), float(y + h)]})
        trans = crop_transform(process_bbox(boxes["bbox_xywh"][:4], 3840, 2160, 1.25))
        crop = cv2.warpAffine(render(b, i, rng), trans, (384, 512), flags=cv2.INTER_LINEAR)
        cv2.imwrite(str(crop_dir / f"ag_test_00000_pid_{i}.png"), crop)
        _write_json(crop_dir / f"ag_test_00000_pid_{i}.json",
                    {"img2bb_trans": trans.tolist(), "resized_height": 512, "resized_width": 384})
    _write_json(root / "AGORA_test_bbox.json", {"ag_test_00000.png": dets})
    return b


def write_ply(path: Path, verts: np.ndarray) -> None:
    """ASCII PLY with vertices only."""
    head = f"ply\nformat ascii 1.0\nelement vertex {len(verts)}\nproperty float x\nproperty float y\n" \
           f"property float z\nend_header\n"
    text = head + "\n".join(f"{x:.6f} {y:.6f} {z:.6f}" for x, y, z in verts) + "\n"
    atomic_write(path, lambda fh: fh.write(text), mode="w")


def write_ehf(data_root, model_dir, n: int = 3, seed: int = 0) -> Bodies:
    """EHF: EHF.json with boxes, `<NN>_img.jpg`, and `<NN>_align.ply` meshes in the scan frame (camera = R·scan)."""
    from scipy.spatial.transform import Rotation

    from .datasets.osx import EHF_R

    rng = np.random.default_rng(seed)
    root = Path(data_root) / "EHF" / "data"
    b = make_bodies(model_dir, n, rng)
    h, w = b.img_shape
    names = [f"{i + 1:02d}_img.jpg" for i in range(n)]
    _write_images(b, root, names, rng)
    r = Rotation.from_rotvec(EHF_R)
    anns = []
    for i in range(n):
        write_ply(root / f"{i + 1:02d}_align.ply", r.inv().apply(b.vertices[i]))
        bx = boxes_from_keypoints(b.kp2d[i], b.img_shape)
        anns.append({"image_id": i, "body_bbox": bx["bbox_xywh"][:4].tolist(),
                     "lefthand_bbox": bx["lhand_bbox_xywh"][:4].tolist(),
                     "righthand_bbox": bx["rhand_bbox_xywh"][:4].tolist(),
                     "face_bbox": bx["face_bbox_xywh"][:4].tolist()})
    _write_json(root / "EHF.json", {"images": [{"id": i, "file_name": names[i], "width": w, "height": h}
                                               for i in range(n)], "annotations": anns})
    return b


def write_all(data_root: str | Path, model_dir: str | Path, n: int = 4, seed: int = 0) -> None:
    """A small copy of every layout: HumanData (UP3D with 3D keypoints, LSPET SMPL 2D-only compressed, BEDLAM
    flat-hand-mean with betas_neutral, EgoBody test split), MSCOCO, MPII, UBody, Human3.6M, 3DPW, AGORA, EHF."""
    write_humandata(data_root, "UP3D", model_dir, n=n, seed=seed)
    write_humandata(data_root, "LSPET", model_dir, n=n, seed=seed + 1, kind="smpl", with_3d=False, compressed=True)
    write_humandata(data_root, "BEDLAM", model_dir, n=n, seed=seed + 2, compressed=True, betas_neutral=True)
    write_humandata(data_root, "EgoBody_Egocentric", model_dir, n=n, seed=seed + 3, split="test")
    write_mscoco(data_root, model_dir, n=n, seed=seed + 4)
    write_mpii(data_root, model_dir, n=n, seed=seed + 5)
    write_ubody(data_root, model_dir, n=n, seed=seed + 6)
    write_h36m(data_root, model_dir, n=n, seed=seed + 7)
    write_pw3d(data_root, model_dir, n=n, seed=seed + 8)
    write_agora(data_root, model_dir, n=min(n, 3), seed=seed + 9)
    write_agora(data_root, model_dir, n=min(n, 3), seed=seed + 10, split="val")
    write_ehf(data_root, model_dir, n=n, seed=seed + 11)


def main(argv: list[str] | None = None) -> int:
    import argparse

    p = argparse.ArgumentParser(description="Write small synthetic datasets in every SMPLer-X training layout.")
    p.add_argument("out", help="dataset root to create")
    p.add_argument("--model-dir", required=True, help="SMPL-X model directory (e.g. the mannequin: python -m core "
                                                      "mannequin DIR)")
    p.add_argument("-n", type=int, default=4, help="people per dataset")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    write_all(args.out, args.model_dir, args.n, args.seed)
    print(f"wrote synthetic datasets to {args.out}")
    return 0


if __name__ == "__main__":
    import sys

    sys.exit(main())
