#!/usr/bin/python3
# Train ember's built-in default model and write everything that ships with it.
#
# The model is a 64-32-10 ReLU MLP fitted with scikit-learn's MLPClassifier on the
# 8x8 digits bundled with scikit-learn (a copy of the UCI optical digits test set).
# It is exported by hand with onnx.helper as exactly four nodes,
# Gemm -> Relu -> Gemm -> Softmax (opset 13, ir_version 7), so the engine needs no
# more operators than those. Training sees pixels scaled to 0..1; the 1/16 is folded
# into W1 so callers send raw 0..16 pixels. The script then re-reads its own file,
# runs onnx.checker and a plain numpy forward pass of the stored weights, and fails
# unless that pass matches sklearn's predict_proba to within MAX_PROBA_DIFF.
#
# Outputs (under --out-dir, default models/digits): 1/model.onnx, labels.txt,
# sample.json, sample.expected, README.md; and --ref (default
# tests/data/digits_ref.json): reference inputs, labels and probabilities for tests.
#
# Everything is deterministic: fixed seeds, single-threaded BLAS, no timestamps, so
# two runs with the same package versions give byte-identical files.
#
# Usage: /usr/bin/python3 scripts/train_digits.py [--out-dir DIR] [--ref FILE]
# Needs Debian's python3-sklearn python3-numpy python3-onnx.

import argparse
import hashlib
import json
import os
import sys

# Multi-threaded BLAS may reorder float sums between runs; one thread keeps
# training bit-for-bit repeatable. Must be set before numpy loads.
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

try:
    import numpy as np
    import onnx
    import sklearn
    from onnx import TensorProto, helper, numpy_helper
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split
    from sklearn.neural_network import MLPClassifier
except ImportError as exc:
    sys.exit(
        f"train_digits: {exc}\n"
        "train_digits: run `scripts/setup.sh python3-sklearn python3-numpy python3-onnx` "
        "to install what this script needs, then run it with /usr/bin/python3 "
        "(Debian's interpreter, not a pyenv/venv one)."
    )

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

SEED = 0
TEST_SIZE = 0.25
HIDDEN = 32
MAX_ITER = 2000
PIXEL_MAX = 16.0  # load_digits pixels are integers 0..16
OPSET = 13
IR_VERSION = 7
PRODUCER = "ember-train_digits"
PRODUCER_VERSION = "1"
MAX_PROBA_DIFF = 1e-5
MAX_MODEL_BYTES = 1 << 20
N_REF = 16
MAX_REF_WRONG = 3
SAMPLE_MIN_PROB = 0.999


def log(msg):
    print(f"train_digits: {msg}", flush=True)


def fail(msg):
    sys.exit(f"train_digits: FAILED: {msg}")


def build_model(w1, b1, w2, b2):
    """The exact graph the engine is written against; see the header comment."""
    f32 = np.float32
    inits = [
        numpy_helper.from_array(np.ascontiguousarray(w1, dtype=f32), "W1"),
        numpy_helper.from_array(np.ascontiguousarray(b1, dtype=f32), "B1"),
        numpy_helper.from_array(np.ascontiguousarray(w2, dtype=f32), "W2"),
        numpy_helper.from_array(np.ascontiguousarray(b2, dtype=f32), "B2"),
    ]
    nodes = [
        helper.make_node("Gemm", ["image", "W1", "B1"], ["fc1_out"], name="fc1", transB=1),
        helper.make_node("Relu", ["fc1_out"], ["h"], name="relu1"),
        helper.make_node("Gemm", ["h", "W2", "B2"], ["logits"], name="fc2", transB=1),
        helper.make_node("Softmax", ["logits"], ["probabilities"], name="softmax", axis=1),
    ]
    graph = helper.make_graph(
        nodes,
        "digits",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["N", w1.shape[1]])],
        [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["N", w2.shape[0]])],
        initializer=inits,
    )
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", OPSET)],
        producer_name=PRODUCER,
        producer_version=PRODUCER_VERSION,
    )
    model.ir_version = IR_VERSION
    model.doc_string = "8x8 handwritten digit classifier; see models/digits/README.md"
    return model


def load_weights(model):
    w = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    return w["W1"], w["B1"], w["W2"], w["B2"]


