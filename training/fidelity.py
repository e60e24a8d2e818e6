"""The data-side switches between the project's fixes of SMPLer-X's bugs and the reference's behaviour.

Each field is True for the fix (the default) and False for the reference; `training.configs.base.TrainConfig`
holds the same names, and its `reference_behaviour=True` sets them all to False (training/README.md lists them).
"""

from __future__ import annotations

from dataclasses import dataclass, fields


@dataclass(frozen=True)
class DataFlags:
    """Loader and target switches (see `TrainConfig` for what each one fixes)."""

    supervise_2d_only: bool = True
    one_eyeball_map: bool = True
    pw3d_smplx_joint_targets: bool = True
    talkshow_right_hand: bool = True
    part_relative_depth: bool = True
    agora_kids_neutral_betas: bool = True
    boxes_from_keypoints: bool = True
    uniform_part_boxes: bool = True

    @classmethod
    def from_config(cls, cfg) -> "DataFlags":
        """The data flags of a `TrainConfig` (or any object with the same attribute names)."""
        return cls(**{f.name: bool(getattr(cfg, f.name)) for f in fields(cls)})


REFERENCE = DataFlags(**{f.name: False for f in fields(DataFlags)})
