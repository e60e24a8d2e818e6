"""HumanData (mmhuman3d `.npz`) loader for the 26 HumanData sets of SMPLer-X and their test splits.

Reproduces `data/humandata.py::HumanDataset.load_data` and the per-dataset subclasses `data/<Name>/<Name>.py` of
SMPLer-X (training_spec.md §2.1, §2.2, §3): one generic loader plus the table `DATA` (file names, image folder,
fixed image size, camera, sample interval, flags).

Deliberate differences from the reference:
- Talkshow: the reference supervises the right hand with the *left* hand pose (`rhand_pose = lhand_pose`); here
  the right hand uses `right_hand_pose` (`DataFlags.talkshow_right_hand`).
- The ground-truth eyeball slots follow the prediction's map (`DataFlags.one_eyeball_map`, see `training.joints`).
- The keypoint confidence channel is ignored as in the reference, but a record whose body box is empty after
  clipping or whose 3D keypoints hold NaN is dropped with a count in the log (the reference drops silently).
- A file without `{lhand,rhand,face}_bbox_xywh` gets those boxes from its 2D keypoints (the reference marked
  them invalid; `DataFlags.boxes_from_keypoints`).
- Nothing is cached: records are built on demand from the loaded arrays (the reference's cache pickled the whole
  parameter dict once per record, spec §3.4).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..augment import boxes_from_keypoints, process_bbox, xywh_to_xyxy
from ..fidelity import DataFlags
from ..joints import NUM_JOINTS, SMPLX_TO_137, SMPLX_TO_137_REFERENCE_GT
from .base import require_files

log = logging.getLogger(__name__)

KP2D_KEYS = ("keypoints2d", "keypoints2d_smplx", "keypoints2d_smpl", "keypoints2d_original")
KP3D_KEYS = ("keypoints3d_cam", "keypoints3d", "keypoints3d_smplx", "keypoints3d_smpl", "keypoints3d_original")
BODY_RATIO = 1.2 * 0.833  # the files' boxes are already ×1.2 (spec §4.1)
PART_RATIO = 1.2


@dataclass(frozen=True)
class HumanDataSpec:
    """One HumanData dataset of SMPLer-X.

    Attributes:
        name: the config name (e.g. "BEDLAM").
        train, test: npz file names under `<data_root>/preprocessed_datasets/`.
        img_dir: image root under `<data_root>` that `image_path` is relative to.
        img_shape: fixed (H, W) of every image, or None to read `meta['height'/'width']`.
        focal, princpt: camera (px) for projecting the SMPL-X joints, or None.
        train_interval, test_interval: keep every k-th record.
        flat_hand_mean: the file's hand poses are absolute (BEDLAM): the mean hand is subtracted.
        params_to_3d: 3D joint targets are rebuilt from the parameters (RenBody).
    """

    name: str
    train: tuple[str, ...]
    test: tuple[str, ...] = ()
    img_dir: str = ""
    img_shape: tuple[int, int] | None = None
    focal: tuple[float, float] | None = None
    princpt: tuple[float, float] | None = None
    train_interval: int = 1
    test_interval: int = 1
    flat_hand_mean: bool = False
    params_to_3d: bool = False


def _spec(name, train, test=(), **kw) -> HumanDataSpec:
    return HumanDataSpec(name, tuple(train), tuple(test), **{"img_dir": name, **kw})


_FHD = (1080, 1920)
DATA: dict[str, HumanDataSpec] = {s.name: s for s in [
    _spec("BEDLAM", ["bedlam_train.npz"], train_interval=5, flat_hand_mean=True),
    _spec("SPEC", ["spec_train_smpl.npz"], ["spec_test_smpl.npz"], img_shape=_FHD),
    _spec("GTA_Human2", ["gta_human2multiple_230406_04000_0.npz"], img_shape=_FHD, focal=(1158.0337, 1158.0337),
          princpt=(960.0, 540.0)),
    _spec("SynBody", ["synbody_train_230521_04000_fix_betas.npz"], img_shape=(720, 1280), focal=(540.0, 540.0),
          princpt=(640.0, 360.0)),
    _spec("PoseTrack", ["eft_posetrack.npz"], img_dir="PoseTrack/data/images"),
    _spec("EgoBody_Egocentric", ["egobody_egocentric_train_230425_065_fix_betas.npz"],
          ["egobody_egocentric_test_230425_043_fix_betas.npz"], img_dir="EgoBody", img_shape=_FHD),
    _spec("PROX", ["prox_train_smplx_new.npz"], img_shape=_FHD),
    _spec("CrowdPose", ["crowdpose_neural_annot_train_new.npz"]),
    _spec("EgoBody_Kinect", ["egobody_kinect_train_230503_065_fix_betas.npz"],
          ["egobody_kinect_test_230503_043_fix_betas.npz"], img_dir="EgoBody", img_shape=_FHD, train_interval=10),
    _spec("MPI_INF_3DHP", [f"mpi_inf_3dhp_neural_annot_part{k}.npz" for k in (1, 2, 3)], train_interval=5),
    _spec("RICH", ["rich_train_fix_betas.npz"]),
    _spec("MuCo", ["muco3dhp_train.npz"], img_shape=(1024, 1024)),
    _spec("InstaVariety", ["insta_variety_neural_annot_train.npz"], img_shape=(224, 224), train_interval=10),
    _spec("Behave", ["behave_train_230516_231_downsampled.npz"], ["behave_test_230516_090_downsampled.npz"],
          img_shape=(1536, 2048)),
    _spec("UP3D", ["up3d_trainval.npz"]),
    _spec("ARCTIC", ["p1_train.npz"], ["p1_val.npz"], train_interval=10, test_interval=10),
    _spec("OCHuman", ["eft_ochuman.npz"]),
    _spec("CHI3D", [f"CHI3D_train_230511_1492_{k}.npz" for k in (0, 1)], img_dir="", img_shape=(900, 900)),
    _spec("RenBody_HiRes", [f"renbody_train_highrescam_230517_399_{k}_fix_betas.npz" for k in (0, 1)],
          ["renbody_test_highrescam_230517_78_0_fix_betas.npz"], img_dir="RenBody", train_interval=5,
          test_interval=10, params_to_3d=True),  # images under dataset/RenBody, as the reference
    _spec("MTP", ["mtp_smplx_train.npz"]),
    _spec("HumanSC3D", [f"HumanSC3D_train_230511_2752_{k}.npz" for k in (0, 1, 2)], img_dir="",
          img_shape=(900, 900)),  # image paths already start with the set's folder
    _spec("RenBody", [f"renbody_train_230525_399_{k}.npz" for k in range(10)],
          [f"renbody_test_230525_78_{k}.npz" for k in (0, 1)], params_to_3d=True),
    _spec("FIT3D", [f"FIT3D_train_230511_1504_{k}.npz" for k in range(6)], img_dir="", img_shape=(900, 900),
          train_interval=10),  # image paths already start with the set's folder
    _spec("Talkshow", [f"talkshow_smplx_{k}.npz" for k in ("chemistry", "conan", "oliver", "seth")],
          train_interval=10),
    _spec("SSP3D", ["ssp3d_230525_311.npz"], img_shape=(512, 512)),
    _spec("LSPET", ["eft_lspet.npz"]),
]}


class _Keypoints:
    """One keypoint array of a HumanData file, kept as stored (compressed files stay compressed in memory: a
    decompressed (N,190,4) float32 array of a large set would take gigabytes); rows are re-padded on demand."""

    def __init__(self, arr: np.ndarray, mask: np.ndarray | None, compressed: bool, key: str, path: Path) -> None:
        self.arr, self.cols, self.width = arr, None, arr.shape[1]
        if compressed:
            if mask is None:
                raise ValueError(f"{path}: '{key}' is compressed but '{key}_mask' is missing")
            self.cols = np.flatnonzero(np.asarray(mask) > 0)
            if len(self.cols) != arr.shape[1]:
                raise ValueError(f"{path}: '{key}' has {arr.shape[1]} columns but its mask has {len(self.cols)} ones")
            self.width = len(mask)
        if self.width < 144:
            raise ValueError(f"{path}: '{key}' has {self.width} keypoints, expected the 190 (or ≥144) of HUMAN_DATA")

    def row(self, i: int) -> np.ndarray:
        """(≥144, C) float32 keypoints of record i in HUMAN_DATA order (zeros where compressed away)."""
        if self.cols is None:
            return np.asarray(self.arr[i], np.float32)
        out = np.zeros((self.width, self.arr.shape[2]), np.float32)
        out[self.cols] = self.arr[i]
        return out

    def has_nan(self, i: int) -> bool:
        return bool(np.isnan(self.arr[i]).any())


class HumanDataFile:
    """The arrays of one HumanData `.npz` that SMPLer-X reads (spec §3.2)."""

    def __init__(self, path: Path) -> None:
        with np.load(path, allow_pickle=True) as z:
            keys = set(z.files)
            if "__keypoints_compressed__" not in keys:
                raise ValueError(f"{path}: not a HumanData file (no '__keypoints_compressed__' key)")
            compressed = bool(z["__keypoints_compressed__"])
            for k in ("image_path", "bbox_xywh"):
                if k not in keys:
                    raise ValueError(f"{path}: HumanData key '{k}' is missing")
            self.image_path = z["image_path"]
            self.bbox = z["bbox_xywh"].astype(np.float32)
            self.kind = next((k for k in ("smplx", "smpl", "smplh") if k in keys), None)
            if self.kind is None:
                raise ValueError(f"{path}: no 'smplx', 'smpl' or 'smplh' parameters")
            self.params = {k: np.asarray(v) for k, v in z[self.kind].item().items()}
            self.kp2d, self.kp3d, self.mask2d, self.mask3d = None, None, None, None
            k2 = next((k for k in KP2D_KEYS if k in keys), None)
            k3 = next((k for k in KP3D_KEYS if k in keys), None)
            if k2 is None:
                raise ValueError(f"{path}: no 2D keypoints (one of {KP2D_KEYS})")
            m2 = z[k2 + "_mask"] if k2 + "_mask" in keys else (z["keypoints2d_mask"] if "keypoints2d_mask" in keys
                                                                else None)
            self.kp2d = _Keypoints(z[k2], m2, compressed, k2, path)
            self.mask2d = m2
            if k3 is not None:
                m3 = z[k3 + "_mask"] if k3 + "_mask" in keys else (z["keypoints3d_mask"] if "keypoints3d_mask" in keys
                                                                    else None)
                self.kp3d = _Keypoints(z[k3], m3, compressed, k3, path)
                self.mask3d = m3
            if self.mask2d is None and self.mask3d is None:
                raise ValueError(f"{path}: no keypoint mask ('{k2}_mask' or 'keypoints2d_mask')")
            self.boxes = {p: z[f"{p}_bbox_xywh"].astype(np.float32) if f"{p}_bbox_xywh" in keys else None
                          for p in ("lhand", "rhand", "face")}
            meta = z["meta"].item() if "meta" in keys else {}
            self.height = np.asarray(meta["height"]) if "height" in meta else None
            self.width = np.asarray(meta["width"]) if "width" in meta else None
        self.path = path

    def __len__(self) -> int:
        return len(self.image_path)


def _pose(params: dict, key: str, i: int, n: int) -> np.ndarray | None:
    v = params.get(key)
    return None if v is None else np.asarray(v[i], np.float32).reshape(-1, 3)[:n].reshape(-1)


class HumanData:
    """One HumanData dataset (all its files) as a record source.

    Args:
        spec: the dataset's row of `DATA`.
        data_root: the folder holding `preprocessed_datasets/` and the image folders.
        split: "train" or "test".
        model_dir: SMPL-X model directory (for `hands_mean` of flat-hand-mean files).
        interval: override of the spec's sample interval.
        img_root: override of `<data_root>/<spec.img_dir>`.
        flags: the project's fixes or the reference's behaviour.

    Raises:
        FileNotFoundError: naming every expected npz that is absent.
        ValueError: a file that is not HumanData, or a split the dataset does not have.
    """

    def __init__(self, spec: HumanDataSpec, data_root: str | Path, split: str = "train",
                 model_dir: str | Path | None = None, interval: int | None = None,
                 img_root: str | Path | None = None, flags: DataFlags = DataFlags()) -> None:
        self.spec, self.name, self.split, self.flags = spec, spec.name, split, flags
        self.gt_map = SMPLX_TO_137 if flags.one_eyeball_map else SMPLX_TO_137_REFERENCE_GT
        names = spec.train if split == "train" else spec.test
        if not names:
            raise ValueError(f"{spec.name} has no {split} split in SMPLer-X")
        root = Path(data_root)
        paths = [root / "preprocessed_datasets" / n for n in names]
        require_files(spec.name, paths, "HumanData npz files from the SMPLer-X data preparation")
        self.img_root = Path(img_root) if img_root is not None else root / spec.img_dir
        self.files = [HumanDataFile(p) for p in paths]
        self.hands_mean = None
        if spec.flat_hand_mean:
            from core.body import read_model_arrays

            arr = read_model_arrays(model_dir)
            self.hands_mean = (arr["hands_meanl"].astype(np.float32), arr["hands_meanr"].astype(np.float32))
        step = interval or (spec.train_interval if split == "train" else spec.test_interval)
        self.index: list[tuple[int, int]] = []
        self._bbox: list[np.ndarray] = []
        for fi, f in enumerate(self.files):
            keep, boxes = self._valid_records(f, step)
            self.index += [(fi, int(i)) for i in keep]
            self._bbox.append(boxes)
        log.info("%s %s: %d records", spec.name, split, len(self.index))

    def _img_shape(self, f: HumanDataFile, i: int) -> tuple[int, int]:
        if self.spec.img_shape is not None:
            return self.spec.img_shape
        if f.height is None:
            raise ValueError(f"{f.path}: {self.name} has no fixed image size, so meta['height'/'width'] is needed")
        return int(f.height[i]), int(f.width[i])

    def _valid_records(self, f: HumanDataFile, step: int) -> tuple[np.ndarray, dict]:
        keep, boxes = [], {}
        dropped = 0
        for i in range(0, len(f), step):
            h, w = self._img_shape(f, i)
            box = process_bbox(f.bbox[i, :4], w, h, ratio=BODY_RATIO)
            if box is None or (f.kp3d is not None and f.kp3d.has_nan(i)):
                dropped += 1
                continue
            keep.append(i)
            boxes[i] = box
        if dropped:
            log.info("%s: dropped %d records (empty box or NaN keypoints) from %s", self.name, dropped, f.path.name)
        return np.array(keep, np.int64), boxes

    def __len__(self) -> int:
        return len(self.index)

    def record(self, k: int) -> dict:
        fi, i = self.index[k]
        f = self.files[fi]
        h, w = self._img_shape(f, i)
        mask = (f.mask3d if f.mask3d is not None else f.mask2d)
        m = self.gt_map
        valid = np.asarray(mask, np.float32)[m] if len(mask) > 143 else np.zeros(NUM_JOINTS, np.float32)
        kp2d = np.concatenate([f.kp2d.row(i)[m, :2], valid[:, None]], 1)
        kp3d = None
        if f.kp3d is not None:
            kp3d = np.concatenate([f.kp3d.row(i)[m, :3], valid[:, None]], 1)
        params, pvalid = self._params(f, i)
        boxes = {}
        if any(a is None for a in f.boxes.values()) and self.flags.boxes_from_keypoints:
            boxes = boxes_from_keypoints(kp2d, w, h)
        for part, arr in f.boxes.items():
            if arr is None:  # no box key in the file: keep the box made from the keypoints
                continue
            b = None
            if arr is not None and arr[i, 4] > 0:
                pb = process_bbox(arr[i, :4], w, h, ratio=PART_RATIO)
                b = None if pb is None else xywh_to_xyxy(pb)
            boxes[part] = b
        rec = {
            "img_path": str(self.img_root / str(f.image_path[i])), "img_shape": (h, w),
            "bbox": self._bbox[fi][i], "kp2d": kp2d, "kp3d": kp3d, "smplx": params, "smplx_valid": pvalid,
            "cam": ({"focal": self.spec.focal, "princpt": self.spec.princpt} if self.spec.focal else None),
            "boxes": boxes, "targets_from_smplx": self.spec.params_to_3d, "dataset": self.name,
        }
        if self.split == "test":
            rec["gt"] = {"kind": "smplx_params", "gender": "neutral"}
        return rec

    def _params(self, f: HumanDataFile, i: int) -> tuple[dict, dict]:
        """SMPL/SMPL-H/SMPL-X parameters of record i in SMPLer-X's layout, and per-part validity (spec §2.2, §3.2)."""
        p = f.params
        root = _pose(p, "global_orient", i, 1)
        body = _pose(p, "body_pose", i, 21)
        lhand = _pose(p, "left_hand_pose", i, 15)
        rhand = _pose(p, "right_hand_pose", i, 15)
        jaw = _pose(p, "jaw_pose", i, 1)
        expr = p.get("expression")
        betas = p["betas_neutral"] if "betas_neutral" in p else p.get("betas")
        shape = np.zeros(10, np.float32) if betas is None else np.asarray(betas[i], np.float32).reshape(-1)[:10]
        if f.kind != "smplx":  # SMPL / SMPL-H: shape is not SMPL-X's; SMPL has no hands and face
            shape = np.zeros(10, np.float32)
            if f.kind == "smpl":
                lhand = rhand = jaw = None
                expr = None
        if self.name == "Talkshow" and not self.flags.talkshow_right_hand:
            rhand = lhand  # the reference's `rhand_pose = lhand_pose`
        if self.hands_mean is not None:
            lhand = None if lhand is None else lhand - self.hands_mean[0]
            rhand = None if rhand is None else rhand - self.hands_mean[1]
        trans = p.get("transl")
        valid = {"root": float(root is not None), "body": float(body is not None), "lhand": float(lhand is not None),
                 "rhand": float(rhand is not None), "jaw": float(jaw is not None and expr is not None),
                 "expr": float(expr is not None), "shape": float(bool(np.any(shape)))}
        params = {
            "root_pose": root if root is not None else np.zeros(3, np.float32),
            "body_pose": body if body is not None else np.zeros(63, np.float32),
            "lhand_pose": lhand if lhand is not None else np.zeros(45, np.float32),
            "rhand_pose": rhand if rhand is not None else np.zeros(45, np.float32),
            "jaw_pose": jaw if jaw is not None else np.zeros(3, np.float32),
            "shape": shape,
            "expr": (np.asarray(expr[i], np.float32).reshape(-1)[:10] if expr is not None
                     else np.zeros(10, np.float32)),
            "trans": np.zeros(3, np.float32) if trans is None else np.asarray(trans[i], np.float32).reshape(3),
        }
        return params, valid
