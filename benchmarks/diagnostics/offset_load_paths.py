# Diagnostic run on the H200 (2026-12-03, code 07155a5): see benchmarks/results/logs/h200-2026-12-03-offset/
"""Diagnose the ~3% offset between the profile CLI's full latency and load_for + measure()."""
import copy, json, os, statistics as st, subprocess, sys, time
sys.path[:0] = [".", "benchmarks"]
import torch
from ldprune_deploy.models import load_model, example_inputs
from ldprune_deploy.runners import get_runner, RunSpec
from ldprune_deploy.runners.torch_runners import capture_graph
from ldprune_deploy.artifacts import Modification
from ldprune_deploy.surgery import swapped
import _common as C

OUT = os.environ.get("OUT", "/tmp/out")
smi = subprocess.Popen(["nvidia-smi", "--query-gpu=timestamp,clocks.sm,clocks.mem,power.draw,temperature.gpu,clocks_throttle_reasons.active",
                        "--format=csv,noheader", "-lms", "250"], stdout=open(f"{OUT}/smi.csv", "w"))
res = {}
dt = torch.float16
t = time.time(); A, info = load_model("sd15", device="cuda", dtype=dt, quiet=True); res["load_cpu_init_s"] = time.time() - t
t = time.time(); B, _ = C.load_for("sd15", "cuda", "fp16"); res["load_gpu_init_s"] = time.time() - t
def stats(m):
    ws = [p.detach().float() for n, p in m.named_parameters() if p.dim() > 1]
    return {"absmean": float(st.mean(w.abs().mean().item() for w in ws)), "std": float(st.mean(w.std().item() for w in ws)),
            "zeros_frac": float(sum((w == 0).sum().item() for w in ws) / sum(w.numel() for w in ws))}
res["stats_A"], res["stats_B"] = stats(A), stats(B)
print(res, flush=True)
V = {"A_cpuinit": A, "B_gpuinit": B, "A_deepcopy": copy.deepcopy(A)}
m = copy.deepcopy(A); m.load_state_dict(B.state_dict()); V["Alayout_Bvalues"] = m
m = copy.deepcopy(B); m.load_state_dict(A.state_dict()); V["Blayout_Avalues"] = m
m = copy.deepcopy(A)
with torch.no_grad():
    for p in m.parameters():
        if p.dim() > 1: p.mul_(0.1)
V["A_x0.1"] = m
inputs = example_inputs(A, info, batch=2, resolution=512, dtype=dt, device="cuda")
G = {k: capture_graph(lambda m=m: m(**inputs, return_dict=False)) for k, m in V.items()}
def block(g, n=20):
    s = [torch.cuda.Event(enable_timing=True) for _ in range(n)]; e = [torch.cuda.Event(enable_timing=True) for _ in range(n)]
    g.replay(); torch.cuda.synchronize()
    for a, b in zip(s, e): a.record(); g.replay(); b.record()
    torch.cuda.synchronize(); return st.median(a.elapsed_time(b) for a, b in zip(s, e))
inter = {k: [] for k in G}
for r in range(12):
    for k, g in G.items(): inter[k].append(block(g))
res["interleaved_median_ms"] = {k: round(st.median(v), 4) for k, v in inter.items()}
res["interleaved_rounds"] = {k: [round(x, 4) for x in v] for k, v in inter.items()}
print(json.dumps(res["interleaved_median_ms"], indent=1), flush=True)
del G
runner = get_runner("torch-graph"); spec = RunSpec(batch=2, resolution=512, dtype="fp16")
seq = []
for i in range(3):
    for k in ("A_cpuinit", "B_gpuinit"):
        seq.append((k, round(runner.measure(V[k], info, spec).median_ms, 4)))
op = Modification("down_blocks.0.attentions.0", "remove")
for i in range(3):
    seq.append(("A", round(runner.measure(A, info, spec).median_ms, 4)))
    with swapped(A, op):
        seq.append(("A-remove", round(runner.measure(A, info, spec).median_ms, 4)))
res["runner_measure_seq"] = seq
print(seq, flush=True)
# ablation pair interleaved in graphs
ga = capture_graph(lambda: A(**inputs, return_dict=False))
with swapped(A, op):
    gr = capture_graph(lambda: A(**inputs, return_dict=False))
pa, pr = [], []
for r in range(10): pa.append(block(ga)); pr.append(block(gr))
res["paired_remove"] = {"full": st.median(pa), "removed": st.median(pr), "saving": st.median(a - b for a, b in zip(pa, pr))}
print(res["paired_remove"], flush=True)
smi.terminate()
json.dump(res, open(f"{OUT}/diag.json", "w"), indent=1)