def forward(x, w1, b1, w2, b2, dtype):
    """Plain numpy forward pass of the stored graph; the oracle for the engine."""
    x = np.asarray(x, dtype=dtype)
    h = np.maximum(x @ w1.astype(dtype).T + b1.astype(dtype), 0)
    z = h @ w2.astype(dtype).T + b2.astype(dtype)
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def check_structure(model, path):
    onnx.checker.check_model(model, full_check=True)
    g = model.graph
    ops = [(n.op_type, n.name) for n in g.node]
    want = [("Gemm", "fc1"), ("Relu", "relu1"), ("Gemm", "fc2"), ("Softmax", "softmax")]
    if ops != want:
        fail(f"{path}: nodes {ops}, want {want}")
    if model.ir_version != IR_VERSION:
        fail(f"{path}: ir_version {model.ir_version}")
    opsets = [(o.domain, o.version) for o in model.opset_import]
    if opsets != [("", OPSET)]:
        fail(f"{path}: opset_import {opsets}")
    if [i.name for i in g.input] != ["image"] or [o.name for o in g.output] != ["probabilities"]:
        fail(f"{path}: wrong input/output names")
    for t in g.initializer:
        if not t.raw_data:
            fail(f"{path}: initializer {t.name} not stored as raw_data")


def sig8(v):
    return float(f"{v:.8g}")


def num(v):
    """Integer-valued pixels as JSON integers (0, 5, 13), as the request format shows."""
    return int(v) if float(v).is_integer() else float(v)


def write_text(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        f.write(text)


def write_bytes(path, data):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)


def pick_ref(y_test, pred, wrong):
    """Up to MAX_REF_WRONG misclassified samples, the first correct one of each digit,
    then the earliest remaining ones; returned in test-split order."""
    chosen = list(wrong[:MAX_REF_WRONG])
    for d in range(10):
        for i in range(len(y_test)):
            if y_test[i] == d and pred[i] == d:
                chosen.append(i)
                break
    for i in range(len(y_test)):
        if len(chosen) >= N_REF:
            break
        if i not in chosen:
            chosen.append(i)
    return sorted(chosen[:N_REF])


def ref_json(x, labels, probs):
    lines = ["{", '  "inputs": [']
    lines += [
        "    " + json.dumps([num(v) for v in row]) + ("," if k < len(x) - 1 else "")
        for k, row in enumerate(x)
    ]
    lines += [
        "  ],",
        '  "labels": ' + json.dumps([int(v) for v in labels]) + ",",
        '  "probabilities": [',
    ]
    lines += [
        "    " + json.dumps([sig8(v) for v in row]) + ("," if k < len(probs) - 1 else "")
        for k, row in enumerate(probs)
    ]
    lines += ["  ]", "}"]
    return "\n".join(lines) + "\n"


