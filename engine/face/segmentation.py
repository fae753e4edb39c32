"""Person segmentation: MediaPipe's selfie segmentation model on one RGB image.

The model (:mod:`.selfie_model`) takes a 256x256 RGB image scaled to [0, 1] and gives a 256x256 map of the
chance that each pixel shows a person. It runs on the TFLite runtime inside MediaPipe (a core dependency;
its ImageSegmenter task feeds the model exactly that input, which the tests check against LiteRT's own
interpreter). The map is scaled back to the image's size here; :mod:`.refine` then fits its edge to the
image (hair).
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import cv2
import numpy as np

from facecast.engine.diagnostics import quiet_native_stderr
from facecast.engine.face.selfie_model import MatteModelError, resolve_selfie_model

#: The model's input side, pixels.
MODEL_SIDE_PX = 256


class PersonSegmenter:
    """Create once (loads the model), call :meth:`segment` per image, then :meth:`close`.

    Raises:
        MatteModelError: the model cannot be found, fetched or loaded (the message says what to do).
    """

    def __init__(self, model_path: Optional[Path] = None) -> None:
        import mediapipe as mp
        from mediapipe.tasks.python import BaseOptions, vision

        path = Path(model_path) if model_path is not None else resolve_selfie_model()
        options = vision.ImageSegmenterOptions(base_options=BaseOptions(model_asset_path=str(path)),
                                               output_confidence_masks=True, output_category_mask=False)
        try:
            with quiet_native_stderr():
                self._segmenter = vision.ImageSegmenter.create_from_options(options)
        except (RuntimeError, ValueError) as exc:
            raise MatteModelError(f"MediaPipe cannot load {path}: {exc}") from None
        self._mp = mp

    def person_probability(self, rgb: np.ndarray) -> np.ndarray:
        """(256, 256) float32 in [0, 1]: the model's map for ``rgb`` (any size, squeezed to its input)."""
        small = cv2.resize(np.ascontiguousarray(rgb[..., :3]), (MODEL_SIDE_PX, MODEL_SIDE_PX),
                           interpolation=cv2.INTER_AREA)
        image = self._mp.Image(image_format=self._mp.ImageFormat.SRGB, data=np.ascontiguousarray(small))
        with quiet_native_stderr():
            masks = self._segmenter.segment(image).confidence_masks
        return np.asarray(masks[0].numpy_view(), np.float32).reshape(MODEL_SIDE_PX, MODEL_SIDE_PX).copy()

    def segment(self, rgb: np.ndarray) -> np.ndarray:
        """(H, W) float32 in [0, 1], the person map of the (H, W, 3) uint8 image ``rgb`` at its own size
        (bilinear; the edge is still the model's, 2 px at 512: refine it with :func:`.refine.refine_alpha`)."""
        h, w = rgb.shape[:2]
        return np.clip(cv2.resize(self.person_probability(rgb), (w, h), interpolation=cv2.INTER_LINEAR), 0.0, 1.0)

    def close(self) -> None:
        if self._segmenter is not None:
            self._segmenter.close()
            self._segmenter = None


__all__ = ["PersonSegmenter", "MatteModelError", "MODEL_SIDE_PX"]
