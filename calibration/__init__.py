"""facecast.calibration: tools that produce calibration profiles and mappings."""
