"""SMPLer-X-H10 (`main/config/config_smpler_x_h10.py` of SMPLer-X)."""

OVERRIDES = {
    "variant": "h32",
    "trainsets": TOP10,
    "total_data_len": 1500000,
    "train_batch_size": 16,
    "pretrained_backbone": "pretrained_models/vitpose_huge.pth",
}
