"""HTS-AT (a Swin transformer over the log-mel "image"), as LAION-CLAP and MS-CLAP 2023 use it.

Parameter names follow the original ``HTSAT_Swin_Transformer`` (``patch_embed``, ``layers.N.blocks.M``,
``tscam_conv``, ...); LAION-CLAP's feature-fusion variant adds ``patch_embed.mel_conv2d`` and
``patch_embed.fusion_model`` (attentional feature fusion, "aff_2d"). The forward pass returns the clip
embedding ("latent_output" / "embedding" in the originals): the mean of the final normalised tokens.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from clapbench.errors import ModelError
from clapbench.models.arch.frontend import LogmelFilterBank, Spectrogram, slaney_mel_filters

# The published configurations (LAION's HTSAT-tiny/base/large, MS-CLAP 2023 = tiny).
VARIANTS = {
    "htsat-tiny": (96, (2, 2, 6, 2)),
    "htsat-base": (128, (2, 2, 12, 2)),
    "htsat-large": (256, (2, 2, 12, 2)),
}


@dataclass
class HTSATConfig:
    embed_dim: int = 96
    depths: tuple[int, ...] = (2, 2, 6, 2)
    num_heads: tuple[int, ...] = (4, 8, 16, 32)
    window_size: int = 8
    mlp_ratio: float = 4.0
    spec_size: int = 256
    patch_size: int = 4
    patch_stride: int = 4
    in_chans: int = 1
    mel_bins: int = 64
    num_classes: int = 527
    n_fft: int = 1024
    fusion: bool = False  # LAION-CLAP "aff_2d" feature fusion
    extra: dict = field(default_factory=dict)

    @property
    def num_features(self) -> int:
        return self.embed_dim * 2 ** (len(self.depths) - 1)

    @property
    def freq_ratio(self) -> int:
        return self.spec_size // self.mel_bins

    def variant(self) -> str:
        for name, (dim, depths) in VARIANTS.items():
            if (self.embed_dim, tuple(self.depths)) == (dim, depths):
                return name
        return f"htsat(dim {self.embed_dim}, depths {'-'.join(map(str, self.depths))})"

    @classmethod
    def from_state_dict(cls, state: dict[str, torch.Tensor], prefix: str) -> "HTSATConfig":
        """Read the sizes from a checkpoint's tensors; anything absent keeps the HTSAT-tiny default."""
        cfg = cls()
        proj = state.get(prefix + "patch_embed.proj.weight")
        if proj is None or proj.ndim != 4:
            return cfg
        cfg.embed_dim, cfg.in_chans, cfg.patch_size = int(proj.shape[0]), int(proj.shape[1]), int(proj.shape[2])
        depths, heads = [], []
        while any(k.startswith(f"{prefix}layers.{len(depths)}.blocks.") for k in state):
            i = len(depths)
            blocks = {int(k[len(f"{prefix}layers.{i}.blocks.") :].split(".")[0]) for k in state if k.startswith(f"{prefix}layers.{i}.blocks.")}
            depths.append(max(blocks) + 1)
            table = state.get(f"{prefix}layers.{i}.blocks.0.attn.relative_position_bias_table")
            heads.append(int(table.shape[1]) if table is not None and table.ndim == 2 else 1)
        if depths:
            cfg.depths, cfg.num_heads = tuple(depths), tuple(heads)
        table = state.get(f"{prefix}layers.0.blocks.0.attn.relative_position_bias_table")
        if table is not None and table.ndim == 2:
            cfg.window_size = (int(round(math.sqrt(table.shape[0]))) + 1) // 2
        fc1 = state.get(f"{prefix}layers.0.blocks.0.mlp.fc1.weight")
        if fc1 is not None and fc1.ndim == 2:
            cfg.mlp_ratio = fc1.shape[0] / fc1.shape[1]
        head = state.get(prefix + "head.weight")
        if head is not None and head.ndim == 2:
            cfg.num_classes = int(head.shape[0])
        bn0 = state.get(prefix + "bn0.weight")
        if bn0 is not None:
            cfg.mel_bins = int(bn0.shape[0])
        kernels = state.get(prefix + "spectrogram_extractor.stft.conv_real.weight")
        if kernels is not None and kernels.ndim == 3:
            cfg.n_fft = int(kernels.shape[2])
        cfg.fusion = prefix + "patch_embed.mel_conv2d.weight" in state
        return cfg


