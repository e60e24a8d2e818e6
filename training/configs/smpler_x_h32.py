"""SMPLer-X-H32 (`main/config/config_smpler_x_h32.py` of SMPLer-X)."""

OVERRIDES = {
    "variant": "h32",
    "trainsets": TOP32,
    "total_data_len": 4500000,
    "drop_path_rate": 0.55,  # body_encoder_*.py: stochastic depth of the ViT
    "resample_each_epoch": False,  # the reference's fixed balanced subset
    "train_batch_size": 16,
    "pretrained_backbone": "pretrained_models/vitpose_huge.pth",
}
