"""SMPLer-X-S20 (`main/config/config_smpler_x_s20.py` of SMPLer-X)."""

OVERRIDES = {
    "variant": "s32",
    "trainsets": TOP20,
    "total_data_len": 3000000,
    "drop_path_rate": 0.1,  # body_encoder_*.py: stochastic depth of the ViT
    "resample_each_epoch": False,  # the reference's fixed balanced subset
    "train_batch_size": 32,
    "pretrained_backbone": "pretrained_models/vitpose_small.pth",
}
