"""Evaluate a SMPLer-X checkpoint on a benchmark: `main/test.py` + the datasets' `evaluate` of SMPLer-X
(training_spec.md §7), on one process.

    python -m training.test --checkpoint CKPT --dataset EHF --data-root dataset --model-dir models
    python -m training.test --mpe results/EHF.json results/AGORA.json … (five files → MPE)

Datasets: EHF, AGORA (validation, GT boxes), UBody (intra-scene test), EgoBody (EgoBody-EgoSet), 3DPW, ARCTIC.
Prints a fixed-width table and writes JSON (`--out`) with the mean of every metric (mm) and the sample count.

UBody counts only the vertices whose GT projection (GT camera) lies inside the image (the reference projected with
the virtual camera and `bb2img_trans`; the rule is the same up to that camera). Not reproduced: the AGORA
test-server prediction dump (`result/predictions/*.pkl`). 3DPW needs the SMPL model files
(`<model-dir>/smpl/SMPL_{NEUTRAL,MALE,FEMALE}.pkl`, chumpy-free, or `.npz`).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

import numpy as np

from core.atomic import atomic_write

from . import metrics

log = logging.getLogger("training.test")
BENCHMARKS = {"EHF": ("EHF", "test"), "AGORA": ("AGORA", "val"), "UBody": ("UBody", "test"),
              "EgoBody": ("EgoBody_Egocentric", "test"), "3DPW": ("PW3D", "test"), "ARCTIC": ("ARCTIC", "test")}


def build_testset(benchmark: str, data_root: str | Path, model_dir: str | Path):
    """The record source of a benchmark's test split (ValueError for an unknown name)."""
    from .datasets.registry import build_source

    if benchmark not in BENCHMARKS:
        raise ValueError(f"unknown benchmark {benchmark!r}; expected one of {sorted(BENCHMARKS)}")
    name, split = BENCHMARKS[benchmark]
    return build_source(name, data_root, split, model_dir)


class GroundTruth:
    """Ground-truth meshes / joints of test records (SMPL-X and, for 3DPW, SMPL body models, loaded on demand)."""

    def __init__(self, model_dir: str | Path) -> None:
        self.model_dir = Path(model_dir)
        self._smplx = None
        self._smpl: dict[str, object] = {}

    def smplx_mesh(self, params: dict) -> np.ndarray:
        """(10475,3) neutral SMPL-X mesh of record params (hands relative to the mean), metres, camera frame."""
        import torch

        from core.body import load_body_model

        if self._smplx is None:
            self._smplx = load_body_model(self.model_dir)

        def t(k):
            return torch.as_tensor(np.asarray(params[k], np.float32).reshape(1, -1))

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
        """(24,3) SMPL-regressor joints of the gendered SMPL GT mesh (3DPW)."""
        import torch

        m = self.smpl_layer(gt["gender"])
        pose = torch.as_tensor(np.asarray(gt["pose"], np.float32).reshape(1, 72))
        with torch.no_grad():
            out = m(global_orient=pose[:, :3], body_pose=pose[:, 3:],
                    betas=torch.as_tensor(np.asarray(gt["shape"], np.float32)[None, :10]),
                    transl=torch.as_tensor(np.asarray(gt["trans"], np.float32)[None]))
        return (m.J_regressor.numpy() @ out.vertices[0].numpy()).astype(np.float64)

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
            return self.smplx_mesh(rec["smplx"])
        raise ValueError(f"record of {rec.get('dataset')} has no SMPL-X ground truth ({gt['kind']})")


def in_image(verts: np.ndarray, rec: dict) -> np.ndarray:
    """(V,) True where a camera-frame vertex projects inside the record's image (UBody's visibility rule)."""
    from .targets import project

    h, w = rec["img_shape"]
    uv = project(verts, rec["cam"]["focal"], rec["cam"]["princpt"])
    return (verts[:, 2] > 0) & (uv[:, 0] >= 0) & (uv[:, 0] < w) & (uv[:, 1] >= 0) & (uv[:, 1] < h)


def evaluate(model, source, model_dir: str | Path, batch_size: int = 8, limit: int = 0) -> dict[str, float]:
    """Mean errors (mm) of `model` over a test record source; `limit` > 0 evaluates only the first records."""
    import torch

    from .datasets.base import SampleDataset

    ds = SampleDataset(source, model_dir, train=False)
    gt = GroundTruth(model_dir)
    ev = None
    n = len(ds) if limit <= 0 else min(limit, len(ds))
    rows = []
    for start in range(0, n, batch_size):
        idx = list(range(start, min(n, start + batch_size)))
        crops = torch.from_numpy(np.stack([ds.sample(i)["img"] for i in idx]))
        out = model.forward_crops(crops, with_mesh=True)
        mesh = out["smplx_mesh_cam"].cpu().numpy().astype(np.float64)
        for row, i in enumerate(idx):
            rec = source.record(i)
            if rec["gt"]["kind"] == "smpl_params":
                pred_j = model.smplx_layer.J_regressor.cpu().numpy() @ mesh[row]
                rows.append(metrics.pw3d_errors(pred_j, gt.smpl_joints(rec["gt"])))
                continue
            if ev is None:
                ev = metrics.MeshEvaluator.from_model_dir(model_dir)
            gt_mesh = gt.mesh(rec)
            visible = in_image(gt_mesh, rec) if rec["gt"].get("in_image") else None
            rows.append(ev.evaluate(mesh[row], gt_mesh, visible))
    res = metrics.average(rows)
    res["num_samples"] = len(rows)
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
        source = build_testset(args.dataset, args.data_root, args.model_dir)
        res = evaluate(model, source, args.model_dir, args.batch_size, args.limit)
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
