"""Checkpoint key mapping between the official SMPLer-X container and this package (pure dict → dict).

Official container (model_spec.md §6): `{'epoch': int, 'network': state_dict, 'optimizer': ...}`, keys prefixed with
`module.` (DDP), no `smplx_layer.*` entries, float32 (released files) or float16 (the parity file) tensors.
Our module tree uses the official attribute names, so official → ours is unwrap + prefix strip + the reference
loader's legacy renames; ours → official adds the prefix back and drops the body-model buffers.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import torch

from .config import VARIANTS, ModelConfig

__all__ = [
    "CheckpointError",
    "unwrap",
    "official_to_ours",
    "ours_to_official",
    "infer_config",
    "read_checkpoint",
]

_LEGACY_RENAMES = (  # Demoer._make_model's fix-ups for Hand4Whole/OSX-style names
    ("backbone.", "encoder."),
    ("body_rotation_net.", "body_regressor."),
    ("hand_rotation_net.", "hand_regressor."),
)
_BODY_PREFIX = "smplx_layer."


class CheckpointError(ValueError):
    """A checkpoint file that is not a usable SMPLer-X checkpoint (message names the file and the problem)."""


def unwrap(obj: Mapping) -> tuple[dict[str, torch.Tensor], dict]:
    """Container or bare state dict → (state dict, extra entries such as `epoch` and our `config`)."""
    if "network" in obj and isinstance(obj["network"], Mapping):
        extra = {k: v for k, v in obj.items() if k not in ("network", "optimizer")}
        return dict(obj["network"]), extra
    if "state_dict" in obj and isinstance(obj["state_dict"], Mapping):
        return dict(obj["state_dict"]), {}
    if obj and all(isinstance(v, torch.Tensor) for v in obj.values()):
        return dict(obj), {}
    raise CheckpointError("no 'network' state dict inside (expected {'epoch', 'network', ...} or a bare state dict)")


def official_to_ours(sd: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Strip `module.`, apply the legacy renames, drop body-model buffers, floats → float32."""
    out: dict[str, torch.Tensor] = {}
    for key, value in sd.items():
        k = key[len("module."):] if key.startswith("module.") else key
        for old, new in _LEGACY_RENAMES:
            if k.startswith(old):
                k = new + k[len(old):]
        if k.startswith(_BODY_PREFIX):
            continue
        out[k] = value.float() if value.is_floating_point() else value
    return out


def ours_to_official(sd: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Our state dict → the `network` entry of an official container (`module.` prefix, no body model)."""
    return {f"module.{k}": v for k, v in sd.items() if not k.startswith(_BODY_PREFIX)}


def infer_config(sd: Mapping[str, torch.Tensor], saved: Mapping | None = None) -> ModelConfig:
    """Size of the network in a state dict (ours): width from the task tokens, depth from the block count.

    Official files carry no config; their width picks the variant. Our own files may carry `config`
    (custom sizes such as the demo's small ViT), which wins when present.
    """
    if saved:
        try:
            return ModelConfig.from_dict(saved)
        except ValueError as exc:
            raise CheckpointError(f"{exc}; the file is not a checkpoint this tool wrote, re-download it") from None
    if "encoder.task_tokens" not in sd:
        raise CheckpointError("no 'encoder.task_tokens' entry: not an SMPLer-X network")
    width = int(sd["encoder.task_tokens"].shape[-1])
    depth = len({k.split(".")[2] for k in sd if k.startswith("encoder.blocks.")})
    box = sd.get("box_net.bbox_center.0.weight")
    box_width = int(box.shape[1]) if box is not None and box.dim() > 1 else None
    for cfg in VARIANTS.values():
        if cfg.embed_dim == width and cfg.depth == depth and box_width == cfg.box_width:
            return cfg
    raise CheckpointError(f"width {width} and depth {depth} match no SMPLer-X variant "
                          f"({', '.join(f'{c.name}: {c.embed_dim}/{c.depth}' for c in VARIANTS.values())})")


def read_checkpoint(path: str | Path) -> tuple[dict[str, torch.Tensor], ModelConfig, dict]:
    """Load a checkpoint file safely (weights_only) → (our state dict, its config, extra entries).

    Raises:
        FileNotFoundError: the file is missing (names it and where official files come from).
        CheckpointError: the file is unreadable or holds no SMPLer-X network.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"SMPLer-X checkpoint not found: {path}. Download smpler_x_{{s32,b32,l32,h32}}.pth.tar from the "
            "SMPLer-X README (github.com/SMPLCap/SMPLer-X, or Hugging Face caizhongang/SMPLer-X) and put it in "
            "your model directory."
        )
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises several types for truncated or foreign files
        raise CheckpointError(f"{path}: cannot be read as a PyTorch checkpoint ({type(exc).__name__}: "
                              f"{str(exc).splitlines()[0] if str(exc) else 'no detail'}); re-download it") from exc
    if not isinstance(obj, Mapping):
        raise CheckpointError(f"{path}: holds a {type(obj).__name__}, not a checkpoint dict")
    try:
        raw, extra = unwrap(obj)
        sd = official_to_ours(raw)
        cfg = infer_config(sd, extra.get("config"))
    except CheckpointError as exc:
        raise CheckpointError(f"{path}: {exc}") from None
    return sd, cfg, extra
