"""SMPLer-X-L32 (`main/config/config_smpler_x_l32.py` of SMPLer-X)."""

OVERRIDES = {
    "variant": "l32",
    "trainsets": TOP32,
    "total_data_len": 4500000,
    "drop_path_rate": 0.5,  # body_encoder_*.py: stochastic depth of the ViT
    "resample_each_epoch": False,  # the reference's fixed balanced subset
    "train_batch_size": 32,
    "pretrained_backbone": "pretrained_models/vitpose_large.pth",
}
