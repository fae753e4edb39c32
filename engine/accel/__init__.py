"""Acceleration backends for model-based renderers (ONNX, TensorRT, torch.compile).

Empty until the diffusion renderer lands: the portrait and test-pattern
renderers need no acceleration.
"""
