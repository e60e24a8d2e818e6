"""Training configuration: a dataclass of defaults (the values of SMPLer-X's `config_smpler_x_*32.py`,
training_spec.md §1.2) and small override files (`training/configs/*.py`) that change a few fields.

An override file is plain data: a module with `BASE = "other.py"` (optional, relative to this folder) and a dict
`OVERRIDES`. `load_config(path, **extra)` resolves the chain and returns a frozen `TrainConfig`.
"""

from __future__ import annotations

import ast
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path

TOP5 = ("MSCOCO", "AGORA", "BEDLAM", "SPEC", "GTA_Human2")
TOP10 = TOP5 + ("SynBody", "PoseTrack", "EgoBody_Egocentric", "PROX", "CrowdPose")
TOP20 = TOP10 + ("UBody", "PW3D", "EgoBody_Kinect", "MPI_INF_3DHP", "RICH", "MuCo", "InstaVariety", "Behave", "UP3D",
                 "ARCTIC")
TOP32 = TOP20 + ("MPII", "Human36M", "OCHuman", "CHI3D", "RenBody_HiRes", "MTP", "HumanSC3D", "RenBody", "FIT3D",
                 "Talkshow", "SSP3D", "LSPET")
CONFIG_DIR = Path(__file__).resolve().parent
# Every deliberate fix of the reference's behaviour: True = fixed (default), False = the reference.
REFERENCE_FLAGS = ("supervise_2d_only", "one_eyeball_map", "pw3d_smplx_joint_targets", "talkshow_right_hand",
                   "part_relative_depth", "restore_schedule_on_resume", "agora_kids_neutral_betas",
                   "boxes_from_keypoints", "uniform_part_boxes", "resample_each_epoch")


@dataclass(frozen=True)
class TrainConfig:
    """Every knob of a training run (defaults = SMPLer-X-S32)."""

    # model
    variant: str = "s32"  # s32/b32/l32/h32, or "custom" with model_size
    model_size: dict = field(default_factory=dict)  # custom: ModelConfig sizes {"embed_dim", "depth", "num_heads", …}
    pretrained_backbone: str = ""  # ViTPose checkpoint ('state_dict' with backbone.* keys); "" = random init
    init_checkpoint: str = ""  # start from these SMPLer-X weights at epoch 0 (fine-tuning: the reference's start_over)
    drop_path_rate: float = 0.1  # ViT stochastic depth in training (body_encoder_*.py: S .1, B .3, L .5, H .55)
    # data
    trainsets: tuple = TOP32
    data_root: str = "dataset"  # holds preprocessed_datasets/ and one folder per dataset
    body_model_dir: str = "models"  # SMPL-X model directory (smplx/SMPLX_NEUTRAL.npz …)
    data_strategy: str = "balance"  # balance | concat | weighted
    total_data_len: int = 4_500_000  # samples per epoch for balance/weighted
    dataset_weights: tuple = ()  # weighted: one weight per trainset
    resample_each_epoch: bool = True  # balance: fresh subset of large sets each epoch (False = reference, the
    # default of the smpler_x_* configs)
    sample_intervals: dict = field(default_factory=dict)  # per-dataset override of the HumanData interval
    no_aug: bool = False  # disable augmentation
    num_workers: int = 2  # DataLoader workers per process
    # optimisation
    train_batch_size: int = 32  # per process
    end_epoch: int = 10
    lr: float = 1e-5
    min_lr: float = 1e-6  # cosine floor, stepped every iteration, no warm-up
    weight_decay: float = 0.0
    encoder_lr_scale: float = 1.0  # encoder LR = lr × this; < 1 keeps a pretrained encoder while new heads learn (demo)
    grad_clip: float = 0.0  # max grad norm; 0 = off (reference)
    bf16: bool = False  # autocast the network in bfloat16 (the SMPL-X layer stays float32)
    syncbn: bool = True  # SyncBatchNorm (GPU only)
    syncbn_per_node: bool = True  # one SyncBN group per node as the reference (LOCAL_WORLD_SIZE); False = global
    seed: int = 2023
    max_iters: int = 0  # stop after this many iterations in total (0 = run all epochs); for tests and smoke runs
    # loss weights (spec §5)
    smplx_pose_weight: float = 10.0
    smplx_shape_weight: float = 1.0
    smplx_kps_3d_weight: float = 100.0
    smplx_kps_2d_weight: float = 1.0
    net_kps_2d_weight: float = 1.0
    # bookkeeping
    output_dir: str = "output/train"
    print_iters: int = 100
    save_iters: int = 0  # also checkpoint every this many iterations (0 = once per epoch)
    testset: str = "EHF"
    # fixes of the reference's bugs: True = the project's fix, False = the reference (training/README.md)
    supervise_2d_only: bool = True  # 2D-only keypoints supervise the 2D heads (reference: masked by depth > 0)
    one_eyeball_map: bool = True  # GT eyeball slots 67/68 use the prediction's map (reference: swapped)
    pw3d_smplx_joint_targets: bool = True  # 3DPW 2D targets in 137 order (reference: SMPL order copied into slots)
    talkshow_right_hand: bool = True  # Talkshow right hand from right_hand_pose (reference: the left hand's)
    part_relative_depth: bool = True  # keypoint depth of hands/face wrist/neck-relative, 0.3 m (reference: root, 2 m)
    restore_schedule_on_resume: bool = True  # resume continues the cosine (reference: a new full-length cosine
    # from the saved LR)
    agora_kids_neutral_betas: bool = True  # AGORA kids use betas_neutral (reference: the gendered betas)
    boxes_from_keypoints: bool = True  # HumanData files without hand/face boxes get them from keypoints
    # (reference: those boxes are invalid)
    uniform_part_boxes: bool = True  # UBody hand/face boxes by process_bbox ×1.2 over labelled points (reference:
    # resize_bbox 0.65 of the annotation box; face = min/max of all 68 points incl. unlabelled zeros)
    reference_behaviour: bool = False  # True sets every fix above and resample_each_epoch to the reference's

    def __post_init__(self) -> None:
        if self.reference_behaviour:
            for name in REFERENCE_FLAGS:
                object.__setattr__(self, name, False)

    def to_dict(self) -> dict:
        """Plain types (lists for tuples) so a checkpoint holding it loads with weights_only=True."""
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, d: dict) -> "TrainConfig":
        names = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - names)
        if unknown:
            raise ValueError(f"unknown training config key(s) {unknown}")
        return cls(**{k: (tuple(v) if isinstance(v, list) else v) for k, v in d.items()})


