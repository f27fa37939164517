"""Convert one of BlazePose's .tflite models to an ONNX that takes any batch.

Runs INSIDE the conversion environment (tensorflow-cpu + tf2onnx + onnx, made by
`engines.blazepose_onnx`), never in the product's: it imports nothing of camerapose.

    python tflite_to_onnx.py IN.tflite OUT.onnx [--opset 13]

Three steps:
1. Densify. The person detector stores 38 weight tensors sparse (a DENSIFY op expands each at
   load time); tf2onnx cannot read sparse constants. The dense values are read back from LiteRT's
   reference kernels (XNNPACK, the default delegate, leaves those tensors unread) and written into
   the model as plain constants, and the DENSIFY ops are dropped.
2. tf2onnx turns the dense .tflite into ONNX (standard ops only).
3. Batch. Input and outputs get a dynamic first dimension, and every Reshape whose target shape
   starts with a literal 1 gets 0 (keep the input's batch) or -1 (two-dimensional targets).
Prints one JSON line: the ops of the result and what was patched.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from collections import Counter
from pathlib import Path


def densify(src: Path, dst: Path) -> int:
    """Write `src` with its DENSIFY ops folded into constants to `dst`; -> number folded."""
    import numpy as np
    import tensorflow as tf
    from tensorflow.lite.python import schema_py_generated as schema
    from tensorflow.lite.tools import flatbuffer_utils

    model = flatbuffer_utils.read_model(str(src))
    graph = model.subgraphs[0]

    def opcode(op) -> int:
        code = model.operatorCodes[op.opcodeIndex]
        return max(code.builtinCode, code.deprecatedBuiltinCode)

    ops = [op for op in graph.operators if opcode(op) == schema.BuiltinOperator.DENSIFY]
    if not ops:
        dst.write_bytes(src.read_bytes())
        return 0
    resolver = tf.lite.experimental.OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES
    interp = tf.lite.Interpreter(model_path=str(src), experimental_op_resolver_type=resolver,
                                 experimental_preserve_all_tensors=True)
    interp.allocate_tensors()
    inp = interp.get_input_details()[0]
    interp.set_tensor(inp["index"], np.zeros(inp["shape"], inp["dtype"]))
    interp.invoke()
    for op in ops:
        dense, sparse = graph.tensors[op.outputs[0]], graph.tensors[op.inputs[0]]
        buffer = schema.BufferT()
        buffer.data = np.frombuffer(interp.get_tensor(op.outputs[0]).tobytes(), np.uint8)
        model.buffers.append(buffer)
        dense.buffer = len(model.buffers) - 1
        # The sparse original is left unused: empty it so no reader tries to decode it.
        sparse.sparsity = None
        sparse.shape = np.array([0], np.int32)
        model.buffers[sparse.buffer].data = None
    graph.operators = [op for op in graph.operators if opcode(op) != schema.BuiltinOperator.DENSIFY]
    flatbuffer_utils.write_model(model, str(dst))
    return len(ops)


def to_onnx(src: Path, dst: Path, opset: int) -> None:
    import tf2onnx

    tf2onnx.convert.from_tflite(str(src), opset=opset, output_path=str(dst))


def batch_patch(path: Path) -> dict[str, int]:
    """Make the ONNX at `path` take any batch (in place). -> counts of what was patched."""
    import numpy as np
    import onnx
    from onnx import numpy_helper

    model = onnx.load(str(path))
    graph = model.graph
    for value in [*graph.input, *graph.output]:
        dim = value.type.tensor_type.shape.dim[0]
        dim.ClearField("dim_value")
        dim.dim_param = "batch"
    del graph.value_info[:]  # inferred shapes with the old batch of 1
    consts = {t.name: t for t in graph.initializer}
    patched = 0
    for node in graph.node:
        if node.op_type != "Reshape" or node.input[1] not in consts:
            continue
        const = consts[node.input[1]]
        shape = numpy_helper.to_array(const).astype(np.int64)
        if shape[0] == 1:
            shape[0] = 0 if -1 in shape[1:] else -1  # 0 keeps the input's batch; one -1 at most
            const.CopyFrom(numpy_helper.from_array(shape, const.name))
            patched += 1
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return {"reshapes": patched, "ops": dict(Counter(n.op_type for n in graph.node))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("tflite", type=Path)
    parser.add_argument("onnx", type=Path)
    parser.add_argument("--opset", type=int, default=13)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        dense = Path(tmp) / args.tflite.name
        folded = densify(args.tflite, dense)
        to_onnx(dense, args.onnx, args.opset)
    patched = batch_patch(args.onnx)
    print(json.dumps({"densified": folded, **patched}))


if __name__ == "__main__":
    main()
