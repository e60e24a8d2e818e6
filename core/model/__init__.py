"""SMPLer-X network: sizes, checkpoint mapping, layers and the assembled model."""

from .checkpoint import CheckpointError, infer_config, official_to_ours, ours_to_official, read_checkpoint
from .config import VARIANTS, ModelConfig, variant_config
from .smplerx import SMPLerX

__all__ = [
    "SMPLerX",
    "ModelConfig",
    "VARIANTS",
    "variant_config",
    "CheckpointError",
    "read_checkpoint",
    "official_to_ours",
    "ours_to_official",
    "infer_config",
]
