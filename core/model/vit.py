"""The ViT encoder of SMPLer-X (ViTPose's `ViT` with task tokens; model_spec.md §3.1).

Attention runs through `scaled_dot_product_attention`, which picks the fused kernel of the device; parameter
names follow the official checkpoint (`patch_embed.proj`, `blocks.N.attn.qkv`, …) so loading is a prefix strip.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .config import ModelConfig

__all__ = ["ViTEncoder"]


class PatchEmbed(nn.Module):
    """16×16 patches by a strided conv with the reference's padding of 2 (256×192 → 16×12 grid)."""

    def __init__(self, dim: int, patch: int, padding: int) -> None:
        super().__init__()
        self.proj = nn.Conv2d(3, dim, kernel_size=patch, stride=patch, padding=padding)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(x).flatten(2).transpose(1, 2)


class Attention(nn.Module):
    """Multi-head self-attention with a fused qkv projection."""

    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(dim, dim * 3, bias=True)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, c = x.shape
        qkv = self.qkv(x).reshape(b, n, 3, self.heads, c // self.heads).permute(2, 0, 3, 1, 4)
        out = F.scaled_dot_product_attention(qkv[0], qkv[1], qkv[2])
        return self.proj(out.transpose(1, 2).reshape(b, n, c))


class Mlp(nn.Module):
    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.act(self.fc1(x)))


def drop_path(x: torch.Tensor, rate: float, training: bool) -> torch.Tensor:
    """Stochastic depth: in training, zero a residual branch for a random `rate` share of the samples and scale
    the kept ones by 1/(1−rate), so the expectation is unchanged; the identity in eval (inference is untouched)."""
    if rate <= 0.0 or not training:
        return x
    keep = 1.0 - rate
    mask = torch.empty((x.shape[0],) + (1,) * (x.ndim - 1), dtype=x.dtype, device=x.device).bernoulli_(keep)
    return x * mask / keep


class Block(nn.Module):
    """Pre-norm transformer block (LayerNorm eps 1e-6, exact GELU); `drop_path` is this block's stochastic-depth
    rate (training only)."""

    def __init__(self, dim: int, heads: int, mlp_ratio: int, drop_path: float = 0.0) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.attn = Attention(dim, heads)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = Mlp(dim, dim * mlp_ratio)
        self.drop_path = drop_path

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + drop_path(self.attn(self.norm1(x)), self.drop_path, self.training)
        return x + drop_path(self.mlp(self.norm2(x)), self.drop_path, self.training)


class ViTEncoder(nn.Module):
    """Body image (B,3,256,192) → task tokens (B,31,C) and patch features (B,C,16,12)."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        c = cfg.embed_dim
        hp, wp = cfg.grid
        self.grid = (hp, wp)
        self.num_task_tokens = cfg.num_task_tokens
        self.patch_embed = PatchEmbed(c, cfg.patch_size, cfg.patch_padding)
        self.pos_embed = nn.Parameter(torch.zeros(1, hp * wp + 1, c))
        self.task_tokens = nn.Parameter(torch.zeros(1, cfg.num_task_tokens, c))
        # ViTPose's stochastic-depth decay rule: block i drops with rate i/(depth−1) · drop_path_rate.
        rates = [cfg.drop_path_rate * i / max(cfg.depth - 1, 1) for i in range(cfg.depth)]
        self.blocks = nn.ModuleList(Block(c, cfg.num_heads, cfg.mlp_ratio, r) for r in rates)
        self.last_norm = nn.LayerNorm(c, eps=1e-6)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Random init as ViTPose: truncated normal (std .02) for tokens, embeddings and linears."""
        nn.init.trunc_normal_(self.pos_embed, std=0.02)
        nn.init.trunc_normal_(self.task_tokens, std=0.02)
        for m in self.blocks.modules():
            if isinstance(m, nn.Linear):
                nn.init.trunc_normal_(m.weight, std=0.02)
                nn.init.zeros_(m.bias)

    def forward(self, img: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        b = img.shape[0]
        x = self.patch_embed(img)
        # The "cls" slot of the position embedding is added to every patch; there is no class token.
        x = x + self.pos_embed[:, 1:] + self.pos_embed[:, :1]
        x = torch.cat((self.task_tokens.expand(b, -1, -1), x), dim=1)
        for blk in self.blocks:
            x = blk(x)
        x = self.last_norm(x)
        t = self.num_task_tokens
        feat = x[:, t:].transpose(1, 2).reshape(b, -1, *self.grid)
        return x[:, :t], feat
