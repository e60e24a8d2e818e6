"""SMPLer-X-H32 (`main/config/config_smpler_x_h32.py` of SMPLer-X)."""

OVERRIDES = {
    "variant": "h32",
    "trainsets": TOP32,
    "total_data_len": 4500000,
    "train_batch_size": 16,
    "pretrained_backbone": "pretrained_models/vitpose_huge.pth",
}