def relative_position_index(window: int) -> torch.Tensor:
    """(window², window²) index into the relative-position bias table, as Swin builds it."""
    coords = torch.stack(torch.meshgrid(torch.arange(window), torch.arange(window), indexing="ij")).flatten(1)
    rel = (coords[:, :, None] - coords[:, None, :]).permute(1, 2, 0).contiguous()
    rel[:, :, 0] += window - 1
    rel[:, :, 1] += window - 1
    rel[:, :, 0] *= 2 * window - 1
    return rel.sum(-1)


def window_partition(x: torch.Tensor, window: int) -> torch.Tensor:
    """(B, H, W, C) -> (B * nW, window, window, C)."""
    b, h, w, c = x.shape
    x = x.view(b, h // window, window, w // window, window, c)
    return x.permute(0, 1, 3, 2, 4, 5).reshape(-1, window, window, c)


def window_reverse(windows: torch.Tensor, window: int, h: int, w: int) -> torch.Tensor:
    b = windows.shape[0] // ((h // window) * (w // window))
    x = windows.view(b, h // window, w // window, window, window, -1)
    return x.permute(0, 1, 3, 2, 4, 5).reshape(b, h, w, -1)


def shifted_window_mask(resolution: tuple[int, int], window: int, shift: int) -> torch.Tensor:
    """(nW, window², window²): 0 inside a region, -100 across the regions a cyclic shift brings together."""
    h, w = resolution
    regions = torch.zeros(1, h, w, 1)
    cuts = (slice(0, -window), slice(-window, -shift), slice(-shift, None))
    label = 0
    for hs in cuts:
        for ws in cuts:
            regions[:, hs, ws, :] = label
            label += 1
    labels = window_partition(regions, window).view(-1, window * window)
    diff = labels.unsqueeze(1) - labels.unsqueeze(2)
    return diff.masked_fill(diff != 0, -100.0).masked_fill(diff == 0, 0.0)


class WindowAttention(nn.Module):
    def __init__(self, dim: int, window: int, heads: int):
        super().__init__()
        self.window, self.heads = window, heads
        self.scale = (dim // heads) ** -0.5
        self.relative_position_bias_table = nn.Parameter(torch.zeros((2 * window - 1) ** 2, heads))
        self.register_buffer("relative_position_index", relative_position_index(window))
        self.qkv = nn.Linear(dim, dim * 3)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        b, n, c = x.shape
        q, k, v = self.qkv(x).reshape(b, n, 3, self.heads, c // self.heads).permute(2, 0, 3, 1, 4)
        bias = self.relative_position_bias_table[self.relative_position_index.view(-1)].view(n, n, -1).permute(2, 0, 1)
        if mask is not None:  # windows of one clip are consecutive: add each window's shift mask by broadcasting
            nw = mask.shape[0]
            q, k, v = (t.reshape(b // nw, nw, self.heads, n, -1) for t in (q, k, v))
            bias = bias.unsqueeze(0) + mask.unsqueeze(1)
        # softmax(q k^T * scale + bias) v, as the original computes it step by step
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=bias.to(q.dtype), scale=self.scale)
        return self.proj(out.reshape(b, self.heads, n, -1).transpose(1, 2).reshape(b, n, c))


class Mlp(nn.Module):
    def __init__(self, dim: int, hidden: int):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.act(self.fc1(x)))


class SwinBlock(nn.Module):
    def __init__(self, dim: int, resolution: tuple[int, int], heads: int, window: int, shift: int, mlp_ratio: float):
        super().__init__()
        if min(resolution) <= window:  # a window covers the whole map: no partition, no shift
            shift, window = 0, min(resolution)
        self.resolution, self.window, self.shift = resolution, window, shift
        self.norm1 = nn.LayerNorm(dim)
        self.attn = WindowAttention(dim, window, heads)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))
        self.register_buffer("attn_mask", shifted_window_mask(resolution, window, shift) if shift > 0 else None)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = self.resolution
        b, _, c = x.shape
        shortcut = x
        x = self.norm1(x).view(b, h, w, c)
        if self.shift:
            x = torch.roll(x, shifts=(-self.shift, -self.shift), dims=(1, 2))
        windows = window_partition(x, self.window).view(-1, self.window * self.window, c)
        windows = self.attn(windows, self.attn_mask).view(-1, self.window, self.window, c)
        x = window_reverse(windows, self.window, h, w)
        if self.shift:
            x = torch.roll(x, shifts=(self.shift, self.shift), dims=(1, 2))
        x = shortcut + x.reshape(b, h * w, c)
        return x + self.mlp(self.norm2(x))


class PatchMerging(nn.Module):
    def __init__(self, resolution: tuple[int, int], dim: int):
        super().__init__()
        self.resolution = resolution
        self.reduction = nn.Linear(4 * dim, 2 * dim, bias=False)
        self.norm = nn.LayerNorm(4 * dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = self.resolution
        b, _, c = x.shape
        x = x.view(b, h, w, c)
        x = torch.cat([x[:, 0::2, 0::2], x[:, 1::2, 0::2], x[:, 0::2, 1::2], x[:, 1::2, 1::2]], -1)
        return self.reduction(self.norm(x.view(b, -1, 4 * c)))


class SwinStage(nn.Module):
    """The original's BasicLayer: ``blocks`` then an optional ``downsample``."""

    def __init__(self, dim: int, resolution: tuple[int, int], depth: int, heads: int, window: int, mlp_ratio: float, downsample: bool):
        super().__init__()
        self.blocks = nn.ModuleList(
            SwinBlock(dim, resolution, heads, window, 0 if i % 2 == 0 else window // 2, mlp_ratio) for i in range(depth)
        )
        self.downsample = PatchMerging(resolution, dim) if downsample else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for block in self.blocks:
            x = block(x)
        return self.downsample(x) if self.downsample is not None else x


class AttentionalFeatureFusion(nn.Module):
    """LAION-CLAP's AFF ("aff_2d"): a learned per-position mix of the global and the local features."""

    def __init__(self, channels: int, r: int = 4):
        super().__init__()
        inner = channels // r
        self.local_att = nn.Sequential(
            nn.Conv2d(channels, inner, 1), nn.BatchNorm2d(inner), nn.ReLU(inplace=True), nn.Conv2d(inner, channels, 1), nn.BatchNorm2d(channels)
        )
        self.global_att = nn.Sequential(
            nn.AdaptiveAvgPool2d(1), nn.Conv2d(channels, inner, 1), nn.BatchNorm2d(inner), nn.ReLU(inplace=True),
            nn.Conv2d(inner, channels, 1), nn.BatchNorm2d(channels),
        )

    def forward(self, x: torch.Tensor, residual: torch.Tensor) -> torch.Tensor:
        mixed = x + residual
        weight = torch.sigmoid(self.local_att(mixed) + self.global_att(mixed))
        return 2 * x * weight + 2 * residual * (1 - weight)


class PatchEmbed(nn.Module):
    def __init__(self, cfg: HTSATConfig):
        super().__init__()
        p, s = cfg.patch_size, cfg.patch_stride
        self.grid = (cfg.spec_size // s, cfg.spec_size // s)
        pad = ((p - s) // 2, (p - s) // 2)
        self.fusion = cfg.fusion
        self.proj = nn.Conv2d(cfg.in_chans, cfg.embed_dim, kernel_size=p, stride=s, padding=pad)
        self.norm = nn.LayerNorm(cfg.embed_dim)
        if cfg.fusion:
            # The three local chunks are laid side by side in time, so the local conv strides 3x wider.
            self.mel_conv2d = nn.Conv2d(cfg.in_chans, cfg.embed_dim, kernel_size=(p, 3 * p), stride=(s, 3 * s), padding=pad)
            self.fusion_model = AttentionalFeatureFusion(cfg.embed_dim)

    def forward(self, x: torch.Tensor, longer: torch.Tensor | None = None) -> torch.Tensor:
        if not self.fusion:
            x = self.proj(x)
        else:
            # Channel 0 is the whole clip (or the clip itself when short); 1-3 are the local chunks.
            x, local = self.proj(x[:, 0:1]), x[:, 1:]
            idx = torch.nonzero(longer, as_tuple=True)[0] if longer is not None else x.new_zeros(0, dtype=torch.long)
            if len(idx):
                chunks = local[idx]
                b, c, h, w = chunks.shape
                feats = self.mel_conv2d(chunks.reshape(b * c, 1, h, w))
                feats = feats.view(b, c, *feats.shape[1:]).permute(0, 2, 3, 1, 4).flatten(3)
                width = x.shape[-1]
                if feats.shape[-1] < width:
                    feats = F.pad(feats, (0, width - feats.shape[-1]))
                x = x.clone()
                x[idx] = self.fusion_model(x[idx], feats[..., :width])
        return self.norm(x.flatten(2).transpose(1, 2))


class HTSAT(nn.Module):
    """HTS-AT with its own log-mel front end (used unless the mel comes precomputed, as in LAION fusion)."""

    def __init__(self, cfg: HTSATConfig, sample_rate: int, hop: int, fmin: float, fmax: float):
        super().__init__()
        self.cfg = cfg
        self.spectrogram_extractor = Spectrogram(cfg.n_fft, hop)
        self.logmel_extractor = LogmelFilterBank(slaney_mel_filters(sample_rate, cfg.n_fft, cfg.mel_bins, fmin, fmax))
        self.bn0 = nn.BatchNorm2d(cfg.mel_bins)
        self.patch_embed = PatchEmbed(cfg)
        grid = self.patch_embed.grid
        n = len(cfg.depths)
        self.layers = nn.ModuleList(
            SwinStage(
                cfg.embed_dim * 2**i, (grid[0] // 2**i, grid[1] // 2**i), cfg.depths[i], cfg.num_heads[i],
                cfg.window_size, cfg.mlp_ratio, downsample=i < n - 1,
            )
            for i in range(n)
        )
        self.norm = nn.LayerNorm(cfg.num_features)
        # The token-semantic head (framewise class scores): unused for embeddings, kept for strict loading.
        sf = cfg.spec_size // 2 ** (n - 1) // cfg.patch_stride // cfg.freq_ratio
        self.tscam_conv = nn.Conv2d(cfg.num_features, cfg.num_classes, kernel_size=(sf, 3), padding=(0, 1))
        self.head = nn.Linear(cfg.num_classes, cfg.num_classes)

    def log_mel(self, wave: torch.Tensor) -> torch.Tensor:
        """(batch, samples) -> (batch, 1, frames, mel_bins), the original's logmel_extractor output."""
        return self.logmel_extractor(self.spectrogram_extractor(wave))

    def to_image(self, mel: torch.Tensor) -> torch.Tensor:
        """bn0 over mel bins, then the original's reshape_wav2img: (B, C, T, F) -> (B, C, spec, spec)."""
        x = self.bn0(mel.to(self.bn0.weight.dtype).transpose(1, 3)).transpose(1, 3)
        target_t, target_f = self.cfg.spec_size * self.cfg.freq_ratio, self.cfg.spec_size // self.cfg.freq_ratio
        b, c, t, f = x.shape
        if t > target_t or f > target_f:
            raise ModelError(f"HTSAT input of {t} frames x {f} mel bins exceeds its {target_t} x {target_f} input")
        if t < target_t:
            x = F.interpolate(x, (target_t, f), mode="bicubic", align_corners=True)
        if f < target_f:
            x = F.interpolate(x, (x.shape[2], target_f), mode="bicubic", align_corners=True)
        x = x.permute(0, 1, 3, 2).reshape(b, c, target_f, self.cfg.freq_ratio, target_t // self.cfg.freq_ratio)
        return x.permute(0, 1, 3, 2, 4).reshape(b, c, target_f * self.cfg.freq_ratio, target_t // self.cfg.freq_ratio)

    def embed_mel(self, mel: torch.Tensor, longer: torch.Tensor | None = None) -> torch.Tensor:
        """Log-mel (B, C, T, F) -> (B, num_features) clip embedding."""
        x = self.patch_embed(self.to_image(mel), longer)
        for layer in self.layers:
            x = layer(x)
        # The original regroups the tokens by frequency band before averaging; a mean over all tokens is the same.
        return self.norm(x).mean(dim=1)

    def forward(self, wave: torch.Tensor) -> torch.Tensor:
        return self.embed_mel(self.log_mel(wave))
