"""Build data files with portable CPU numerics, so a file's sha256 names its content, not the CPU.

The data files are identified by sha256 (the comparison rows' fingerprints, the device sessions'
EXPECT lists). Float results on a CPU depend on the code paths the libraries pick for it: on one
AVX-512 Xeon, pinning any one of ATen's vector kernels, MKL's code path or oneDNN's ISA to AVX2
gave another emoji-emb file and another notes file, and every fresh machine rebuilt the caption
embeddings with different bytes. Those paths are chosen when each library first loads, so a
builder runs in a child process with all of them pinned to their baseline paths, on one thread.
"""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys

from ..errors import LdpruneError

PORTABLE_NUMERICS = {"ATEN_CPU_CAPABILITY": "default", "MKL_CBWR": "COMPATIBLE", "ONEDNN_MAX_CPU_ISA": "SSE41",
                     "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
_CHILD_FLAG = "LDPRUNE_PORTABLE_CHILD"


def in_portable_child() -> bool:
    return os.environ.get(_CHILD_FLAG) == "1"


def run_portable(target: str, native_flag: str, **kwargs):
    """``module:function(**kwargs)`` in a child process with PORTABLE_NUMERICS; its JSON result.
    Arguments and result must be JSON. The child's stderr (progress) streams through; its stdout
    carries the result or the error. ``native_flag`` is the CLI flag that builds in-process instead,
    named when the child fails otherwise than with an LdpruneError."""
    env = {**os.environ, **PORTABLE_NUMERICS, _CHILD_FLAG: "1"}
    job = json.dumps({"target": target, "kwargs": kwargs})
    done = subprocess.run([sys.executable, "-m", __name__], input=job, env=env, stdout=subprocess.PIPE, text=True)
    lines = done.stdout.strip().splitlines()
    try:
        reply = json.loads(lines[-1])
    except (IndexError, ValueError):
        reply = {"failed": f"exit code {done.returncode}, no reply (killed?)"}
    if "error" in reply:   # the child's own LdpruneError: its message and fix, unchanged
        raise LdpruneError(*reply["error"])
    if done.returncode != 0 or "failed" in reply:
        raise LdpruneError(f"the portable-numerics build failed: {reply.get('failed')}",
                           f"build in this process to see the whole traceback: {native_flag}")
    return reply["result"]


def _child_main() -> int:
    job = json.loads(sys.stdin.read())
    module, _, name = job["target"].partition(":")
    try:
        reply = {"result": getattr(importlib.import_module(module), name)(**job["kwargs"])}
    except LdpruneError as e:
        reply = {"error": [e.message, e.fix]}
    except Exception as e:   # one line for the parent's error; --native-numerics shows the traceback
        reply = {"failed": f"{type(e).__name__}: {e}"}
    print(json.dumps(reply))
    return 0 if "result" in reply else 1


if __name__ == "__main__":
    raise SystemExit(_child_main())
