"""SMPLer-X sizes as data (model_spec.md §1, §3.1): a frozen config per variant, no sizes in layer code."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any

__all__ = [
    "ModelConfig", "VARIANTS", "variant_config", "INPUT_IMG_SHAPE", "INPUT_BODY_SHAPE",
    "VIRTUAL_FOCAL", "VIRTUAL_PRINCPT", "CAMERA_3D_SIZE", "HAND_BOX_EXT", "FACE_BOX_EXT", "CONFIG_RANGES",
]

INPUT_IMG_SHAPE = (512, 384)  # (H, W) of the affine crop the network takes
INPUT_BODY_SHAPE = (256, 192)  # (H, W) the ViT sees after nearest ×0.5 inside the model


@dataclass(frozen=True)
class ModelConfig:
    """Every size of one SMPLer-X network; heads and constants of the reference are fixed across sizes.

    Attributes:
        name: variant name ("s32", …) or a free name for custom sizes (e.g. the demo's small ViT).
        embed_dim: ViT width C (also the heads' feature width).
        depth: number of transformer blocks.
        num_heads: attention heads (ViT-S of SMPLer-X has 12 heads of 32, not timm's 6).
        mlp_ratio: MLP hidden width / C.
        box_width: channels of the box net's up-sampling stages (256 in every official size; smaller only for
            declared custom networks such as the demo's, where it dominates the cost on CPU).
        checkpoint_file: the official file name, used in messages and the model directory layout.
        drop_path_rate: stochastic depth of the ViT's deepest block in training (the reference's 0.1/0.3/0.5/0.55
            for S/B/L/H come from the training config); no effect in eval mode.
    """

    name: str
    embed_dim: int
    depth: int
    num_heads: int
    mlp_ratio: int = 4
    patch_size: int = 16
    patch_padding: int = 2  # 4 + 2*(ratio//2 - 1) with ratio=1 in the reference, not 0
    num_task_tokens: int = 31  # 1 shape + 1 cam + 1 expr + 1 jaw + 2 hand (unused) + 25 body
    box_width: int = 256
    checkpoint_file: str = ""
    drop_path_rate: float = 0.0

    def __post_init__(self) -> None:
        if self.embed_dim % self.num_heads:
            raise ValueError(f"embed_dim {self.embed_dim} is not divisible by num_heads {self.num_heads}")
        if self.embed_dim % 4:
            raise ValueError(f"embed_dim {self.embed_dim} must be divisible by 4 (the hand RoI net uses C/4)")
        if not 0.0 <= self.drop_path_rate < 1.0:
            raise ValueError(f"drop_path_rate {self.drop_path_rate} must be in [0, 1)")

    @property
    def grid(self) -> tuple[int, int]:
        """Patch grid (Hp, Wp) of the 256×192 body input."""
        h, w = INPUT_BODY_SHAPE
        p, pad = self.patch_size, self.patch_padding
        return (h + 2 * pad - p) // p + 1, (w + 2 * pad - p) // p + 1

    def to_dict(self) -> dict:
        """Plain types only, so a checkpoint holding it loads with torch.load(weights_only=True)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, saved: Mapping[str, Any]) -> ModelConfig:
        """A config stored in a checkpoint, checked against SMPLer-X's architecture before anything is built
        (a crafted file must not make us allocate gigabytes); ValueError names the bad key and the allowed range.
        """
        if not isinstance(saved, Mapping):
            raise ValueError(f"'config' must be a dict, got {type(saved).__name__}")
        known = {f.name for f in fields(cls)}
        unknown = sorted(str(k) for k in saved if k not in known)
        if unknown:
            raise ValueError(f"'config' has unknown key(s) {unknown}; known: {sorted(known)}")
        for key, value in saved.items():
            if key in ("name", "checkpoint_file"):
                if not isinstance(value, str) or len(value) > 200:
                    raise ValueError(f"'config' {key}: expected a short string, got {type(value).__name__}")
                continue
            if key == "drop_path_rate":  # a training setting, stored with the config since stochastic depth
                if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value < 1.0:
                    raise ValueError(f"'config' drop_path_rate={value!r}: expected a number in [0, 1)")
                continue
            low, high = CONFIG_RANGES[key]
            if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
                raise ValueError(f"'config' {key}={value!r}: expected an integer in [{low}, {high}] "
                                 "(the range of SMPLer-X's architectures)")
        if "name" not in saved or not {"embed_dim", "depth", "num_heads"} <= set(saved):
            raise ValueError("'config' needs name, embed_dim, depth and num_heads")
        return cls(**dict(saved))


# Allowed values of a stored config: from the demo's small ViT up to H32 (model_spec.md §1); fixed parts fixed.
CONFIG_RANGES: dict[str, tuple[int, int]] = {
    "embed_dim": (16, 1280),
    "depth": (1, 32),
    "num_heads": (1, 16),
    "mlp_ratio": (1, 4),
    "patch_size": (16, 16),
    "patch_padding": (2, 2),
    "num_task_tokens": (31, 31),
    "box_width": (8, 256),
}


VARIANTS: dict[str, ModelConfig] = {
    "s32": ModelConfig("s32", 384, 12, 12, checkpoint_file="smpler_x_s32.pth.tar"),
    "b32": ModelConfig("b32", 768, 12, 12, checkpoint_file="smpler_x_b32.pth.tar"),
    "l32": ModelConfig("l32", 1024, 24, 16, checkpoint_file="smpler_x_l32.pth.tar"),
    "h32": ModelConfig("h32", 1280, 32, 16, checkpoint_file="smpler_x_h32.pth.tar"),
}


def variant_config(variant: str) -> ModelConfig:
    """Look a variant up by name; raises ValueError naming the known ones."""
    key = variant.lower()
    if key not in VARIANTS:
        raise ValueError(f"unknown SMPLer-X variant {variant!r}; expected one of {sorted(VARIANTS)}")
    return VARIANTS[key]

# The virtual camera of the 192×256 body image and the depth scale (model_spec.md §1, §3.5).
VIRTUAL_FOCAL = (5000.0, 5000.0)
VIRTUAL_PRINCPT = (96.0, 128.0)
CAMERA_3D_SIZE = 2.5
HAND_BOX_EXT = 2.0  # restore_bbox enlargement of hand boxes (aspect 1)
FACE_BOX_EXT = 1.5
