"""``facecast eval``: the fidelity harness. :mod:`.fidelity` renders a sequence of expressions and
measures it (closed loop: MediaPipe re-tracks each frame; identity distance; temporal stability),
:mod:`.landmark_blendshapes` is the geometry channel (MediaPipe's blendshape model on the landmarks a
renderer says it drew), and :mod:`.report` draws the response plots and contact sheet."""