README = """\
# digits — ember's built-in default model

A small handwritten-digit classifier: a 64-32-10 multilayer perceptron (ReLU hidden
layer, softmax output) trained on the 8x8 digits dataset bundled with scikit-learn.
It is tiny ({model_bytes} bytes), needs only four operators, and is fully
reproducible from the script below, which is why it is ember's built-in default.

## Files

| file | what |
|---|---|
| `1/model.onnx` | the model, version 1 |
| `labels.txt` | class names, line *k* is the label of output *k* ("0".."9") |
| `sample.json` | a KServe v2 inference request for one test-split image |
| `sample.expected` | the digit the model predicts for `sample.json` |
| `config.json` | how emberd serves it from a repository (`--models models`): an 8x8 gray image body becomes the input, labels from `labels.txt` (docs/config.md) |
| `sample.png` | `sample.json`'s digit as an 8x8 grayscale PNG, written by `scripts/digits_sample_png.py` |

Reference inputs and probabilities for tests are in `tests/data/digits_ref.json`.

## Interface

- ONNX, ir_version {ir_version}, opset {opset} (default domain only), graph name `digits`.
- Input `image`: float32 `[N, 64]`, one 8x8 image per row flattened row-major,
  pixel values 0..16 exactly as `sklearn.datasets.load_digits()` gives them. Do not
  scale: the 1/16 used in training is folded into `W1`.
- Output `probabilities`: float32 `[N, 10]`, softmax probabilities for digits 0..9.
- Graph: `fc1` Gemm(image, W1[32,64], B1[32], transB=1) -> `relu1` Relu ->
  `fc2` Gemm(h, W2[10,32], B2[10], transB=1) -> `softmax` Softmax(axis=1).

## How it was made

    /usr/bin/python3 scripts/train_digits.py --out-dir models/digits

`MLPClassifier(hidden_layer_sizes=(32,), activation='relu', random_state=0,
max_iter={max_iter})`, default Adam solver, on pixels divided by 16; it stopped after
{n_iter} iterations. Split: `train_test_split(test_size=0.25, random_state=0,
stratify=y)`, {n_train} training and {n_test} test images.

**Test accuracy: {accuracy:.2%}** ({n_correct}/{n_test}).

The script checks its own output with `onnx.checker` and a numpy forward pass of
the stored float32 weights, which matches sklearn's `predict_proba` on the test set
to {proba_diff:.1e} (max abs difference). Training is deterministic (fixed seeds,
single-threaded BLAS, no timestamps): rerunning with the same packages
({versions}) reproduces `model.onnx` byte for byte, sha256
`{sha256}`.

`sample.json` is test-split image {sample_idx} (dataset row {sample_row}), a {sample_digit};
the model gives it probability {sample_prob:.6f}.

`tests/data/digits_ref.json` holds {n_ref} test-split images with their true labels
and the probabilities of a float64 numpy forward pass of the stored weights, rounded
to 8 significant digits.{wrong_note}

## Data and license

The data is scikit-learn's bundled copy (`sklearn/datasets/data/digits.csv.gz`) of
the test set of the UCI ML "Optical Recognition of Handwritten Digits" dataset,
E. Alpaydin and C. Kaynak, 1998
(https://archive.ics.uci.edu/dataset/80/optical+recognition+of+handwritten+digits):
1797 images from 13 writers. scikit-learn ships it under its BSD-3-Clause license;
the UCI repository lists the original dataset under CC BY 4.0. The weights in
`model.onnx` are derived from that data, so keep this attribution with them.
"""


