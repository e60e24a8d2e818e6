"""Command line: `python -m core {mannequin,predict,convert,demo} …`.

Each subcommand is a small `_cmd_<name>(args) -> int` over a library function. Failures print one line to
stderr and exit non-zero; nothing half-written is left behind (library writers are atomic).
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
from pathlib import Path

# OSError covers a full disk, a read-only folder and a folder in the way (core.atomic.OutputError names the file)
EXPECTED_ERRORS = (FileNotFoundError, ValueError, NotADirectoryError, PermissionError, OSError)


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised in the main thread so that it unwinds like Ctrl-C: staged outputs are removed."""


def _on_sigterm(signum, frame) -> None:
    raise Terminated()


def _cmd_mannequin(args: argparse.Namespace) -> int:
    from .body import write_mannequin

    for path in write_mannequin(Path(args.dir)):
        print(path)
    return 0


def _cmd_predict(args: argparse.Namespace) -> int:
    import numpy as np

    from .model import SMPLerX
    from .pipeline import read_image, resolve_device, save_npz_atomic

    image = read_image(Path(args.image))
    boxes = np.asarray(args.box, dtype=np.float64).reshape(-1, 4)
    model = SMPLerX.from_checkpoint(args.checkpoint, args.model_dir, device=resolve_device(args.device))
    results = model.predict(image, boxes, with_mesh=args.mesh)
    valid = np.array([r is not None for r in results])
    if not valid.any():
        raise ValueError(f"{args.image}: no box survives SMPLer-X's box processing (boxes outside the image?)")
    template = next(r for r in results if r is not None)
    arrays = {k: np.stack([r[k] if r is not None else np.full_like(v, np.nan) for r in results])
              for k, v in template.items()}
    save_npz_atomic(Path(args.output), valid=valid, det_xyxy=boxes, **arrays)
    print(f"{args.output}: {int(valid.sum())} of {len(valid)} people")
    return 0


def _cmd_convert(args: argparse.Namespace) -> int:
    from .pipeline import run_convert_cli

    return run_convert_cli(args)


def _cmd_export_onnx(args: argparse.Namespace) -> int:
    from .export_onnx import export_onnx

    print(export_onnx(args.checkpoint, args.output, batch_size=args.batch, opset=args.opset))
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    from .demo import run_demo

    return run_demo(args)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m core", description="Video → SMPL-X animation (SMPLer-X).")
    p.add_argument("-v", "--verbose", action="store_true", help="log progress details")
    sub = p.add_subparsers(dest="command", required=True)

    m = sub.add_parser("mannequin", help="write the licence-free SMPL-X-format mannequin model files")
    m.add_argument("dir", help="model directory to write (smplx/SMPLX_*.npz and auxiliary files go inside)")
    m.set_defaults(func=_cmd_mannequin)

    pr = sub.add_parser("predict", help="SMPL-X parameters for given person boxes in one image")
    pr.add_argument("image", help="RGB image file (jpg/png)")
    pr.add_argument("--box", nargs=4, type=float, action="append", required=True, metavar=("X1", "Y1", "X2", "Y2"),
                    help="person box in pixels (repeat for several people)")
    pr.add_argument("--checkpoint", required=True, help="smpler_x_*.pth.tar")
    pr.add_argument("--model-dir", required=True, help="SMPL-X model directory (holds smplx/SMPLX_NEUTRAL.npz)")
    pr.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N or mps")
    pr.add_argument("--mesh", action="store_true", help="also store the vertices (10475×3 per person)")
    pr.add_argument("-o", "--output", required=True, help="output .npz")
    pr.set_defaults(func=_cmd_predict)

    from .pipeline import add_convert_arguments

    c = sub.add_parser("convert", help="video → MotionClip (.npz) with one SMPL-X track per person")
    add_convert_arguments(c)
    c.set_defaults(func=_cmd_convert)

    e = sub.add_parser("export-onnx", help="export the SMPLer-X network (without the SMPL-X layer) to ONNX")
    e.add_argument("checkpoint", help="smpler_x_*.pth.tar")
    e.add_argument("-o", "--output", required=True, help="output .onnx file")
    e.add_argument("--batch", type=int, help="fixed batch size (default: dynamic)")
    e.add_argument("--opset", type=int, default=18, help="ONNX opset (16–17 use the TorchScript exporter)")
    e.set_defaults(func=_cmd_export_onnx)

    d = sub.add_parser("demo", help="the mannequin demo: sample video → animated scene, FBX and accuracy")
    d.add_argument("--video", help="convert this video instead of the bundled sample (needs --model-dir)")
    d.add_argument("--model-dir", help="model directory with the official SMPL-X and SMPLer-X files")
    d.add_argument("--out", default="out", help="output folder (default: out)")
    d.set_defaults(func=_cmd_demo)
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(message)s")
    signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        return args.func(args)
    except EXPECTED_ERRORS as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt as exc:
        terminated = isinstance(exc, Terminated)
        print(f"error: {'terminated (SIGTERM)' if terminated else 'interrupted (Ctrl-C)'}; unfinished outputs were "
              "removed", file=sys.stderr)
        return 143 if terminated else 130


if __name__ == "__main__":
    sys.exit(main())
