"""Evaluate a SMPLer-X checkpoint on a benchmark: `main/test.py` + the datasets' `evaluate` of SMPLer-X
(training_spec.md §7), on one process.

    python -m training.test --checkpoint CKPT --dataset EHF --data-root dataset --model-dir models
    python -m training.test --mpe results/EHF.json results/AGORA.json … (five files → MPE)

Datasets: EHF, AGORA (validation, GT boxes), AGORA-test (detections; writes the official server's prediction files
with `--predictions DIR`), UBody (intra-scene test), EgoBody (EgoBody-EgoSet), 3DPW, ARCTIC, RenBody_HiRes.
Prints a fixed-width table and writes JSON (`--out`) with the mean of every metric (mm) and the sample count.

UBody follows the reference's protocol (`metrics.MeshEvaluator.evaluate_ubody`: visibility from the virtual
camera, Procrustes on all vertices, errors over the visible ones). Ground-truth meshes built from parameters have
the hands and face the annotation marks invalid at the zero pose, as the reference's targets. 3DPW needs the SMPL
model files (`<model-dir>/smpl/SMPL_{NEUTRAL,MALE,FEMALE}.pkl`, chumpy-free, or `.npz`); its GT joints are the
neutral regressor on the gendered mesh, as the reference.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

import numpy as np

from core.atomic import AtomicOutputs, atomic_write

from . import metrics

log = logging.getLogger("training.test")
BENCHMARKS = {"EHF": ("EHF", "test"), "AGORA": ("AGORA", "val"), "AGORA-test": ("AGORA", "test"),
              "UBody": ("UBody", "test"), "EgoBody": ("EgoBody_Egocentric", "test"), "3DPW": ("PW3D", "test"),
              "ARCTIC": ("ARCTIC", "test"), "RenBody_HiRes": ("RenBody_HiRes", "test")}
AGORA_SIZE = (3840, 2160)  # the official server's image size (W, H)


def build_testset(benchmark: str, data_root: str | Path, model_dir: str | Path, interval: int | None = None):
    """The record source of a benchmark's test split (ValueError for an unknown name); `interval` overrides the
    dataset's test sample interval (the reference's `test_sample_interval`)."""
    from .datasets.registry import build_source

    if benchmark not in BENCHMARKS:
        raise ValueError(f"unknown benchmark {benchmark!r}; expected one of {sorted(BENCHMARKS)}")
    name, split = BENCHMARKS[benchmark]
    return build_source(name, data_root, split, model_dir, interval=interval)


class GroundTruth:
    """Ground-truth meshes / joints of test records (SMPL-X and, for 3DPW, SMPL body models, loaded on demand)."""

    def __init__(self, model_dir: str | Path) -> None:
        self.model_dir = Path(model_dir)
        self._smplx = None
        self._smpl: dict[str, object] = {}

    def smplx_mesh(self, params: dict, valid: dict | None = None) -> np.ndarray:
        """(10475,3) neutral SMPL-X mesh of record params (hands relative to the mean), metres, camera frame.

        `valid` (the record's per-part validity): an invalid hand gets the zero pose and an invalid face the zero
        jaw and expression, as the reference's test targets (`process_human_model_output`)."""
        import torch

        from core.body import load_body_model

        if self._smplx is None:
            self._smplx = load_body_model(self.model_dir)

        zeroed = {"lhand_pose": "lhand", "rhand_pose": "rhand", "jaw_pose": "jaw", "expr": "expr"}

        def t(k):
            v = np.asarray(params[k], np.float32).reshape(1, -1)
            if valid is not None and k in zeroed and not valid.get(zeroed[k], 0.0):
                v = np.zeros_like(v)
            return torch.as_tensor(v)

        with torch.no_grad():
            out = self._smplx(global_orient=t("root_pose"), body_pose=t("body_pose"), left_hand_pose=t("lhand_pose"),
                              right_hand_pose=t("rhand_pose"), jaw_pose=t("jaw_pose"), betas=t("shape"),
                              expression=t("expr"), transl=t("trans"), leye_pose=torch.zeros(1, 3),
                              reye_pose=torch.zeros(1, 3))
        return out.vertices[0].numpy().astype(np.float64)

    def smpl_layer(self, gender: str):
        """The SMPL layer of a gender from `<model_dir>/smpl/SMPL_<GENDER>.{npz,pkl}`, read without unpickling
        arbitrary objects (`core.body.load_pickle`; chumpy-based pkl files must be converted first)."""
        import smplx
        from smplx.utils import Struct

        from core.body import load_pickle

        g = gender.lower()
        if g not in self._smpl:
            base = self.model_dir / "smpl" / f"SMPL_{g.upper()}"
            if base.with_suffix(".npz").exists():
                with np.load(base.with_suffix(".npz")) as z:
                    arrays = {k: z[k] for k in z.files}
            elif base.with_suffix(".pkl").exists():
                arrays = load_pickle(base.with_suffix(".pkl"))
            else:
                raise FileNotFoundError(f"{base}.pkl not found: the 3DPW protocol needs the SMPL model files "
                                        f"(smpl/SMPL_{{NEUTRAL,MALE,FEMALE}}.pkl from https://smpl.is.tue.mpg.de)")
            self._smpl[g] = smplx.SMPL(str(base.parent), data_struct=Struct(**arrays), gender=g)
        return self._smpl[g]

    def smpl_joints(self, gt: dict) -> np.ndarray:
        """(24,3) joints of the gendered SMPL GT mesh (3DPW) by the *neutral* model's regressor, as the reference
        (its `smpl.joint_regressor` is the neutral layer's)."""
        import torch

        m = self.smpl_layer(gt["gender"])
        pose = torch.as_tensor(np.asarray(gt["pose"], np.float32).reshape(1, 72))
        with torch.no_grad():
            out = m(global_orient=pose[:, :3], body_pose=pose[:, 3:],
                    betas=torch.as_tensor(np.asarray(gt["shape"], np.float32)[None, :10]),
                    transl=torch.as_tensor(np.asarray(gt["trans"], np.float32)[None]))
        regressor = self.smpl_layer("neutral").J_regressor.numpy()
        return (regressor @ out.vertices[0].numpy()).astype(np.float64)

    def mesh(self, rec: dict) -> np.ndarray:
        """(10475,3) GT vertices of an SMPL-X-evaluated record."""
        from scipy.spatial.transform import Rotation

        from .datasets.osx import read_ply_vertices

        gt = rec["gt"]
        if gt["kind"] == "mesh_ply":
            return Rotation.from_rotvec(gt["rotvec"]).apply(read_ply_vertices(gt["path"]))
        if gt["kind"] == "mesh_json":
            with open(gt["path"]) as f:
                return np.asarray(json.load(f), np.float64).reshape(-1, 3)
        if gt["kind"] == "smplx_params":
            return self.smplx_mesh(rec["smplx"], rec.get("smplx_valid"))
        raise ValueError(f"record of {rec.get('dataset')} has no SMPL-X ground truth ({gt['kind']})")


def agora_prediction(out: dict, row: int, bb2img: np.ndarray, rec: dict) -> dict:
    """One person's file for the official AGORA server, as the reference's `agora_model_test` dump: SMPL-X
    parameters (1,·) with zero eye poses, `transl` the predicted camera translation, and `joints` (1,144,2) the 144
    SMPL-X joints projected by the virtual camera into the 3840×2160 image."""
    from .augment import apply_affine

    def arr(k):
        return out[k][row].detach().cpu().numpy().astype(np.float32).reshape(1, -1)

    t = out["cam_trans"][row].detach().cpu().numpy().astype(np.float64)
    joints = out["smplx_joints144"][row].detach().cpu().numpy().astype(np.float64)
    crop_px = metrics.virtual_projection(joints + t, t, np.array([[1.0, 0, 0], [0, 1.0, 0]]))
    img_px = apply_affine(crop_px, bb2img)
    orig = np.asarray(rec["agora_test"]["img2bb_from_orig"], np.float64)
    to_orig = np.linalg.inv(np.vstack([orig, [0.0, 0.0, 1.0]]))[:2]
    px = apply_affine(img_px, to_orig)
    params = {"transl": t.astype(np.float32).reshape(1, 3), "global_orient": arr("smplx_root_pose"),
              "body_pose": arr("smplx_body_pose"), "left_hand_pose": arr("smplx_lhand_pose"),
              "right_hand_pose": arr("smplx_rhand_pose"), "reye_pose": np.zeros((1, 3), np.float32),
              "leye_pose": np.zeros((1, 3), np.float32), "jaw_pose": arr("smplx_jaw_pose"),
              "expression": arr("smplx_expr"), "betas": arr("smplx_shape")}
    return {"params": params, "joints": px.astype(np.float32).reshape(1, -1, 2)}


def write_agora_predictions(out_dir: Path, files: dict[str, dict]) -> None:
    """Write `<image>_personId_<k>.pkl` files (the server's layout) into `out_dir`, committed together."""
    import pickle

    out_dir.mkdir(parents=True, exist_ok=True)
    with AtomicOutputs() as out:
        for name, obj in files.items():
            out.write(out_dir / name, lambda f, obj=obj: pickle.dump(obj, f, protocol=4))


def evaluate(model, source, model_dir: str | Path, batch_size: int = 8, limit: int = 0,
             predictions: str | Path | None = None) -> dict[str, float]:
    """Mean errors (mm) of `model` over a test record source; `limit` > 0 evaluates only the first records.
    AGORA-test records have no ground truth: their predictions go to `predictions` (the server's files)."""
    import torch

    from .datasets.base import SampleDataset

    ds = SampleDataset(source, model_dir, train=False)
    gt = GroundTruth(model_dir)
    ev = None
    n = len(ds) if limit <= 0 else min(limit, len(ds))
    rows, dump = [], {}
    for start in range(0, n, batch_size):
        idx = list(range(start, min(n, start + batch_size)))
        samples = [ds.sample(i) for i in idx]
        out = model.forward_crops(torch.from_numpy(np.stack([s["img"] for s in samples])), with_mesh=True)
        mesh = out["smplx_mesh_cam"].cpu().numpy().astype(np.float64)
        cam_trans = out["cam_trans"].cpu().numpy().astype(np.float64)
        for row, i in enumerate(idx):
            rec = source.record(i)
            if "agora_test" in rec:
                a = rec["agora_test"]
                dump[f"{a['image']}_personId_{a['person_idx']}.pkl"] = agora_prediction(out, row,
                                                                                         samples[row]["bb2img"], rec)
                continue
            if rec["gt"]["kind"] == "smpl_params":
                pred_j = model.smplx_layer.J_regressor.cpu().numpy() @ mesh[row]
                rows.append(metrics.pw3d_errors(pred_j, gt.smpl_joints(rec["gt"])))
                continue
            if ev is None:
                ev = metrics.MeshEvaluator.from_model_dir(model_dir)
            gt_mesh = gt.mesh(rec)
            if rec["gt"].get("protocol") == "ubody":
                rows.append(ev.evaluate_ubody(mesh[row], gt_mesh, cam_trans[row], samples[row]["bb2img"],
                                              rec["img_shape"]))
            else:
                rows.append(ev.evaluate(mesh[row], gt_mesh))
    if dump:
        if predictions is None:
            raise ValueError("AGORA-test has no ground truth: give --predictions DIR for the server's files")
        write_agora_predictions(Path(predictions), dump)
    res = metrics.average(rows)
    res["num_samples"] = len(rows) + len(dump)
    return res


def format_table(benchmark: str, res: dict[str, float]) -> str:
    """Fixed-width table: one metric per line."""
    lines = [f"{'benchmark':<10} {'metric':<16} {'mm':>10}"]
    for k, v in res.items():
        if k != "num_samples":
            lines.append(f"{benchmark:<10} {k:<16} {v:>10.2f}")
    lines.append(f"{benchmark:<10} {'samples':<16} {int(res.get('num_samples', 0)):>10d}")
    return "\n".join(lines)


def _write_json(path: Path, obj) -> None:
    atomic_write(path, lambda fh: fh.write(json.dumps(obj, indent=2)), mode="w")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--checkpoint", help="SMPLer-X checkpoint (official or ours)")
    p.add_argument("--dataset", choices=sorted(BENCHMARKS))
    p.add_argument("--data-root", default="dataset")
    p.add_argument("--model-dir", default="models", help="SMPL-X model directory (+ smpl/ for 3DPW)")
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--limit", type=int, default=0, help="evaluate only the first N samples")
    p.add_argument("--sample-interval", type=int, default=None,
                   help="keep every k-th test record (default: the dataset's, e.g. UBody 100)")
    p.add_argument("--predictions", help="AGORA-test: folder for the official server's prediction files")
    p.add_argument("--device", default="cpu")
    p.add_argument("--out", help="JSON file for the results")
    p.add_argument("--mpe", nargs="+", metavar="RESULT_JSON", help="combine five result files into the MPE")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    try:
        if args.mpe:
            primary = {}
            for f in args.mpe:
                r = json.loads(Path(f).read_text())
                primary[r["benchmark"]] = r["metrics"][metrics.PRIMARY[r["benchmark"]]]
            print(f"{'benchmark':<10} {'primary':>10}")
            for k, v in primary.items():
                print(f"{k:<10} {v:>10.2f}")
            print(f"{'MPE':<10} {metrics.mpe(primary):>10.2f}")
            return 0
        if not args.checkpoint or not args.dataset:
            p.error("give --checkpoint and --dataset (or --mpe)")
        from core.model import SMPLerX

        model = SMPLerX.from_checkpoint(args.checkpoint, args.model_dir, device=args.device)
        source = build_testset(args.dataset, args.data_root, args.model_dir, args.sample_interval)
        res = evaluate(model, source, args.model_dir, args.batch_size, args.limit, args.predictions)
    except (FileNotFoundError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    print(format_table(args.dataset, res))
    if args.out:
        _write_json(Path(args.out), {"benchmark": args.dataset, "checkpoint": str(args.checkpoint),
                                     "metrics": res})
    return 0


if __name__ == "__main__":
    sys.exit(main())
