"""Face vision the stages share: MediaPipe's FaceLandmarker (:mod:`.tracker`) and its model file
(:mod:`.models`: found, downloaded and checked), landmark geometry (:mod:`.landmarks`: eye centres,
named connections), ArcFace identity embeddings (:mod:`.arcface`) and SMIRK's FLAME expression
estimate (:mod:`.smirk`, its network in :mod:`.smirk_model` and :mod:`.mobilenet_v3`). Sources, the
portrait renderer, enrollment, ``facecast eval`` and ``calibrate make-pairs`` import it from here; it
imports no stage."""
