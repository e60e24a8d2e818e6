"""The panel's settings as Blender properties, generated from core.options (one property per conversion option, same
name, label, default, bounds and tooltip), plus the import's own settings and the running conversion's state.

An option whose default is None ("decided at run time": end frame, focal length, score threshold) gets a
`use_<name>` checkbox beside its value; the per-part smoothing values show the preset's numbers and follow the preset.
"""

from __future__ import annotations

import bpy

from . import core_module

_options = core_module("options")
OPTIONS = tuple(o for o in _options.OPTIONS if o.ui)
GROUPS = (("model", "Model"), ("detect", "People"), ("frames", "Frames"), ("smoothing", "Smoothing"),
          ("ground", "Floor"))
TIMELINES = [("start", "Start at frame 1", "The first converted frame is scene frame 1 (Blender's convention)"),
             ("video", "Video's frame numbers", "Video frame N (counting from 1) is scene frame N")]


def _optional(opt) -> bool:
    """An option left to the run time unless the user ticks `use_<name>`."""
    return opt.default is None and opt.ui_default is None and opt.kind in ("int", "float")


def _property(opt, update=None):
    """The bpy property for one schema option."""
    common = {"name": opt.label or opt.name, "description": opt.full_help()}
    bounds = {k: v for k, v in (("min", opt.minimum), ("max", opt.maximum)) if v is not None}
    default = opt.default if opt.default is not None else opt.ui_default if opt.ui_default is not None \
        else opt.example
    if opt.choices:
        return bpy.props.EnumProperty(items=list(opt.choices), default=default, update=update, **common)
    if opt.kind == "bool":
        return bpy.props.BoolProperty(default=bool(default), **common)
    if opt.kind == "int":
        return bpy.props.IntProperty(default=int(default or bounds.get("min", 0)), **common, **bounds)
    if opt.kind == "float":
        unit = {"unit": "LENGTH"} if opt.unit == "metres" else {}  # shown in the scene's length units
        return bpy.props.FloatProperty(default=float(default if default is not None else bounds.get("min", 0.0)),
                                       **common, **bounds, **unit)
    return bpy.props.StringProperty(default=default or "", subtype="FILE_PATH" if opt.kind == "path" else "NONE",
                                    **common)


def _apply_preset(self, context) -> None:
    """Smoothing preset changed: show its per-part values (they are what the conversion gets)."""
    for part, sigma in core_module("smooth").SMOOTHING_PRESETS[self.smoothing].items():
        setattr(self, f"smooth_{part}", sigma)


def _settings_annotations() -> dict:
    notes = {
        "video": bpy.props.StringProperty(name="Video", subtype="FILE_PATH", description="Video file to convert"),
        "create_camera": bpy.props.BoolProperty(name="Create camera", default=True,
                                                description="Add the video camera with the video as background"),
        "pose_correctives": bpy.props.BoolProperty(
            name="Pose correctives", default=False,
            description="Add SMPL-X's pose-corrective shape keys, keyed per frame (exact, but slow to play and "
                        "export)"),
        "timeline": bpy.props.EnumProperty(name="Timeline", items=TIMELINES, default="start",
                                           description="Where the converted frames go on Blender's timeline"),
    }
    for opt in OPTIONS:
        notes[opt.name] = _property(opt, update=_apply_preset if opt.name == "smoothing" else None)
        if _optional(opt):
            notes[f"use_{opt.name}"] = bpy.props.BoolProperty(
                name=f"Set {opt.label.lower()}", default=False, description=f"Override: {opt.help}")
    return notes


SMPLXVideoSettings = type("SMPLXVideoSettings", (bpy.types.PropertyGroup,), {
    "__doc__": "Settings of \"Import video as SMPL-X animation\" (stored in the scene), generated from core.options",
    "__annotations__": _settings_annotations()})


class SMPLXVideoState(bpy.types.PropertyGroup):
    """Progress of the running conversion (on the window manager: not saved in .blend files)."""

    running: bpy.props.BoolProperty(default=False)
    cancel_requested: bpy.props.BoolProperty(default=False)
    progress: bpy.props.FloatProperty(min=0.0, max=1.0, subtype="FACTOR")
    status: bpy.props.StringProperty(default="")


def convert_options(settings, model_dir: str):
    """core.options.ConvertOptions from the panel settings (validated by the caller)."""
    values = {"model_dir": model_dir}
    for opt in OPTIONS:
        if _optional(opt) and not getattr(settings, f"use_{opt.name}"):
            continue
        value = getattr(settings, opt.name)
        if opt.kind == "path":
            value = bpy.path.abspath(value) if value else None
        elif opt.kind == "float":
            value = float(f"{value:.6g}")  # bpy stores float32: 0.12 reads back as 0.11999999731779099
        values[opt.name] = value
    return _options.ConvertOptions(**values)


# A row of buttons gives each choice the same width: choices are drawn as one row when that many buttons of the
# longest label (plus two characters of padding each) fit this many characters of the sidebar's value column at its
# default width ("All | Largest" and "World | In place" do; "Auto S B L H" showed "A…" and "Auto CPU CUDA MPS" "CU…"
# in Blender 4.3, so they, like "Off Light Default Strong", are dropdowns)
ROW_CHARS = 20


def _in_one_row(opt) -> bool:
    """Whether an option's choices are drawn as one horizontal row of buttons rather than a dropdown."""
    if not opt.choices:
        return False
    return len(opt.choices) * (max(len(label) for _, label, _ in opt.choices) + 2) <= ROW_CHARS


def draw_option(layout, settings, opt) -> None:
    """One labelled row (property split); optional values get their checkbox in front. Choices are a dropdown or,
    when short, one row of buttons: an expanded enum in a column would list its items one under another and push
    the rest of the panel below the fold."""
    if _optional(opt):
        row = layout.row(heading=opt.label)
        row.prop(settings, f"use_{opt.name}", text="")
        sub = row.row()
        sub.active = getattr(settings, f"use_{opt.name}")
        sub.prop(settings, opt.name, text="")
    elif _in_one_row(opt):
        layout.row(align=True).prop(settings, opt.name, expand=True)  # a row lays the expanded items side by side
    else:
        layout.prop(settings, opt.name)


classes = (SMPLXVideoSettings, SMPLXVideoState)


def register_properties() -> None:
    bpy.types.Scene.smplx_video = bpy.props.PointerProperty(type=SMPLXVideoSettings)
    bpy.types.WindowManager.smplx_video_state = bpy.props.PointerProperty(type=SMPLXVideoState)


def unregister_properties() -> None:
    del bpy.types.WindowManager.smplx_video_state
    del bpy.types.Scene.smplx_video
