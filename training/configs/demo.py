"""The mannequin demo's network (`python -m training.demo build-all`): the SMPLer-X architecture at a declared small
size (ViT width 128, depth 4, 4 heads; box net width 64: 4.6 M parameters, 1.35 GFLOP per crop against S32's 20),
trained from scratch on a CPU: 700 steps of 8 crops (5,600 samples, the reference's augmentation, cosine LR) over
1,600 synthetic renders of the mannequin that `training/demo.py` writes into the UP3D HumanData slot.
A demo of the whole chain, not a model for real videos.
"""

OVERRIDES = {
    "variant": "custom",
    "model_size": {"embed_dim": 128, "depth": 4, "num_heads": 4, "box_width": 64},
    "pretrained_backbone": "",
    "trainsets": ("UP3D",),
    "data_strategy": "balance",
    "total_data_len": 5600,
    "no_aug": False,
    "train_batch_size": 8,
    "end_epoch": 1,
    "lr": 5e-4,
    "min_lr": 2e-5,
    "grad_clip": 1.0,
    "num_workers": 1,
    "print_iters": 5,
    "save_iters": 25,
    "syncbn": False,
    "seed": 2023,
}
