"""The one schema of conversion settings: each option's name, type, choices, default, unit and help, once.

Everything that sets up a conversion derives from `OPTIONS`: the `convert` CLI (`add_arguments`), batch.py's flags
(the same function), the worker's command line (`to_argv`, parsed back by the CLI), the Blender add-on's scene
properties and panel rows (blender_addon/properties.py) and `ConvertOptions` itself (a dataclass generated from it).
Adding a setting is one `Option(...)` entry here; the pipeline then reads `opts.<name>`.

Needs numpy only (Blender's Python imports it; the smoothing presets come from core.smooth, also numpy-only).
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import os
from pathlib import Path
from typing import Any

from .smooth import SMOOTHING_PRESETS

__all__ = [
    "Option", "OPTIONS", "ConvertOptions", "VARIANTS", "DETECTORS", "SMOOTH_PARTS", "DETECTOR_SCORE_THRESHOLDS",
    "option", "add_arguments", "options_from_args", "to_argv", "parse_people",
]

VARIANTS = ("s32", "b32", "l32", "h32")  # the official sizes; core.model.config.VARIANTS holds their dimensions
DETECTORS = ("torchvision", "mmdet", "static-camera")
SMOOTH_PARTS = ("root", "body", "hands", "face", "transl")
# The detectors' scores mean different things: Faster R-CNN gives class probabilities (the reference keeps 0.5 for
# its demo), the static-camera detector gives the fraction of the box covered by foreground (a person fills 25-45 %
# of their box: arms and legs leave gaps), so one threshold for both loses people (issue 12).
DETECTOR_SCORE_THRESHOLDS = {"torchvision": 0.5, "mmdet": 0.5, "static-camera": 0.1}


@dataclasses.dataclass(frozen=True)
class Option:
    """One conversion setting.

    Attributes:
        name: Python identifier (the CLI flag is `--name-with-dashes`).
        kind: "str", "path", "int", "float" or "bool".
        default: the value when not given; None means "decided at run time" (the help says how).
        help: one sentence for the CLI, the tooltip and the README.
        label: short UI label.
        choices: (value, UI label, description) triples; empty for free values.
        open_choices: other values than `choices` are accepted too (e.g. `cuda:1`, track ids `0,2`).
        unit: unit of a number, shown in the help.
        minimum, maximum: bounds of a number.
        group: panel section ("model", "detect", "frames", "smoothing").
        advanced: drawn in the panel's folded "Advanced" section.
        ui: False for settings the add-on takes elsewhere (the model directory is a preference).
        ui_default: the value the add-on shows for an option whose default is None (it is then always passed).
        example: a typical value the add-on shows for an optional number (default None) until the user ticks it.
    """

    name: str
    kind: str
    default: Any
    help: str
    label: str = ""
    choices: tuple = ()
    open_choices: bool = False
    unit: str = ""
    minimum: float | None = None
    maximum: float | None = None
    group: str = "model"
    advanced: bool = False
    ui: bool = True
    ui_default: Any = None
    example: Any = None

    @property
    def flag(self) -> str:
        """The command-line flag, e.g. `--det-score`."""
        return "--" + self.name.replace("_", "-")

    @property
    def values(self) -> tuple:
        """The allowed values of a choice option."""
        return tuple(c[0] for c in self.choices)

    def full_help(self) -> str:
        """Help text with the unit and default, e.g. "smallest person box kept, width [px; default 50]"."""
        bits = [self.unit] if self.unit else []
        if self.default is not None and self.kind != "bool":
            bits.append(f"default {self.default:g}" if isinstance(self.default, float) else f"default {self.default}")
        return f"{self.help} [{'; '.join(bits)}]" if bits else self.help

    def convert(self, raw: Any) -> Any:
        """Check and convert one value (from a CLI string, a property or Python); ValueError names the flag."""
        if raw is None or (raw == "" and self.kind in ("path", "str") and self.default is None):
            return None
        try:
            value = {"int": int, "float": float, "bool": _as_bool, "path": os.fspath, "str": str}[self.kind](raw)
        except (TypeError, ValueError):
            raise ValueError(f"{self.flag} {raw!r}: expected a{'n' if self.kind == 'int' else ''} {self.kind}") \
                from None
        if self.kind == "float" and not math.isfinite(value):
            raise ValueError(f"{self.flag} {raw!r}: expected a finite number")
        if self.choices and not self.open_choices and value not in self.values:
            raise ValueError(f"{self.flag} {value!r}: expected one of {', '.join(self.values)}")
        if self.minimum is not None and value < self.minimum:
            raise ValueError(f"{self.flag} {value}: must be at least {self.minimum:g}")
        if self.maximum is not None and value > self.maximum:
            raise ValueError(f"{self.flag} {value}: must be at most {self.maximum:g}")
        return value


def _as_bool(raw: Any) -> bool:
    if isinstance(raw, str):
        if raw.lower() in ("1", "true", "yes", "on"):
            return True
        if raw.lower() in ("0", "false", "no", "off"):
            return False
        raise ValueError(raw)
    return bool(raw)


def _smooth_option(part: str, what: str) -> Option:
    return Option(f"smooth_{part}", "float", None, f"smoothing of {what}: overrides the preset (0 = off)",
                  label=part.capitalize() if part != "transl" else "Translation", unit="Gaussian sigma, seconds",
                  minimum=0.0, maximum=5.0, group="smoothing", ui_default=SMOOTHING_PRESETS["default"][part])


_SIZE_LABELS = {"s32": ("S", "SMPLer-X S32 (fastest)"), "b32": ("B", "SMPLer-X B32"), "l32": ("L", "SMPLer-X L32"),
                "h32": ("H", "SMPLer-X H32 (most accurate, needs a GPU)")}

OPTIONS: tuple[Option, ...] = (
    Option("model_dir", "path", None, "model directory with smplx/SMPLX_*.npz, the SMPLer-X checkpoints and the "
           "detector weights (default: $SMPLX_VIDEO_MODELS)", label="Model directory", ui=False),
    Option("checkpoint", "path", None, "SMPLer-X checkpoint in the official container, any size (default: "
           "<model-dir>/smpler_x_<variant>.pth.tar)", label="Checkpoint"),
    Option("variant", "str", "auto", "network size: auto takes the checkpoint's own (S32's file when no checkpoint is "
           "given); a size that differs from the checkpoint's is an error naming both", label="Model size",
           choices=(("auto", "Auto", "The checkpoint's own size (S32 when no checkpoint is set)"),
                    *((v, *_SIZE_LABELS[v]) for v in VARIANTS))),
    Option("device", "str", "auto", "where the network runs (auto: CUDA, else Apple MPS, else CPU; cuda:N picks a GPU)",
           label="Device", open_choices=True,
           choices=(("auto", "Auto", "CUDA if available, else Apple MPS, else CPU"), ("cpu", "CPU", "No GPU (slow)"),
                    ("cuda", "CUDA", "NVIDIA GPU"), ("mps", "MPS", "Apple Silicon GPU"))),
    Option("precision", "str", "float32", "network precision (half precisions need CUDA)", label="Precision",
           choices=(("float32", "float32", "Full precision"), ("bfloat16", "bfloat16", "CUDA only"),
                    ("float16", "float16", "CUDA only")), advanced=True),
    Option("batch_size", "int", 16, "person crops per network call (halved after a CUDA out-of-memory error)",
           label="Batch size", unit="crops", minimum=1, maximum=1024, advanced=True),
    Option("detector", "str", "torchvision", "person detector", label="Detector", group="detect",
           choices=(("torchvision", "Faster R-CNN", "torchvision's COCO person detector (weights in the model folder)"),
                    ("mmdet", "mmdet", "The SMPLer-X demo's mmdet detector (converted, no mmcv needed)"),
                    ("static-camera", "Static camera", "Background subtraction, no weights (tripod shots only)"))),
    Option("det_score", "float", None, "detections scoring below this are ignored (default per detector: " +
           ", ".join(f"{k} {v:g}" for k, v in DETECTOR_SCORE_THRESHOLDS.items()) + ")", label="Min. score",
           minimum=0.0, maximum=1.0, group="detect", advanced=True),
    Option("people", "str", "all", "whom to convert: all, largest (the most prominent person over the video) or "
           "comma-separated track ids", label="People", open_choices=True, group="detect",
           choices=(("all", "All", "One rig per tracked person"),
                    ("largest", "Largest", "Only the most prominent person (largest summed box area)"))),
    Option("min_box_width", "float", 50.0, "smallest person box kept, width", label="Min. box width", unit="px",
           minimum=0.0, group="detect", advanced=True),
    Option("min_box_height", "float", 150.0, "smallest person box kept, height", label="Min. box height", unit="px",
           minimum=0.0, group="detect", advanced=True),
    Option("max_gap", "int", 10, "a person missing for up to this many frames keeps their identity",
           label="Max. gap", unit="frames", minimum=0, group="detect", advanced=True),
    Option("min_track", "int", 5, "people seen on fewer frames are dropped", label="Min. track", unit="frames",
           minimum=1, group="detect", advanced=True),
    Option("detect_every", "int", 0, "run the detector every N frames (1: every frame, as the reference); 0: on "
           "adaptive keyframes (every 8-16 frames, sooner when a track is in doubt or someone may have entered), "
           "boxes following the network's own joints in between", label="Detect every", unit="frames", minimum=0,
           group="detect", advanced=True),
    Option("detector_size", "int", 640, "short side the network detectors (Faster R-CNN, mmdet) resize frames to "
           "(the reference's 800; a 150 px person in 1080p is still 89 px at 640)", label="Detector size", unit="px",
           minimum=32, maximum=4096, group="detect", advanced=True),
    Option("start", "int", 0, "first video frame to convert (0-based)", label="Start", unit="frame", minimum=0,
           group="frames"),
    Option("end", "int", None, "video frame to stop before (default: the end of the video)", label="End",
           unit="frame", minimum=1, group="frames"),
    Option("stride", "int", 1, "convert every N-th frame", label="Stride", unit="frames", minimum=1, group="frames",
           advanced=True),
    Option("focal", "float", None, "focal length of the video camera (default: estimated from a typical field of "
           "view)", label="Focal length", unit="px", minimum=1.0, group="frames", advanced=True),
    Option("smoothing", "str", "default", "smoothing preset; the per-part values below override it",
           label="Smoothing", group="smoothing",
           choices=tuple((name, name.capitalize(), ", ".join(f"{k} {v:g}" for k, v in preset.items()))
                         for name, preset in SMOOTHING_PRESETS.items())),
    _smooth_option("root", "the body orientation"),
    _smooth_option("body", "the body joints"),
    _smooth_option("hands", "the fingers"),
    _smooth_option("face", "jaw and expression"),
    _smooth_option("transl", "the root translation"),
    Option("person_height", "float", None, "the person's standing height, when known (every person of the video "
           "gets it): one video cannot tell a small person near the camera from a tall one further away, so this "
           "sets the body's size, its distance to the camera and the floor's depth (default: as the network "
           "estimates it)", label="Person height", unit="metres", minimum=0.5, maximum=2.5, group="ground",
           example=1.7),
    Option("ground", "bool", True, "find the floor and a world frame (Z up, floor at 0), foot contacts and foot "
           "locking after smoothing (--no-ground keeps the motion in the camera frame)", label="Ground",
           group="ground"),
    Option("foot_lock", "str", "auto", "foot locking during contacts", label="Foot lock", group="ground",
           choices=(("auto", "Auto", "Lock planted feet, leave feet that really slide"),
                    ("always", "Always", "Lock every contact"), ("never", "Never", "No locking, no grounding"),
                    ("grounding", "Grounding", "No floating or sinking, no slide fix"))),
    Option("root_motion", "str", "world", "root motion as filmed, or kept over the origin (game engines)",
           label="Root motion", group="ground",
           choices=(("world", "World", "The root moves as filmed"),
                    ("in_place", "In place", "The root stays over the world origin"))),
    Option("depth_smoothing", "float", 0.32, "smoothing of the distance to the camera, stronger than the image "
           "position's (depth is the least reliable coordinate; 0 = off)", label="Depth smoothing",
           unit="Gaussian sigma, seconds", minimum=0.0, maximum=5.0,
           group="ground", advanced=True),
)

_BY_NAME = {o.name: o for o in OPTIONS}


def option(name: str) -> Option:
    """The schema entry of `name` (KeyError names the known ones)."""
    try:
        return _BY_NAME[name]
    except KeyError:
        raise KeyError(f"no conversion option {name!r}; known: {', '.join(_BY_NAME)}") from None


class _ConvertOptionsMethods:
    """What ConvertOptions adds to its generated fields."""

    @property
    def min_box(self) -> tuple[float, float]:
        """(width, height) of the smallest person box kept, pixels."""
        return (float(self.min_box_width), float(self.min_box_height))

    @property
    def smoothing_overrides(self) -> dict[str, float]:
        """{part: sigma} of the per-part values that override the preset."""
        values = {p: getattr(self, f"smooth_{p}") for p in SMOOTH_PARTS}
        return {p: float(v) for p, v in values.items() if v is not None}

    @property
    def smoothing_strengths(self) -> dict[str, float]:
        """The preset's sigmas with the per-part overrides applied."""
        return {**SMOOTHING_PRESETS[self.smoothing], **self.smoothing_overrides}

    @property
    def score_threshold(self) -> float:
        """`det_score`, else the detector's own default (their scores are not comparable)."""
        return float(self.det_score) if self.det_score is not None else DETECTOR_SCORE_THRESHOLDS[self.detector]

    @property
    def requested_variant(self) -> str | None:
        """The size asked for, or None to take the checkpoint's own."""
        return None if self.variant == "auto" else self.variant

    def resolved_model_dir(self) -> Path:
        """`model_dir`, else the default model directory ($SMPLX_VIDEO_MODELS)."""
        from .body.files import default_model_dir

        return Path(self.model_dir) if self.model_dir else default_model_dir()

    def resolved_checkpoint(self) -> Path:
        """`checkpoint`, else the official file of the requested size (S32 for auto) in the model directory."""
        if self.checkpoint:
            return Path(self.checkpoint)
        return self.resolved_model_dir() / f"smpler_x_{self.requested_variant or 's32'}.pth.tar"

    def validate(self) -> None:
        """Check every value against the schema, plus what one entry cannot say; ValueError names the flag."""
        for opt in OPTIONS:
            opt.convert(getattr(self, opt.name))
        if self.end is not None and self.end <= self.start:
            raise ValueError(f"--end {self.end}: must be after --start {self.start}")
        if isinstance(self.people, str):
            parse_people(self.people)

    def replace(self, **changes: Any) -> "ConvertOptions":
        """A copy with `changes` applied."""
        return dataclasses.replace(self, **changes)


