"""The fast paths: Keras' convolutions and BatchNorm with faster CPU kernels
(`layers`), those kernels (`shifted`, `torch_ops`), which BatchNorm folds
into which convolution and how (`folding`), and the PyTorch backend's
inference plan (`plan`, `steps`)."""
