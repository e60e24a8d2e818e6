"""SMPLer-X-B10 (`main/config/config_smpler_x_b10.py` of SMPLer-X)."""

OVERRIDES = {
    "variant": "b32",
    "trainsets": TOP10,
    "total_data_len": 1500000,
    "train_batch_size": 32,
    "pretrained_backbone": "pretrained_models/vitpose_base.pth",
}
