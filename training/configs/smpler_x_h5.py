"""SMPLer-X-H5 (`main/config/config_smpler_x_h5.py` of SMPLer-X)."""

OVERRIDES = {
    "variant": "h32",
    "trainsets": TOP5,
    "total_data_len": 750000,
    "train_batch_size": 16,
    "pretrained_backbone": "pretrained_models/vitpose_huge.pth",
}
