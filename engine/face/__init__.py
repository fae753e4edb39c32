"""Face vision the stages share: MediaPipe's FaceLandmarker (:mod:`.tracker`) and its model file
(:mod:`.models`: found, downloaded and checked), landmark geometry (:mod:`.landmarks`: eye centres,
named connections) and ArcFace identity embeddings (:mod:`.arcface`). Sources, the portrait renderer,
enrollment and ``facecast eval`` import it from here; it imports no stage."""
