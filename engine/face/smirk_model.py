"""SMIRK's expression encoder as a torch module: a MobileNetV3 feature backbone, global average
pooling and one linear layer to FLAME's 50 expression, 2 eyelid and 3 jaw values, with SMIRK's
clamps (eyelids in [0, 1], jaw opening >= 0, the other jaw angles within +-0.2 rad).

State-dict keys are SMIRK's own, relative to ``smirk_encoder.expression_encoder.``: ``encoder.*``
(the backbone, see :mod:`.mobilenet_v3`) and ``expression_layers.0.{weight,bias}``.

Importing this module imports torch (:mod:`.smirk` imports it when it loads a checkpoint).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from facecast.engine.face.mobilenet_v3 import FEATURE_CHANNELS, MobileNetV3LargeMinimal
from facecast.engine.types import FLAME_DIM, FLAME_JAW_SIDE_LIMIT_RAD, FLAME_NUM_EXPRESSION, FLAME_NUM_EYELID


class ExpressionEncoder(nn.Module):
    """(B, 3, 224, 224) RGB in [0, 1] -> (B, 55) FLAME vector (expression, eyelids, jaw in rad)."""

    def __init__(self) -> None:
        super().__init__()
        self.encoder = MobileNetV3LargeMinimal()
        self.expression_layers = nn.Sequential(nn.Linear(FEATURE_CHANNELS, FLAME_DIM))

    def raw(self, images: torch.Tensor) -> torch.Tensor:
        """(B, 55) before the clamps."""
        features = F.adaptive_avg_pool2d(self.encoder(images), 1).flatten(1)
        return self.expression_layers(features)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return clamp_flame(self.raw(images))


def clamp_flame(raw: torch.Tensor) -> torch.Tensor:
    """SMIRK's output clamps on a (B, 55) vector (the expression adapter applies the same ones)."""
    e = FLAME_NUM_EXPRESSION
    lids = raw[:, e:e + FLAME_NUM_EYELID].clamp(0.0, 1.0)
    jaw_open = F.relu(raw[:, e + FLAME_NUM_EYELID:e + FLAME_NUM_EYELID + 1])
    jaw_side = raw[:, e + FLAME_NUM_EYELID + 1:].clamp(-FLAME_JAW_SIDE_LIMIT_RAD, FLAME_JAW_SIDE_LIMIT_RAD)
    return torch.cat([raw[:, :e], lids, jaw_open, jaw_side], dim=1)
