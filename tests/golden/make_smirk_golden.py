"""Make ``smirk_timm.npz``: timm's own ``tf_mobilenetv3_large_minimal_100`` feature backbone (the
SMIRK expression encoder's) on seeded weights and inputs, the reference facecast's backbone is
tested against (``tests/test_smirk.py``).

Run it where timm imports (it needs torchvision built for the installed torch, which the test
environment's CPU torch has not), e.g. a throwaway venv:

    python -m venv /tmp/timmvenv && /tmp/timmvenv/bin/pip install torch torchvision timm numpy
    /tmp/timmvenv/bin/python tests/golden/make_smirk_golden.py
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import timm
import torch
import torch.nn.functional as F

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
from tiny_smirk import seeded_state  # noqa: E402

BACKBONE = "tf_mobilenetv3_large_minimal_100"
SEED = 0
INPUT_SEED = 7


def main() -> None:
    backbone = timm.create_model(BACKBONE, pretrained=False, features_only=True).eval()
    head = torch.nn.Linear(backbone.feature_info[-1]["num_chs"], 55)
    shapes = {f"encoder.{k}": tuple(v.shape) for k, v in backbone.state_dict().items()}
    shapes.update({f"expression_layers.0.{k}": tuple(v.shape) for k, v in head.state_dict().items()})
    state = {k: torch.from_numpy(v) for k, v in seeded_state(shapes, seed=SEED).items()}
    backbone.load_state_dict({k[len("encoder."):]: v for k, v in state.items() if k.startswith("encoder.")})
    head.load_state_dict({k[len("expression_layers.0."):]: v for k, v in state.items()
                          if k.startswith("expression_layers.0.")})
    images = torch.from_numpy(np.random.default_rng(INPUT_SEED).uniform(0, 1, (2, 3, 224, 224)).astype(np.float32))
    with torch.no_grad():
        features = F.adaptive_avg_pool2d(backbone(images)[-1], 1).flatten(1)
        raw = head(features)
    np.savez_compressed(HERE / "smirk_timm.npz", keys=np.array(list(shapes)),
                        shapes=np.array([",".join(map(str, s)) for s in shapes.values()]),
                        images_seed=INPUT_SEED, weights_seed=SEED, features=features.numpy(), raw=raw.numpy(),
                        timm=timm.__version__, torch=torch.__version__)
    print(f"wrote {HERE / 'smirk_timm.npz'}: {len(shapes)} keys, timm {timm.__version__}")


if __name__ == "__main__":
    main()
