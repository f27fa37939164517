"""ONNX export, engine builds and the runners (onnxruntime, torch, TensorRT) behind one interface."""
