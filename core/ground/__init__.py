"""Feet on the ground: floor and world frame per video, foot contact, foot locking, steady depth.

Runs after smoothing (core/smooth.py) on a MotionClip whose people live in the video's OpenCV camera.

1. Foot geometry: each foot gets a heel and a toe *sole* point, the rearmost and foremost vertices of the foot's
   lowest centimetre in the rest pose, posed by numpy forward kinematics of the 22 body joints (linear blend
   skinning without pose correctives; a few mm from smplx's vertices). SMPL-X's heel/toe vertex joints sit 2–4 cm
   above the sole, these touch the floor when the foot is flat.
2. Steady depth: depth is the least reliable coordinate of a monocular estimate. The root's image position is kept
   and its log-depth is smoothed more than the image-plane coordinates (`GroundOptions.depth_sigma`).
3. Floor (fixed camera): candidate points are the sole points of feet that are low (along the body's up axis) and
   still, moved in the image so the lowest one sits on the person box's bottom edge (a detector box locates the
   standing foot better than the network's leg length). RANSAC (3-point planes within 30° of the people's up axis),
   then a refit whose normal minimises the inliers' squared distances plus priors towards the people's balance axis
   (supporting ankles → neck, vertical on average for a person in balance) and a level camera; the points count as
   a couple of observations (a foot's points over many frames share its pose errors), so a person standing still or
   stepping on a line gets its tilt from the priors and a person walking about from the feet. The world frame: Z up,
   floor Z = 0, Y the camera's forward direction on the floor, origin under the first person's first root position
   (`MotionClip.camera_to_world`).
4. Contacts per foot: low (lowest sole point within `contact_height` of the track's own floor level, the median
   height of its still, low feet, which absorbs a per-person depth bias) and slow (horizontal speed), with
   hysteresis and a minimum duration.
5. Placement: at contact frames the height error of the planted feet is removed by the smallest root move under the
   root's error covariance (a depth error along the root's viewing ray is likelier than a sideways one), and that
   correction is smoothed over time (the floor fixes the scale along the viewing ray).
6. Foot locking (`mode`): auto / always hold each planted foot at its median position on the floor (auto leaves a
   contact alone whose foot slides more than `max_slide` metres: a deliberate slide or a wrong contact); grounding
   only puts planted feet on the floor; never leaves the root as placed. Each foot's move is shared between the root
   (its most likely move given the root's and the leg's error covariances, blended in and out over `blend` frames
   around each contact) and the leg, which reaches the rest by damped least-squares IK on hip and knee during the
   contact (`leg_ik`), the ankle keeping the foot's orientation.
7. Root motion: "world" (as filmed) or "in_place" (root kept over the world origin, for game engines).

Moving cameras: `background_motion` measures how much the video's background moves outside the person boxes; a
moving camera (or a floor fit that fails) keeps camera-frame output, with `camera_to_world` the identity.

Nothing here imports torch; the Blender add-on uses `guess_camera_to_world` (numpy only).
"""

from ._body import FootModel, foot_model, forward_kinematics, leg_ik, pose_track
from ._contacts import detect_contacts, foot_metrics
from ._floor import Floor, fit_floor, guess_camera_to_world, world_from_floor
from ._options import LOCK_MODES, ROOT_MOTIONS, GroundOptions
from ._stage import background_motion, ground_clip, ground_options, ground_stage

__all__ = [
    "LOCK_MODES",
    "ROOT_MOTIONS",
    "GroundOptions",
    "FootModel",
    "foot_model",
    "forward_kinematics",
    "pose_track",
    "leg_ik",
    "Floor",
    "fit_floor",
    "world_from_floor",
    "guess_camera_to_world",
    "detect_contacts",
    "foot_metrics",
    "background_motion",
    "ground_clip",
    "ground_options",
    "ground_stage",
]
