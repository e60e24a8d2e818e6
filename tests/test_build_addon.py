"""build_addon.py: the extension zip validates with Blender's own extension tool, installs and enables headless, and its
operator turns a saved two-person MotionClip into two animated rigs with the clip's frame range and fps."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

import blender_helpers  # noqa: F401  (sets BLENDER_USER_RESOURCES before anything imports bpy)

pytestmark = pytest.mark.blender

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def addon_zip(tmp_path_factory) -> Path:
    sys.path.insert(0, str(ROOT))
    import build_addon

    return build_addon.build(tmp_path_factory.mktemp("dist"))


def test_zip_contents(addon_zip):
    names = set(zipfile.ZipFile(addon_zip).namelist())
    assert {"smplx_video/" + n for n in ("blender_manifest.toml", "__init__.py", "importer.py", "batch.py",
                                         "slurm_batch.sh", "core/__init__.py", "core/options.py",
                                         "core/motion.py", "core/body/files.py", "core/body/joint_names.py")} <= names
    assert not any("__pycache__" in n or n.endswith(".pyc") or "torch/" in n for n in names)
    assert addon_zip.name == "smplx_video-0.1.0.zip"


def test_legacy_install_choice_is_4_2_or_later(addon_zip):
    """The choice (issue 12): an extension for Blender 4.2+ only. No `bl_info` (so no Blender lists it as a legacy
    add-on it cannot run), the manifest says 4.2.0, the README says so, and everything sits in one top-level folder
    (an older Blender's "Install add-on" makes one unlisted folder instead of a dozen loose modules)."""
    import ast
    import tomllib

    archive = zipfile.ZipFile(addon_zip)
    assert {n.split("/")[0] for n in archive.namelist()} == {"smplx_video"}
    init = ast.parse(archive.read("smplx_video/__init__.py"))
    assigned = {t.id for node in ast.walk(init) if isinstance(node, ast.Assign) for t in node.targets
                if isinstance(t, ast.Name)}
    assert "bl_info" not in assigned
    manifest = tomllib.loads(archive.read("smplx_video/blender_manifest.toml").decode())
    assert manifest["blender_version_min"] == "4.2.0"
    assert "Blender 4.2 or later" in (ROOT / "README.md").read_text()


def test_zip_validates_with_blender_tool(addon_zip):
    import bpy

    tool = Path(bpy.utils.system_resource("SCRIPTS")) / "addons_core" / "bl_pkg" / "cli" / "blender_ext.py"
    result = subprocess.run([sys.executable, str(tool), "validate", str(addon_zip)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def _two_person_clip(path: Path):
    from blender_helpers import make_clip, random_track

    a = random_track(4, np.arange(0, 10), seed=1, box=(10, 10, 110, 300))
    b = random_track(9, np.arange(3, 13), seed=2, box=(200, 10, 400, 470), gender="female")
    clip = make_clip([a, b], num_frames=15, fps=24.0)
    clip.save(path)
    return clip


def _counts(bpy) -> tuple:
    return (len(bpy.data.objects), len(bpy.data.actions), len(bpy.data.meshes), len(bpy.data.armatures),
            len(bpy.data.collections))


def test_installed_extension_imports_a_two_person_clip(addon_zip, mannequin_dir, tmp_path):
    from blender_helpers import reset_blender

    bpy = reset_blender()
    result = bpy.ops.extensions.package_install_files(filepath=str(addon_zip), repo="user_default",
                                                      enable_on_install=True)
    assert result == {"FINISHED"}
    module = "bl_ext.user_default.smplx_video"
    assert module in sys.modules
    assert sys.modules[module].core.__name__ == f"{module}.core"  # the bundled copy, not the checkout's
    assert hasattr(bpy.types, "SMPLX_PT_import_video")
    prefs = bpy.context.preferences.addons[module].preferences

    clip_path = tmp_path / "two.npz"
    clip = _two_person_clip(clip_path)

    # bad input through the operator: missing model files → clear error, scene unchanged
    prefs.model_dir = str(tmp_path / "no_models")
    before = _counts(bpy)
    with pytest.raises(RuntimeError, match="SMPLX_NEUTRAL.npz"):
        bpy.ops.smplx_video.import_clip(filepath=str(clip_path))
    assert _counts(bpy) == before

    prefs.model_dir = str(mannequin_dir)
    assert bpy.ops.smplx_video.import_clip(filepath=str(clip_path)) == {"FINISHED"}
    scene = bpy.context.scene
    rigs = sorted((o for o in scene.objects if o.type == "ARMATURE"), key=lambda o: o["smplx_track_id"])
    assert [r["smplx_track_id"] for r in rigs] == [4, 9]
    assert [r["smplx_gender"] for r in rigs] == ["neutral", "female"]
    assert (scene.frame_start, scene.frame_end) == (1, clip.num_frames)  # Blender's timeline starts at 1
    assert scene.render.fps / scene.render.fps_base == pytest.approx(24.0)
    for rig, track in zip(rigs, clip.tracks):
        assert tuple(rig.animation_data.action.frame_range) == (track.frames[0] + 1, track.frames[-1] + 1)
        scene.frame_set(int(track.frames[5]) + 1)
        assert any(abs(v) > 1e-3 for pb in rig.pose.bones for v in pb.rotation_quaternion[1:])
    assert scene.camera is not None


def test_bundled_addon_imports_without_torch(addon_zip, mannequin_dir, tmp_path):
    """Blender's Python has numpy but no torch/scipy/cv2/smplx/av: the add-on and its bundled core must import and
    read a model file without them (imports of those names are made to fail)."""
    zipfile.ZipFile(addon_zip).extractall(tmp_path)
    code = f"""
import sys
for name in ("torch", "torchvision", "scipy", "cv2", "smplx", "av"):
    sys.modules[name] = None
sys.path.insert(0, {str(tmp_path)!r})
import smplx_video
from smplx_video import animate, batch, camera, export, importer, rig, worker
from smplx_video import deps, operators, panel, preferences, properties
from smplx_video.core import options
assert smplx_video.core.__name__ == "smplx_video.core", smplx_video.core.__name__
model = rig.load_body_model({str(mannequin_dir)!r})
assert model.rest_joints(model.shape_dirs[0, 0] * 0).shape == (55, 3)
smplx_video.core_module("motion").MotionClip
print("ok")
"""
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and result.stdout.strip().endswith("ok"), result.stdout + result.stderr


def test_batch_inside_the_installed_extension(addon_zip, mannequin_dir, tmp_path):
    """The batch.py shipped in the extension runs as the README's one does (it imported `blender_addon` before):
    two clips with the same name in different folders give two files, and a failed input makes the exit code 1."""
    from blender_helpers import make_clip, random_track

    zipfile.ZipFile(addon_zip).extractall(tmp_path / "extensions")
    batch = tmp_path / "extensions" / "smplx_video" / "batch.py"
    clips = []
    for i, folder in enumerate(("a", "b")):
        (tmp_path / folder).mkdir()
        clips.append(tmp_path / folder / "take.npz")
        make_clip([random_track(0, np.arange(3), seed=i)], num_frames=3).save(clips[-1])
    out = tmp_path / "out"
    cmd = [sys.executable, str(batch), "--clip", str(clips[0]), "--clip", str(clips[1]), "--output", str(out),
           "--model-dir", str(mannequin_dir), "--no-camera", "--format", "bvh"]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert sorted(p.name for p in out.iterdir()) == ["take-2.bvh", "take.bvh"]
    failed = subprocess.run(cmd + ["--clip", str(tmp_path / "missing.npz")], capture_output=True, text=True,
                            timeout=300, cwd=tmp_path)
    assert failed.returncode == 1 and "No module named" not in failed.stdout + failed.stderr
