"""A tiny SMPLer-X (ViT depth 2, width 96; box net width 64) on synthetic data: CPU tests and smoke runs;
not a model to use."""

OVERRIDES = {
    "variant": "custom",
    "model_size": {"embed_dim": 96, "depth": 2, "num_heads": 4, "box_width": 64},
    "pretrained_backbone": "",
    "drop_path_rate": 0.0,
    "trainsets": ("UP3D", "LSPET"),
    "data_strategy": "balance",
    "total_data_len": 16,
    "train_batch_size": 2,
    "end_epoch": 2,
    "lr": 1e-3,
    "min_lr": 1e-4,
    "num_workers": 0,
    "print_iters": 1,
    "syncbn": False,
}
