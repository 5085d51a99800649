# Diagnostic run on the H200 (2026-12-03, code 07155a5): see benchmarks/results/logs/h200-2026-12-03-offset/
import sys, time, gc
sys.path[:0] = [".", "benchmarks"]
import torch
from ldprune_deploy.models import load_model, example_inputs
from ldprune_deploy.runners import get_runner, RunSpec
from ldprune_deploy.artifacts import Modification
from ldprune_deploy.surgery import swapped
from ldprune_deploy.runners.torch_runners import capture_graph
import statistics as st
mode = sys.argv[1]
t = time.time()
if mode == "cpu":
    unet, info = load_model("sd15", device="cuda", dtype=torch.float16, quiet=True)
elif mode == "meta":
    unet, info = load_model("sd15", device="meta", dtype=torch.float16, quiet=True)
    unet = unet.to_empty(device="cuda")
    g = torch.Generator("cuda").manual_seed(0)
    with torch.no_grad():
        for p in unet.parameters(): p.normal_(0, 0.02, generator=g)
        for b in unet.buffers(): b.zero_()
else:
    import _common as C
    unet, info = C.load_for("sd15", "cuda", "fp16")
print(mode, "load", round(time.time() - t, 1), flush=True)
r = get_runner("torch-graph"); spec = RunSpec(batch=2, resolution=512, dtype="fp16")
def m(tag):
    x = r.measure(unet, info, spec).median_ms
    print(f"{mode} {tag:28s} {x:.3f}  reserved {torch.cuda.memory_reserved()/2**30:.2f} GiB", flush=True)
def ec():
    gc.collect(); torch.cuda.synchronize(); torch.cuda.empty_cache()
if mode == "gpu":
    ec(); m("gpu-init then empty_cache")
m("first"); m("second"); ec(); m("after empty_cache")
with swapped(unet, Modification("down_blocks.0.attentions.0", "remove")):
    m("removed")
m("after removed"); ec(); m("after removed+empty_cache")
x = torch.empty(4 * 2**30, dtype=torch.uint8, device="cuda"); del x
m("after 4GB garbage"); ec(); m("garbage+empty_cache")
ys = [torch.empty(int(s), dtype=torch.uint8, device="cuda") for s in (3e6, 7e7, 5e5, 2e8, 1e7)]
m("with small junk held"); del ys; ec(); m("junk freed+ec")
inputs = example_inputs(unet, info, batch=2, resolution=512, dtype=torch.float16, device="cuda")
gs = [capture_graph(lambda: unet(**inputs, return_dict=False)) for _ in range(3)]
def block(g, n=20):
    s = [torch.cuda.Event(enable_timing=True) for _ in range(n)]; e = [torch.cuda.Event(enable_timing=True) for _ in range(n)]
    g.replay(); torch.cuda.synchronize()
    for a, b in zip(s, e): a.record(); g.replay(); b.record()
    torch.cuda.synchronize(); return st.median(a.elapsed_time(b) for a, b in zip(s, e))
print(mode, "three graphs alive, interleaved:", [round(st.median(block(g) for _ in range(5)), 3) for g in gs], flush=True)