def main():
    ap = argparse.ArgumentParser(description="Train and export ember's default digits model.")
    ap.add_argument(
        "--out-dir",
        default=os.path.join(REPO, "models", "digits"),
        help="where model, labels, sample and README go (default: models/digits)",
    )
    ap.add_argument(
        "--ref",
        default=os.path.join(REPO, "tests", "data", "digits_ref.json"),
        help="reference file for tests (default: tests/data/digits_ref.json)",
    )
    args = ap.parse_args()

    log(f"sklearn {sklearn.__version__}, numpy {np.__version__}, onnx {onnx.__version__}")
    digits = load_digits()
    x, y = digits.data, digits.target
    if x.shape[1] != 64 or x.min() < 0 or x.max() > PIXEL_MAX:
        fail(f"unexpected digits data: shape {x.shape}, range {x.min()}..{x.max()}")
    rows = np.arange(len(y))
    x_train, x_test, y_train, y_test, _, rows_test = train_test_split(
        x, y, rows, test_size=TEST_SIZE, random_state=SEED, stratify=y
    )
    log(f"{len(y)} images: {len(y_train)} train, {len(y_test)} test")

    log(f"training MLPClassifier(hidden_layer_sizes=({HIDDEN},), relu, max_iter={MAX_ITER})")
    clf = MLPClassifier(
        hidden_layer_sizes=(HIDDEN,), activation="relu", random_state=SEED, max_iter=MAX_ITER
    )
    clf.fit(x_train / PIXEL_MAX, y_train)
    if clf.n_iter_ >= MAX_ITER:
        fail(f"did not converge in {MAX_ITER} iterations")
    if list(clf.classes_) != list(range(10)):
        fail(f"unexpected classes {clf.classes_}")
    log(f"converged after {clf.n_iter_} iterations, final loss {clf.loss_:.6f}")

    pred_skl = clf.predict(x_test / PIXEL_MAX)
    n_correct = int((pred_skl == y_test).sum())
    accuracy = n_correct / len(y_test)
    log(f"test accuracy {accuracy:.4f} ({n_correct}/{len(y_test)})")

    # sklearn stores coefs as [in, out]; Gemm with transB=1 wants [out, in].
    w1 = clf.coefs_[0].T / PIXEL_MAX
    model = build_model(w1, clf.intercepts_[0], clf.coefs_[1].T, clf.intercepts_[1])
    blob = model.SerializeToString()
    if len(blob) > MAX_MODEL_BYTES:
        fail(f"model is {len(blob)} bytes, limit {MAX_MODEL_BYTES}")
    model_path = os.path.join(args.out_dir, "1", "model.onnx")
    write_bytes(model_path, blob)
    sha256 = hashlib.sha256(blob).hexdigest()
    log(f"wrote {model_path} ({len(blob)} bytes, sha256 {sha256})")

    # Verify what is on disk, not what is in memory.
    stored = onnx.load(model_path)
    check_structure(stored, model_path)
    weights = load_weights(stored)
    p64 = forward(x_test, *weights, np.float64)
    p32 = forward(x_test, *weights, np.float32)
    p_skl = clf.predict_proba(x_test / PIXEL_MAX)
    diff64 = float(np.abs(p64 - p_skl).max())
    diff32 = float(np.abs(p32 - p_skl).max())
    log(
        f"numpy forward vs predict_proba: max abs diff {diff64:.2e} (float64), "
        f"{diff32:.2e} (float32)"
    )
    if diff64 >= MAX_PROBA_DIFF or diff32 >= MAX_PROBA_DIFF:
        fail(f"exported model disagrees with sklearn (limit {MAX_PROBA_DIFF})")
    pred = p64.argmax(axis=1)
    if not np.array_equal(pred, pred_skl) or not np.array_equal(p32.argmax(axis=1), pred_skl):
        fail("exported model predicts a different class than sklearn for some test image")
    log("onnx.checker and forward-pass checks passed")

    write_text(os.path.join(args.out_dir, "labels.txt"), "".join(f"{d}\n" for d in range(10)))

    # Not a 0: an engine that returns all zeros or uniform output would argmax to 0
    # and pass a smoke test by accident.
    conf = p32.max(axis=1)
    good = np.flatnonzero((pred == y_test) & (pred != 0) & (conf >= SAMPLE_MIN_PROB))
    if len(good) == 0:
        fail(f"no nonzero test digit classified correctly with probability >= {SAMPLE_MIN_PROB}")
    s = int(good[0])
    request = {
        "inputs": [
            {
                "name": "image",
                "shape": [1, 64],
                "datatype": "FP32",
                "data": [num(v) for v in x_test[s]],
            }
        ]
    }
    sample_json = json.dumps(request, separators=(",", ":")) + "\n"
    write_text(os.path.join(args.out_dir, "sample.json"), sample_json)
    write_text(os.path.join(args.out_dir, "sample.expected"), f"{int(pred[s])}\n")
    log(f"sample: test image {s} (row {rows_test[s]}), digit {pred[s]}, probability {conf[s]:.6f}")

    wrong = [int(i) for i in np.flatnonzero(pred != y_test)]
    log(f"misclassified test images: {len(wrong)}")
    ref = pick_ref(y_test, pred, wrong)
    write_text(args.ref, ref_json(x_test[ref], y_test[ref], p64[ref]))
    ref_wrong = [(k, i) for k, i in enumerate(ref) if i in wrong]
    log(f"wrote {args.ref}: {len(ref)} images, {len(ref_wrong)} misclassified")

    if ref_wrong:
        items = "".join(
            f"\n- entry {k} (test image {i}): true {y_test[i]}, predicted {pred[i]}"
            for k, i in ref_wrong
        )
        wrong_note = (
            f" {len(ref_wrong)} of them are deliberately images the model gets wrong "
            f"(entries numbered from 0):\n{items}"
        )
    else:
        wrong_note = " The model classifies every test image correctly, so none is wrong."
    write_text(
        os.path.join(args.out_dir, "README.md"),
        README.format(
            model_bytes=len(blob),
            ir_version=IR_VERSION,
            opset=OPSET,
            max_iter=MAX_ITER,
            n_iter=clf.n_iter_,
            n_train=len(y_train),
            n_test=len(y_test),
            accuracy=accuracy,
            n_correct=n_correct,
            proba_diff=diff64,
            versions=f"scikit-learn {sklearn.__version__}, numpy {np.__version__}, "
            f"onnx {onnx.__version__}",
            sha256=sha256,
            sample_idx=s,
            sample_row=rows_test[s],
            sample_digit=pred[s],
            sample_prob=conf[s],
            n_ref=len(ref),
            wrong_note=wrong_note,
        ),
    )
    log(f"wrote {args.out_dir}: labels.txt, sample.json, sample.expected, README.md")
    log(f"done: test accuracy {accuracy:.2%}")


if __name__ == "__main__":
    main()
