"""The mannequin demo's network (`python -m training.demo build-all`): the SMPLer-X architecture at a declared small
size (ViT width 128, depth 4, 4 heads; box net width 32: 4.3 M parameters), trained from scratch on a CPU over
4,800 synthetic renders of the mannequin that `training/demo.py` writes into the UP3D HumanData slot, in the two
stages of the reference:

1. the encoder learns 2D joint heat maps (`training/pretrain.py`, 4,000 steps of 16) — the role of the ViTPose
   weights the official models start from, which cannot be had here;
2. the whole SMPLer-X from that encoder (`pretrained_backbone`), 10,000 steps of 8 (80,000 samples, the
   reference's augmentation; 83 min), cosine LR 5e-4 → 1e-5 for the new heads and a tenth of it for the pretrained
   encoder (`encoder_lr_scale`, the usual fine-tuning practice; a run with the encoder at the full LR kept its heat
   maps too and scored about the same: held-out MPJPE 225 mm at step 500 against 236 mm, 218 mm at step 1,000).
   The length was measured: 4,000 steps reached held-out MPJPE / PA-MPJPE 208.9 / 152.4 mm, worse than a constant
   mean pose on PA (147.3); 10,000 steps reach 190.4 / 138.1 (it passed the constant near step 5,500).

One change of the reference's loss weights: the heat-map term (`net_kps_2d_weight`) is ×10, so the joints the
pose regressor samples its features at stay learned while the heads train. Without stage 1, 2,000 steps of
stage 2 alone left the heat maps flat (no better than a constant) and the held-out error at the constant pose's.
A demo of the whole chain, not a model for real videos.
"""

OVERRIDES = {
    "variant": "custom",
    "model_size": {"embed_dim": 128, "depth": 4, "num_heads": 4, "box_width": 32},
    "pretrained_backbone": "",
    "drop_path_rate": 0.0,
    "trainsets": ("UP3D",),
    "data_strategy": "balance",
    "total_data_len": 80000,
    "no_aug": False,
    "train_batch_size": 8,
    "end_epoch": 1,
    "lr": 5e-4,
    "encoder_lr_scale": 0.1,
    "min_lr": 1e-5,
    "net_kps_2d_weight": 10.0,
    "grad_clip": 1.0,
    "num_workers": 1,
    "print_iters": 20,
    "save_iters": 500,
    "syncbn": False,
    "seed": 2023,
}
