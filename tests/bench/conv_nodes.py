#!/usr/bin/python3
"""Write one-node Conv (+ Relu) models of the depthwise and stem shapes of mobilenet_v2/v3 and
shufflenet_v2 into a folder, for timing one kernel at a time with `emberctl bench FILE` (its
min is the figure to read on a busy machine). Names say the shape: dw_C_H_kK_sS is a depthwise
conv of C channels on HxH, stem_M is 3 -> M channels, 3x3 stride 2 on 224x224."""
import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

DEPTHWISE = [  # channels, input size, kernel, stride
    (576, 7, 5, 1), (240, 14, 5, 1), (288, 14, 5, 2), (96, 28, 5, 2), (960, 7, 3, 1),
    (384, 14, 3, 1), (576, 14, 3, 1), (464, 7, 3, 1), (116, 28, 3, 1), (232, 28, 3, 2),
    (192, 28, 3, 1), (144, 56, 3, 1), (72, 56, 3, 2), (32, 112, 3, 1), (96, 112, 3, 2),
]
STEMS = [16, 24, 32]


def conv_model(path, c, m, h, k, s, group):
    rng = np.random.default_rng(0)
    w = numpy_helper.from_array(rng.standard_normal((m, c // group, k, k)).astype(np.float32), "w")
    b = numpy_helper.from_array(rng.standard_normal((m,)).astype(np.float32), "b")
    o = (h + 2 * (k // 2) - k) // s + 1
    g = helper.make_graph(
        [helper.make_node("Conv", ["x", "w", "b"], ["c"], group=group, kernel_shape=[k, k],
                          strides=[s, s], pads=[k // 2] * 4),
         helper.make_node("Relu", ["c"], ["y"])],
        "conv", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, c, h, h])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, m, o, o])], [w, b])
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)]), path)


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: conv_nodes.py OUT_DIR")
    os.makedirs(sys.argv[1], exist_ok=True)
    for c, h, k, s in DEPTHWISE:
        conv_model(os.path.join(sys.argv[1], f"dw_{c}_{h}_k{k}_s{s}.onnx"), c, c, h, k, s, c)
    for m in STEMS:
        conv_model(os.path.join(sys.argv[1], f"stem_{m}.onnx"), 3, m, 224, 3, 2, 1)


if __name__ == "__main__":
    main()
