"""MobileNetV3-Large "minimal" with TensorFlow padding: the backbone of SMIRK's expression encoder.

SMIRK builds it with timm (``timm.create_model("tf_mobilenetv3_large_minimal_100", features_only=True)``)
and keeps the last feature map (960 channels at 1/32 of the input). This module is the same network
with the same state-dict keys (``conv_stem``, ``bn1``, ``blocks.S.B.*``), so SMIRK's checkpoint loads
into it as it is; it needs only torch (timm needs a torchvision built for the installed torch, which
a CPU-only torch does not have). ``tests/test_smirk.py`` checks it against timm's own outputs
(``tests/golden/``).

The "minimal" variant: ReLU everywhere, 3x3 depthwise kernels, no squeeze-excitation. "TensorFlow
padding": a stride-2 convolution pads ``SAME`` as TensorFlow does, the odd pixel at the bottom/right
(for a 224 input: 0 before, 1 after); stride-1 convolutions pad symmetrically. Batch norm eps 1e-3.

Importing this module imports torch.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

#: Batch-norm epsilon of TensorFlow-ported timm models.
BN_EPS = 1e-3
STEM_CHANNELS = 16
FEATURE_CHANNELS = 960
#: Stages of inverted-residual blocks: (expanded channels, output channels, stride) per block.
#: Stage 0 is one depthwise-separable block (16 -> 16); the last stage is a 1x1 conv to 960.
STAGES: tuple[tuple[tuple[int, int, int], ...], ...] = (
    ((64, 24, 2), (72, 24, 1)),
    ((72, 40, 2), (120, 40, 1), (120, 40, 1)),
    ((240, 80, 2), (200, 80, 1), (184, 80, 1), (184, 80, 1)),
    ((480, 112, 1), (672, 112, 1)),
    ((672, 160, 2), (960, 160, 1), (960, 160, 1)),
)


class SameConv2d(nn.Conv2d):
    """A convolution padded like TensorFlow's ``SAME`` (asymmetric when the total padding is odd)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pads = []
        for size, k, s, d in zip(x.shape[-2:], self.kernel_size, self.stride, self.dilation):
            total = max((math.ceil(size / s) - 1) * s + (k - 1) * d + 1 - size, 0)
            pads.append((total // 2, total - total // 2))
        (top, bottom), (left, right) = pads
        if top or bottom or left or right:
            x = F.pad(x, (left, right, top, bottom))
        return F.conv2d(x, self.weight, self.bias, self.stride, 0, self.dilation, self.groups)


def _conv(c_in: int, c_out: int, kernel: int, *, stride: int = 1, groups: int = 1) -> nn.Conv2d:
    if stride > 1:
        return SameConv2d(c_in, c_out, kernel, stride=stride, groups=groups, bias=False)
    return nn.Conv2d(c_in, c_out, kernel, stride=1, padding=kernel // 2, groups=groups, bias=False)


class BatchNormAct(nn.BatchNorm2d):
    """Batch norm, then ReLU when ``act`` (timm's ``BatchNormAct2d``: same state-dict keys as a batch norm)."""

    def __init__(self, channels: int, *, act: bool) -> None:
        super().__init__(channels, eps=BN_EPS)
        self.act = act

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = super().forward(x)
        return F.relu(x) if self.act else x


class DepthwiseSeparable(nn.Module):
    """3x3 depthwise, BN + ReLU, 1x1 pointwise, BN; a residual when the shape is kept."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv_dw = _conv(channels, channels, 3, groups=channels)
        self.bn1 = BatchNormAct(channels, act=True)
        self.conv_pw = _conv(channels, channels, 1)
        self.bn2 = BatchNormAct(channels, act=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.bn2(self.conv_pw(self.bn1(self.conv_dw(x))))


class InvertedResidual(nn.Module):
    """1x1 expansion, 3x3 depthwise (``stride``), 1x1 projection; a residual when stride 1 and channels kept."""

    def __init__(self, c_in: int, expanded: int, c_out: int, stride: int) -> None:
        super().__init__()
        self.conv_pw = _conv(c_in, expanded, 1)
        self.bn1 = BatchNormAct(expanded, act=True)
        self.conv_dw = _conv(expanded, expanded, 3, stride=stride, groups=expanded)
        self.bn2 = BatchNormAct(expanded, act=True)
        self.conv_pwl = _conv(expanded, c_out, 1)
        self.bn3 = BatchNormAct(c_out, act=False)
        self.residual = stride == 1 and c_in == c_out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.bn3(self.conv_pwl(self.bn2(self.conv_dw(self.bn1(self.conv_pw(x))))))
        return x + y if self.residual else y


class ConvBnAct(nn.Module):
    """1x1 convolution, BN + ReLU (the last stage)."""

    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        self.conv = _conv(c_in, c_out, 1)
        self.bn1 = BatchNormAct(c_out, act=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.bn1(self.conv(x))


class MobileNetV3LargeMinimal(nn.Module):
    """(B, 3, H, W) image -> (B, 960, ceil(H/32), ceil(W/32)) features (timm's last feature map)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv_stem = _conv(3, STEM_CHANNELS, 3, stride=2)
        self.bn1 = BatchNormAct(STEM_CHANNELS, act=True)
        stages: list[nn.Module] = [nn.Sequential(DepthwiseSeparable(STEM_CHANNELS))]
        c_in = STEM_CHANNELS
        for stage in STAGES:
            blocks = []
            for expanded, c_out, stride in stage:
                blocks.append(InvertedResidual(c_in, expanded, c_out, stride))
                c_in = c_out
            stages.append(nn.Sequential(*blocks))
        stages.append(nn.Sequential(ConvBnAct(c_in, FEATURE_CHANNELS)))
        self.blocks = nn.Sequential(*stages)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.blocks(self.bn1(self.conv_stem(x)))
