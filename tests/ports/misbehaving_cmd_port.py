"""A `check --cmd` port that misbehaves on one case and answers every other case faithfully.

    python misbehaving_cmd_port.py MODE CASE-ID

MODE, on the case CASE-ID (on every case when CASE-ID is '*'):
  hang        never answers              exit        exits with status 3 (a line on stderr first)
  abort       dies of SIGABRT            error       answers {"id", "error"}
  wrong-id    answers another id         not-json    writes a truncated JSON object
  garbage     a log line on stdout, then the answer
  wrong-bits  one bit pattern short      wrong-width float64-width patterns for any dtype
  wrong-keys  "var" renamed              keys        answers an error listing the keys it was sent
and, on every case: stderr-flood (1 MiB on stderr before each answer).
"""
import json
import os
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mxnet2_kernel_port import answer  # noqa: E402  (the faithful port)

MODE, TARGET = sys.argv[1], sys.argv[2]


def misbehave(case, out):
    cid, ans = case["id"], answer(case)
    if MODE == "hang":
        time.sleep(3600)
    elif MODE == "exit":
        sys.stderr.write(f"port: fatal: cannot handle {cid}\n")
        sys.exit(3)
    elif MODE == "abort":
        os.kill(os.getpid(), signal.SIGABRT)
    elif MODE == "error":
        ans = {"id": cid, "error": "not implemented here"}
    elif MODE == "wrong-id":
        ans["id"] = cid + "/other"
    elif MODE == "not-json":
        return out.write('{"id": "%s", "outputs": {"weight": \n' % cid)
    elif MODE == "garbage":
        out.write("loading weights...\n")
    elif MODE == "wrong-bits":
        ans["outputs"]["weight"]["bits"].pop()
    elif MODE == "wrong-width":
        for v in ans["outputs"].values():
            v["bits"] = [b.rjust(16, "0") for b in v["bits"]] if len(v["bits"][0]) < 16 else [b[8:] for b in v["bits"]]
    elif MODE == "wrong-keys":
        ans["outputs"]["variance"] = ans["outputs"].pop("var")
    elif MODE == "keys":
        ans = {"id": cid, "error": "received keys " + " ".join(sorted(case))}
    out.write(json.dumps(ans) + "\n")


for line in sys.stdin:
    case = json.loads(line)
    if MODE == "stderr-flood":
        sys.stderr.write(("x" * 1023 + "\n") * 1024)
    if case["id"] == TARGET or TARGET == "*":
        misbehave(case, sys.stdout)
    else:
        sys.stdout.write(json.dumps(answer(case)) + "\n")
    sys.stdout.flush()
