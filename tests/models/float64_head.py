#!/usr/bin/python3
"""Evaluate an openWakeWord head (Flatten, Gemm, decomposed LayerNorm, Relu, Sigmoid) in
float64 with numpy, to tell ONNX Runtime's float32 rounding from an engine's.

Usage: /usr/bin/python3 tests/models/float64_head.py MODEL.onnx INPUT.npy [OURS.npy]
Prints the float64 score, ONNX Runtime's reference (MODEL.ref/output_0.npy) and, when given,
ember's output (from `emberctl run MODEL -i INPUT.npy -o DIR`: DIR/output_0.npy).
Needs Debian's python3-onnx and python3-numpy (scripts/setup.sh python3-onnx python3-numpy).
"""
import sys

import numpy as np
import onnx
from onnx import helper, numpy_helper


def attr(node, name, default=None):
    for a in node.attribute:
        if a.name == name:
            return helper.get_attribute_value(a)
    return default


def main():
    model_path, input_path = sys.argv[1], sys.argv[2]
    graph = onnx.load(model_path).graph
    env = {i.name: numpy_helper.to_array(i).astype(np.float64) for i in graph.initializer}
    env[graph.input[0].name] = np.load(input_path).astype(np.float64)
    binary = {"Sub": np.subtract, "Add": np.add, "Mul": np.multiply, "Div": np.divide,
              "Pow": np.power}
    score = None
    for n in graph.node:
        x = [env.get(name) for name in n.input]
        op = n.op_type
        if op == "Constant":
            out = numpy_helper.to_array(attr(n, "value")).astype(np.float64)
        elif op == "Flatten":
            out = x[0].reshape(x[0].shape[0], -1)
        elif op == "Gemm":
            b = x[1].T if attr(n, "transB", 0) else x[1]
            out = attr(n, "alpha", 1.0) * (x[0] @ b) + attr(n, "beta", 1.0) * x[2]
        elif op == "ReduceMean":
            out = x[0].mean(axis=tuple(attr(n, "axes")), keepdims=bool(attr(n, "keepdims", 1)))
        elif op in binary:
            out = binary[op](x[0], x[1])
        elif op == "Sqrt":
            out = np.sqrt(x[0])
        elif op == "Relu":
            out = np.maximum(x[0], 0)
        elif op == "Sigmoid":
            out = 1 / (1 + np.exp(-x[0]))
            score = out
        else:
            break  # what follows the Sigmoid only reshapes or copies the score
        env[n.output[0]] = out
    if score is None:
        sys.exit("no Sigmoid reached: not an openWakeWord head this script understands")
    ref = np.load(model_path[:-5] + ".ref/output_0.npy").astype(np.float64)
    print(f"float64:      {score.ravel()[0]:.12g}")
    print(f"onnxruntime:  {ref.ravel()[0]:.12g}  (relative to float64: "
          f"{abs(ref.ravel()[0] - score.ravel()[0]) / abs(score.ravel()[0]):.2g})")
    if len(sys.argv) > 3:
        ours = np.load(sys.argv[3]).astype(np.float64)
        print(f"ember:        {ours.ravel()[0]:.12g}  (relative to float64: "
              f"{abs(ours.ravel()[0] - score.ravel()[0]) / abs(score.ravel()[0]):.2g})")


if __name__ == "__main__":
    main()
