"""Training configs: a dataclass of defaults and override files (see base.py)."""
