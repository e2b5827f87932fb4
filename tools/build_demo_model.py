#!/usr/bin/env python3
"""Build (or check) the demo model files in src/edgeparity/demo_model/.

    python tools/build_demo_model.py            # rewrite every form whose library is installed
    python tools/build_demo_model.py --check    # exit 1 if a committed file is not reproduced

The weights come from ``edgeparity.demo_model.weights()`` (a fixed numpy seed). Forms:

- MXNet symbol JSON + .params: needs ``mxnet`` (1.9.1 was used for the committed files)
- ONNX: needs the ``onnx`` package (graph built node by node with onnx.helper)
- DLR graph-executor artifact: graph JSON + params in TVM's NDArray-list binary format, written
  here with the standard library only. Its kernels are the hand-written
  ``demo_model/dlr/kernels.c``, compiled per machine on first use (edgeparity.models).

A form whose library is missing is skipped with a message (and fails ``--check``).
"""

import argparse
import filecmp
import json
import os
import struct
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "src"))

from edgeparity import demo_model  # noqa: E402

# TVM's serialisation constants (tvm/runtime/ndarray.h, graph runtime params file).
TVM_NDARRAY_LIST_MAGIC = 0xF7E58D4F05049CB7
TVM_NDARRAY_MAGIC = 0xDD5E40F096B4A13F
DL_CPU = 1
DL_FLOAT = 2


# ---------------------------------------------------------------------------------------- MXNet


def write_mxnet(out_dir):
    import mxnet as mx

    data = mx.sym.Variable(demo_model.INPUT_NAME)
    net = data
    for index, (name, _in_channels, out_channels, stride) in enumerate(demo_model.CONVOLUTIONS):
        net = mx.sym.Convolution(
            net, name=name, num_filter=out_channels, kernel=(3, 3), stride=(stride, stride),
            pad=(1, 1),
        )
        net = mx.sym.Activation(net, act_type="relu", name="relu%d" % (index + 1))
        net = mx.sym.Pooling(
            net, kernel=(2, 2), stride=(2, 2), pool_type="max", name="pool%d" % (index + 1)
        )
    net = mx.sym.Pooling(net, kernel=(1, 1), global_pool=True, pool_type="avg", name="gap")
    net = mx.sym.Flatten(net, name="flatten")
    name, _features, units = demo_model.DENSE
    net = mx.sym.FullyConnected(net, num_hidden=units, name=name)

    prefix = os.path.join(out_dir, "demo")
    net.save(prefix + "-symbol.json")
    params = {"arg:" + key: mx.nd.array(value) for key, value in demo_model.weights().items()}
    mx.nd.save(prefix + "-0000.params", params)
    return [prefix + "-symbol.json", prefix + "-0000.params"]


# ----------------------------------------------------------------------------------------- ONNX


def write_onnx(out_dir):
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    weights = demo_model.weights()
    nodes = []
    current = demo_model.INPUT_NAME
    for index, (name, _in_channels, _out_channels, stride) in enumerate(demo_model.CONVOLUTIONS):
        nodes.append(
            helper.make_node(
                "Conv", [current, name + "_weight", name + "_bias"], [name], name=name,
                kernel_shape=[3, 3], strides=[stride, stride], pads=[1, 1, 1, 1],
            )
        )
        relu = "relu%d" % (index + 1)
        nodes.append(helper.make_node("Relu", [name], [relu], name=relu))
        pool = "pool%d" % (index + 1)
        nodes.append(
            helper.make_node(
                "MaxPool", [relu], [pool], name=pool, kernel_shape=[2, 2], strides=[2, 2]
            )
        )
        current = pool
    nodes.append(helper.make_node("GlobalAveragePool", [current], ["gap"], name="gap"))
    nodes.append(helper.make_node("Flatten", ["gap"], ["flatten"], name="flatten", axis=1))
    name, _features, units = demo_model.DENSE
    nodes.append(
        helper.make_node(
            "Gemm", ["flatten", name + "_weight", name + "_bias"], ["logits"], name=name,
            transB=1,
        )
    )
    graph = helper.make_graph(
        nodes,
        "edgeparity_demo",
        [helper.make_tensor_value_info(
            demo_model.INPUT_NAME, TensorProto.FLOAT, list(demo_model.INPUT_SHAPE)
        )],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, units])],
        initializer=[numpy_helper.from_array(value, key) for key, value in weights.items()],
    )
    # Opset 11 / IR 6: loadable by the ONNX Runtime builds of JetPack 4 era as well as today's.
    model = helper.make_model(
        graph, producer_name="edgeparity tools/build_demo_model.py",
        opset_imports=[helper.make_opsetid("", 11)],
    )
    model.ir_version = 6
    onnx.checker.check_model(model)
    path = os.path.join(out_dir, "demo.onnx")
    with open(path, "wb") as handle:
        handle.write(model.SerializeToString())
    return [path]


# ------------------------------------------------------------------------------------------ DLR


