"""SMPLer-X training reproduction: data, sampling, augmentation, targets, losses, metrics, trainer, evaluation."""