def _field(opt: Option) -> tuple:
    return (opt.name, Any, dataclasses.field(default=opt.default))


ConvertOptions = dataclasses.make_dataclass(
    "ConvertOptions", [_field(o) for o in OPTIONS], bases=(_ConvertOptionsMethods,))
ConvertOptions.__module__ = __name__  # make_dataclass's `module=` needs Python 3.12; Blender 4.2 embeds 3.11
ConvertOptions.__doc__ = ("Every setting of one conversion; one field per `core.options.OPTIONS` entry (see its help "
                          "text there). `people` may also be a list of track ids.")


def parse_people(value: str | list) -> str | list[int]:
    """"all", "largest" or a list of track ids from "0,2"; ValueError otherwise."""
    if not isinstance(value, str):
        return [int(v) for v in value]
    if value in ("all", "largest"):
        return value
    try:
        return [int(x) for x in value.split(",")]
    except ValueError:
        raise ValueError(f"--people {value!r}: expected all, largest or comma-separated track ids") from None


# ---------------------------------------------------------------------------------------------- command line
def add_arguments(parser: argparse.ArgumentParser, skip: tuple = ()) -> None:
    """One flag per option (except `skip`), all defaulting to None so `options_from_args` sees what was given."""
    group = parser.add_argument_group("conversion settings")
    for opt in OPTIONS:
        if opt.name in skip:
            continue
        kwargs: dict[str, Any] = {"help": opt.full_help(), "default": None, "dest": opt.name}
        if opt.kind == "bool":
            kwargs["action"] = argparse.BooleanOptionalAction
        else:
            kwargs["metavar"] = "|".join(opt.values) if opt.choices and len(opt.choices) <= 6 else opt.name.upper()
        group.add_argument(opt.flag, **kwargs)


