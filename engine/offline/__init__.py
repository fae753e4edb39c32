"""Offline rendering (``facecast render``): :mod:`.timeline` reads a script of keyframes (or a Live Link
Face recording) into per-frame parameters, :mod:`.presets` names common expressions, and :mod:`.job`
renders a timeline to MP4, PNG frames or a contact sheet, resumably, locally or over Ray."""
