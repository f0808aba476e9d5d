#!/usr/bin/python3
"""Print the GEMM shape (M,K,N) of every pointwise (1x1, stride 1, group 1) Conv of an ONNX
model, one per line, for gemm-gflops: M output channels, K input channels, N output pixels
(batch 1). Shapes come from ONNX shape inference with dynamic dims set to 1."""
import sys

import onnx
from onnx import shape_inference


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: pointwise_shapes.py MODEL.onnx")
    m = onnx.load(sys.argv[1])
    for i in m.graph.input:
        for d in i.type.tensor_type.shape.dim:
            if not d.HasField("dim_value"):
                d.dim_value = 1
    m = shape_inference.infer_shapes(m)
    dims = {}
    for v in list(m.graph.value_info) + list(m.graph.input) + list(m.graph.output):
        dims[v.name] = [d.dim_value for d in v.type.tensor_type.shape.dim]
    for t in m.graph.initializer:
        dims[t.name] = list(t.dims)
    for n in m.graph.node:
        if n.op_type != "Conv":
            continue
        attrs = {a.name: onnx.helper.get_attribute_value(a) for a in n.attribute}
        w, y = dims.get(n.input[1]), dims.get(n.output[0])
        if not w or not y or len(w) != 4 or w[2:] != [1, 1]:
            continue
        if attrs.get("group", 1) != 1 or any(s != 1 for s in attrs.get("strides", [1, 1])):
            continue
        print(f"{w[0]},{w[1]},{y[2] * y[3]}")


if __name__ == "__main__":
    main()
