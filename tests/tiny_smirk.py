"""Random-weight SMIRK checkpoints in the published key layout, for tests.

SMIRK's ``SMIRK_em1.pt`` is one flat state dict: the pose, shape and expression encoders under
``smirk_encoder.{pose,shape,expression}_encoder.`` and the image generator under ``smirk_generator.``.
The expression encoder is a timm ``tf_mobilenetv3_large_minimal_100`` feature backbone (``encoder.``)
and one linear layer (``expression_layers.0``) to 50 expression, 2 eyelid and 3 jaw values.

Weights are drawn per key from a seed and the key's name, so the same (key, shape) always gets the
same values in any process or environment (the golden file of ``golden/make_smirk_golden.py`` was
made with timm from these values).
"""

from __future__ import annotations

import zlib
from pathlib import Path

import numpy as np

EXPRESSION_PREFIX = "smirk_encoder.expression_encoder."
HEAD_SCALE = 2e-3


def seeded_tensor(key: str, shape: tuple, *, seed: int = 0) -> np.ndarray:
    """The value of one state-dict entry: scaled like a trained network's (unit-ish activations)."""
    rng = np.random.default_rng([seed, zlib.crc32(key.encode())])
    shape = tuple(int(s) for s in shape)
    if key.endswith("num_batches_tracked"):
        return np.zeros(shape, np.int64)
    if key.endswith("running_var"):
        return rng.uniform(0.5, 1.5, shape).astype(np.float32)
    if key.endswith("running_mean"):
        return rng.normal(0.0, 0.1, shape).astype(np.float32)
    if len(shape) == 1:  # batch-norm or linear scale/shift
        if key.endswith("weight"):
            return rng.uniform(0.8, 1.2, shape).astype(np.float32)
        return rng.normal(0.0, 0.1, shape).astype(np.float32)
    fan_in = int(np.prod(shape[1:]))
    return rng.normal(0.0, np.sqrt(2.0 / fan_in), shape).astype(np.float32)


def seeded_state(shapes: dict[str, tuple], *, seed: int = 0) -> dict[str, np.ndarray]:
    return {k: seeded_tensor(k, s, seed=seed) for k, s in shapes.items()}


def write_smirk_checkpoint(path: Path, *, seed: int = 0) -> Path:
    """A ``SMIRK_em1.pt`` with random weights in the published layout: the expression encoder's
    keys exactly as SMIRK saves them, plus stand-ins for the other encoders and the generator
    (which a loader must skip)."""
    import torch

    from facecast.engine.face.smirk import expression_encoder_shapes

    state = {EXPRESSION_PREFIX + k: torch.from_numpy(v)
             for k, v in seeded_state(expression_encoder_shapes(), seed=seed).items()}
    # random features are hundreds wide: a head scaled so the outputs are FLAME-sized (about +-2)
    state[EXPRESSION_PREFIX + "expression_layers.0.weight"] *= HEAD_SCALE
    others = {"smirk_encoder.pose_encoder.pose_cam_layers.0.weight": (6, 576),
              "smirk_encoder.pose_encoder.encoder.conv_stem.weight": (16, 3, 3, 3),
              "smirk_encoder.shape_encoder.shape_layers.0.weight": (300, 960),
              "smirk_encoder.shape_encoder.encoder.conv_stem.weight": (16, 3, 3, 3),
              "smirk_generator.encoder1.enc1conv1.weight": (32, 6, 3, 3)}
    state.update({k: torch.from_numpy(seeded_tensor(k, s, seed=seed)) for k, s in others.items()})
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(state, path)
    return path
