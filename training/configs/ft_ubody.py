"""Fine-tuning SMPLer-X-H32 on ubody (`main/config/config_ft_ubody.py`; the dataset list is an inferred stand-in,
training_spec.md §1.3 gives only its size: 4–5 domain sets)."""

BASE = "smpler_x_h32.py"
OVERRIDES = {
    "trainsets": ('UBody', 'MSCOCO', 'AGORA', 'PW3D'),
    "total_data_len": 1000000,
    "end_epoch": 5,
    "lr": 1e-5,
    "min_lr": 5e-7,
    "train_batch_size": 16,
    "init_checkpoint": "pretrained_models/smpler_x_h32.pth.tar",
}
