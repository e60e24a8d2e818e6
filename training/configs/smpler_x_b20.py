"""SMPLer-X-B20 (`main/config/config_smpler_x_b20.py` of SMPLer-X)."""

OVERRIDES = {
    "variant": "b32",
    "trainsets": TOP20,
    "total_data_len": 3000000,
    "train_batch_size": 32,
    "pretrained_backbone": "pretrained_models/vitpose_base.pth",
}