def _read_override(path: Path) -> tuple[str | None, dict]:
    """Read `BASE` and `OVERRIDES` from an override file without executing it (literals only)."""
    tree = ast.parse(path.read_text(), str(path))
    base, over = None, {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            name = node.targets[0].id
            if name == "BASE":
                base = ast.literal_eval(node.value)
            elif name == "OVERRIDES":
                over = ast.literal_eval(_resolve_names(node.value))
    return base, over


def _resolve_names(node: ast.AST) -> ast.AST:
    """Allow the dataset-list names TOP5/TOP10/TOP20/TOP32 inside OVERRIDES."""
    lists = {"TOP5": TOP5, "TOP10": TOP10, "TOP20": TOP20, "TOP32": TOP32}

    class _T(ast.NodeTransformer):
        def visit_Name(self, n: ast.Name) -> ast.AST:
            if n.id in lists:
                return ast.copy_location(ast.Constant(value=lists[n.id]), n)
            raise ValueError(f"config name {n.id!r} is not a literal (allowed: {sorted(lists)})")

    return _T().visit(node)


def load_config(path: str | Path, **extra) -> TrainConfig:
    """Resolve an override file (and its BASE chain) into a TrainConfig; `extra` fields win last.

    Raises:
        FileNotFoundError: the file (or a BASE) is missing; ValueError: an unknown key.
    """
    path = Path(path)
    if not path.exists() and (CONFIG_DIR / path.name).exists():
        path = CONFIG_DIR / path.name
    if not path.exists():
        raise FileNotFoundError(f"training config {path} not found (see {CONFIG_DIR} for the shipped ones)")
    base, over = _read_override(path)
    cfg = load_config(path.parent / base) if base else TrainConfig()
    names = {f.name for f in fields(TrainConfig)}
    unknown = sorted(set(over) - names) + sorted(set(extra) - names)
    if unknown:
        raise ValueError(f"{path}: unknown training config key(s) {unknown}")
    return replace(cfg, **{**over, **extra})
