"""SMPLer-X-L5 (`main/config/config_smpler_x_l5.py` of SMPLer-X)."""

OVERRIDES = {
    "variant": "l32",
    "trainsets": TOP5,
    "total_data_len": 750000,
    "drop_path_rate": 0.5,  # body_encoder_*.py: stochastic depth of the ViT
    "resample_each_epoch": False,  # the reference's fixed balanced subset
    "train_batch_size": 32,
    "pretrained_backbone": "pretrained_models/vitpose_large.pth",
    "lr": 2e-5,
}