def tvm_params_bytes(arrays):
    """Serialise {name: float32 array} in TVM's NDArray-list format (what Neo's .params holds)."""
    out = [struct.pack("<QQ", TVM_NDARRAY_LIST_MAGIC, 0), struct.pack("<Q", len(arrays))]
    for name in arrays:
        encoded = name.encode("utf-8")
        out.append(struct.pack("<Q", len(encoded)) + encoded)
    out.append(struct.pack("<Q", len(arrays)))
    for value in arrays.values():
        assert value.dtype.name == "float32"
        out.append(struct.pack("<QQ", TVM_NDARRAY_MAGIC, 0))
        out.append(struct.pack("<ii", DL_CPU, 0))  # DLDevice: where the array was saved from
        out.append(struct.pack("<i", value.ndim))
        out.append(struct.pack("<BBH", DL_FLOAT, 32, 1))  # DLDataType float32, one lane
        out.append(struct.pack("<%dq" % value.ndim, *value.shape))
        raw = value.astype("<f4").tobytes()
        out.append(struct.pack("<q", len(raw)) + raw)
    return b"".join(out)


def dlr_graph(weights):
    """The graph-executor JSON: one node per parameter/input, one tvm_op node per kernel call."""
    nodes = []
    shapes = []

    def add_input(name, shape):
        nodes.append({"op": "null", "name": name, "inputs": []})
        shapes.append(list(shape))
        return len(nodes) - 1

    def add_op(name, func_name, inputs, shape):
        nodes.append({
            "op": "tvm_op",
            "name": name,
            "attrs": {
                "func_name": func_name,
                "num_inputs": str(len(inputs)),
                "num_outputs": "1",
                "flatten_data": "0",
            },
            "inputs": [[node, 0, 0] for node in inputs],
        })
        shapes.append(list(shape))
        return len(nodes) - 1

    batch, _channels, height, width = demo_model.INPUT_SHAPE
    current = add_input(demo_model.INPUT_NAME, demo_model.INPUT_SHAPE)
    for index, (name, _in_channels, out_channels, stride) in enumerate(demo_model.CONVOLUTIONS):
        weight = add_input(name + "_weight", weights[name + "_weight"].shape)
        bias = add_input(name + "_bias", weights[name + "_bias"].shape)
        height = (height + 2 - 3) // stride + 1
        width = (width + 2 - 3) // stride + 1
        current = add_op(
            name, "demo_conv3x3_stride%d_bias_relu" % stride, [current, weight, bias],
            (batch, out_channels, height, width),
        )
        height, width = height // 2, width // 2
        current = add_op(
            "pool%d" % (index + 1), "demo_maxpool2x2", [current],
            (batch, out_channels, height, width),
        )
    current = add_op("gap", "demo_global_avg_pool_flatten", [current], (batch, out_channels))
    name, _features, units = demo_model.DENSE
    weight = add_input(name + "_weight", weights[name + "_weight"].shape)
    bias = add_input(name + "_bias", weights[name + "_bias"].shape)
    current = add_op(name, "demo_dense_bias", [current, weight, bias], (batch, units))

    return {
        "nodes": nodes,
        "arg_nodes": [i for i, node in enumerate(nodes) if node["op"] == "null"],
        "heads": [[current, 0, 0]],
        "attrs": {
            "dltype": ["list_str", ["float32"] * len(nodes)],
            # No memory sharing between entries: simple, and the model is tiny.
            "storage_id": ["list_int", list(range(len(nodes)))],
            "shape": ["list_shape", shapes],
        },
        "node_row_ptr": list(range(len(nodes) + 1)),
    }


def write_dlr(out_dir):
    weights = demo_model.weights()
    dlr_dir = os.path.join(out_dir, "dlr")
    if not os.path.isdir(dlr_dir):
        os.makedirs(dlr_dir)
    graph_path = os.path.join(dlr_dir, "model.json")
    with open(graph_path, "w") as handle:
        json.dump(dlr_graph(weights), handle, indent=1)
        handle.write("\n")
    params_path = os.path.join(dlr_dir, "model.params")
    with open(params_path, "wb") as handle:
        handle.write(tvm_params_bytes(weights))
    return [graph_path, params_path]


# ------------------------------------------------------------------------------------------ main

WRITERS = (("mxnet", write_mxnet), ("onnx", write_onnx), ("dlr", write_dlr))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true",
                        help="rebuild into a temporary directory and compare with the package")
    args = parser.parse_args(argv)

    failed = False
    with tempfile.TemporaryDirectory() as scratch:
        out_dir = scratch if args.check else demo_model.HERE
        for form, writer in WRITERS:
            try:
                written = writer(out_dir)
            except ImportError as exc:
                print("%s: skipped, library missing (%s)" % (form, exc))
                failed = failed or args.check
                continue
            for path in written:
                relative = os.path.relpath(path, out_dir)
                if not args.check:
                    print("wrote %s" % os.path.join(demo_model.HERE, relative))
                    continue
                committed = os.path.join(demo_model.HERE, relative)
                same = os.path.exists(committed) and filecmp.cmp(path, committed, shallow=False)
                print("%s: %s" % (relative, "reproduced" if same else "DIFFERS"))
                failed = failed or not same
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
