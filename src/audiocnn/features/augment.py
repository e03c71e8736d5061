"""Training-time augmentation: SpecAugment stripes and mixup. Both are identities in eval mode."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

__all__ = ["MixPlan", "Mixup", "SpecAugment", "SpeedPerturb", "drop_stripes", "speed_perturb"]


def drop_stripes(x: torch.Tensor, dim: int, max_width: int, num_stripes: int, generator=None) -> torch.Tensor:
    """Zero ``num_stripes`` random stripes of width ``[0, max_width)`` along ``dim`` of each item.

    ``x`` is ``(batch, ..., time, freq)``-like; stripes are drawn independently per item.
    Returns a new tensor (the input is not modified).
    """
    if max_width <= 0 or num_stripes <= 0:
        return x
    size = x.shape[dim]
    batch = x.shape[0]
    device = x.device
    widths = torch.randint(0, max_width, (batch, num_stripes), generator=generator).to(device)
    starts = (torch.rand((batch, num_stripes), generator=generator).to(device) * (size - widths).clamp(min=1)).long()
    pos = torch.arange(size, device=device)
    # mask[b, i] is True where item b is dropped at index i along dim
    mask = ((pos[None, None, :] >= starts[..., None]) & (pos[None, None, :] < (starts + widths)[..., None])).any(1)
    shape = [batch] + [1] * (x.dim() - 1)
    shape[dim] = size
    return x.masked_fill(mask.view(shape), 0.0)


class SpecAugment(nn.Module):
    """Time and frequency stripe dropping (Park et al. 2019, as in PANNs).

    Input ``(batch, ..., time, freq)``; PANNs uses 2 time stripes of up to 64 frames and 2
    frequency stripes of up to 8 mel bins. Active only in training mode.
    """

    def __init__(self, time_drop_width: int = 64, time_stripes_num: int = 2, freq_drop_width: int = 8, freq_stripes_num: int = 2):
        super().__init__()
        self.time_drop_width, self.time_stripes_num = time_drop_width, time_stripes_num
        self.freq_drop_width, self.freq_stripes_num = freq_drop_width, freq_stripes_num

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training:
            return x
        x = drop_stripes(x, x.dim() - 2, self.time_drop_width, self.time_stripes_num)
        return drop_stripes(x, x.dim() - 1, self.freq_drop_width, self.freq_stripes_num)

    def extra_repr(self) -> str:
        return (
            f"time_drop_width={self.time_drop_width}, time_stripes_num={self.time_stripes_num}, "
            f"freq_drop_width={self.freq_drop_width}, freq_stripes_num={self.freq_stripes_num}"
        )


@dataclass(frozen=True)
class MixPlan:
    """One mixup draw for a batch: item ``i`` becomes ``lam[i] * x[i] + (1 - lam[i]) * x[perm[i]]``.

    The same plan mixes the inputs (waveforms, or log-mels inside a model's forward) and the
    targets, so both follow one draw. ``lam`` is ``(batch,)`` in [0, 1], ``perm`` a permutation
    of ``range(batch)``. PANNs' ``do_mixup`` mixes the pairs (0, 1), (2, 3) ... of a batch twice
    the size instead and returns half of it; a permutation keeps the batch size and mixes every
    item with another one.
    """

    lam: torch.Tensor
    perm: torch.Tensor

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """Mix ``x`` ``(batch, ...)`` along its first dimension."""
        lam = self.lam.to(x.device, x.dtype).view([-1] + [1] * (x.dim() - 1))
        return lam * x + (1 - lam) * x[self.perm.to(x.device)]


class Mixup(nn.Module):
    """Mixup (Zhang et al. 2018): ``x' = lam * x + (1 - lam) * x[perm]`` and likewise for targets.

    ``lam ~ Beta(alpha, alpha)`` per item. Targets are one-hot / multi-hot float tensors
    ``(batch, classes)``. ``forward`` mixes waveforms (works for every model); :meth:`plan`
    draws a :class:`MixPlan` that a model applies to its log-mel inside ``forward(x, mixup=plan)``.
    Active only in training mode; ``alpha <= 0`` disables it.
    """

    def __init__(self, alpha: float = 1.0):
        super().__init__()
        self.alpha = alpha

    def plan(self, batch: int, generator=None) -> MixPlan | None:
        """A draw for a batch of ``batch`` items, or None when mixup is off (eval mode, alpha 0,
        fewer than two items)."""
        if not self.training or self.alpha <= 0 or batch < 2:
            return None
        lam = torch.distributions.Beta(self.alpha, self.alpha).sample((batch,))
        return MixPlan(lam, torch.randperm(batch, generator=generator))

    def forward(self, x: torch.Tensor, targets: torch.Tensor, generator=None) -> tuple[torch.Tensor, torch.Tensor]:
        plan = self.plan(x.shape[0], generator)
        if plan is None:
            return x, targets
        return plan(x), plan(targets)

    def extra_repr(self) -> str:
        return f"alpha={self.alpha}"


def speed_perturb(x: torch.Tensor, factors: torch.Tensor) -> torch.Tensor:
    """Play each waveform ``factors[i]`` times faster (pitch and tempo together, as Kaldi's speed
    perturbation), keeping the length: ``(batch, samples)`` -> ``(batch, samples)``.

    Resampling is linear interpolation (cheap; the mild aliasing is harmless for augmentation);
    a sped-up item is zero-padded at the end, a slowed-down one is centre-cropped.
    """
    batch, n = x.shape
    out = torch.zeros_like(x)
    for i in range(batch):
        m = max(2, int(round(n / float(factors[i]))))
        y = nn.functional.interpolate(x[i].view(1, 1, n), size=m, mode="linear", align_corners=False).view(m)
        if m >= n:
            start = (m - n) // 2
            out[i] = y[start : start + n]
        else:
            out[i, :m] = y
    return out


class SpeedPerturb(nn.Module):
    """Random speed change of each training waveform by a factor in ``[1 - max_change, 1 + max_change]``.

    Changes pitch, formants and tempo together, which imitates other speakers' vocal tracts and
    speaking rates (Ko et al., "Audio augmentation for speech recognition", 2015) and other
    sources' sizes. Active only in training mode; ``max_change <= 0`` disables it.
    """

    def __init__(self, max_change: float = 0.1):
        super().__init__()
        if not 0 <= max_change < 1:
            raise ValueError(f"max_change must be in [0, 1), got {max_change}")
        self.max_change = max_change

    def forward(self, x: torch.Tensor, generator=None) -> torch.Tensor:
        if not self.training or self.max_change <= 0:
            return x
        u = torch.rand(x.shape[0], generator=generator)
        return speed_perturb(x, 1.0 + self.max_change * (2 * u - 1))

    def extra_repr(self) -> str:
        return f"max_change={self.max_change}"
