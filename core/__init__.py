"""Blender-free core of the video → SMPL-X pipeline (SMPLer-X, NeurIPS 2023).

Importing `core` is cheap and needs numpy only: torch, smplx and cv2 load lazily in the stages that need them,
because the Blender add-on bundles this package and Blender's Python has no torch.
"""

__version__ = "0.1.0"
