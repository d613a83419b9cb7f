"""A tiny out-of-process port: the mxnet2 kernel in NumPy, speaking only the fixture format.

    python mxnet2_kernel_port.py FIXTURES RESULTS.jsonl [--eps-inside]   # write a results file
    python mxnet2_kernel_port.py --serve [--eps-inside]                  # `check --cmd` protocol

The first form reads every kernel case of dialect mxnet2 and writes the results
file.  ``--serve`` answers one case line on stdin with one results line on stdout
until stdin closes (cases it does not implement get an "error" answer).  The update
is computed in the case dtype (NumPy float16 arithmetic rounds to half after each
operation, as MXNet does) with the kernel-side hyperparameters the case provides.
``--eps-inside`` plants the mxnet1 epsilon placement.
"""
import json
import os
import sys

import numpy as np

EPS_INSIDE = "--eps-inside" in sys.argv


def decode(block, dtype, shape):
    u = {"float16": np.uint16, "float32": np.uint32, "float64": np.uint64}[dtype]
    return np.array([int(b, 16) for b in block["bits"]], dtype=u).view(dtype).reshape(shape)


def encode(a):
    a = np.ascontiguousarray(a)
    u = {2: np.uint16, 4: np.uint32, 8: np.uint64}[a.itemsize]
    return {"bits": [format(int(b), f"0{a.itemsize * 2}x") for b in a.view(u).ravel()]}


def clip(x, c):
    return np.where(x > c, c, np.where(x < -c, -c, x)).astype(x.dtype)


def update(case):
    T = np.dtype(case["dtype"]).type
    shape = case["shape"]
    x = {k: decode(v, case["dtype"], shape) for k, v in case["inputs"].items()}
    h = {k: T(np.array(int(v["bits"], 16), dtype=np.uint64).view(np.float64)) for k, v in case["hp_kernel"].items()}
    w, g = x["weight"], x["grad"]
    g = h["rescale_grad"] * g
    if h["clip_gradient"] >= 0:
        g = clip(g, h["clip_gradient"])
    g = g + h["wd"] * w
    omr = T(1) - h["rho"]
    out = {}
    if case["hp"]["centered"]:
        var = omr * (g * g) + h["rho"] * x["var"]
        mean = omr * g + h["rho"] * x["mean"]
        mom = h["momentum"] * x["mom"] - (h["lr"] * g) / np.sqrt(var - mean * mean + h["epsilon"])
        w = w + mom
        out.update(mean=mean, var=var, mom=mom)
    else:
        var = omr * (g * g) + h["rho"] * x["var"]
        den = np.sqrt(var + h["epsilon"]) if EPS_INSIDE else np.sqrt(var) + h["epsilon"]
        w = w - (h["lr"] * g) / den
        out.update(var=var)
    if h["clip_weights"] >= 0:
        w = clip(w, h["clip_weights"])
    out["weight"] = w
    return {k: encode(np.asarray(v, dtype=T).reshape(shape)) for k, v in out.items()}


def answer(case):
    """The results line of one case: outputs, or an error for a case this port does not implement."""
    if case.get("level") != "kernel" or case.get("dialect") != "mxnet2":
        return {"id": case.get("id", ""), "error": "this port implements only mxnet2 kernel cases"}
    with np.errstate(all="ignore"):
        return {"id": case["id"], "outputs": update(case)}


def serve(stdin=sys.stdin, stdout=sys.stdout):
    for line in stdin:
        stdout.write(json.dumps(answer(json.loads(line))) + "\n")
        stdout.flush()


def write_results(fixtures, results):
    with open(results, "w") as f:
        f.write(json.dumps({"format": "rmsprop-conformance-results", "port": "mxnet2_kernel_port"}) + "\n")
        for name in sorted(os.listdir(fixtures)):
            if not name.endswith(".jsonl"):
                continue
            with open(os.path.join(fixtures, name)) as src:
                next(src)
                for line in src:
                    case = json.loads(line)
                    if case["level"] == "kernel" and case["dialect"] == "mxnet2":
                        f.write(json.dumps(answer(case)) + "\n")


if __name__ == "__main__":
    if "--serve" in sys.argv:
        serve()
    else:
        write_results(sys.argv[1], sys.argv[2])