def options_from_args(args: argparse.Namespace, **fixed: Any) -> ConvertOptions:
    """ConvertOptions from parsed flags (missing ones keep their defaults), validated; ValueError names the flag."""
    values = {}
    for opt in OPTIONS:
        raw = getattr(args, opt.name, None)
        if raw is not None:
            values[opt.name] = opt.convert(raw)
    values.update(fixed)
    if isinstance(values.get("people"), str):
        values["people"] = parse_people(values["people"])
    opts = ConvertOptions(**values)
    opts.validate()
    return opts


def to_argv(opts: ConvertOptions) -> list[str]:
    """The flags that reproduce `opts` (only values that differ from the defaults), for the worker's command."""
    argv: list[str] = []
    for opt in OPTIONS:
        value = getattr(opts, opt.name)
        if value == opt.default or value is None:
            continue
        if opt.kind == "bool":
            argv.append(opt.flag if value else "--no-" + opt.flag[2:])
        elif isinstance(value, (list, tuple)):
            argv += [opt.flag, ",".join(str(int(v)) for v in value)]
        else:
            if isinstance(value, float):
                text = repr(value)  # exact: the child parses back the same number
            else:
                text = os.fspath(value) if opt.kind == "path" else str(value)
            argv += [opt.flag, text]
    return argv
