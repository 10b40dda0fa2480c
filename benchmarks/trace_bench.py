"""roundoff.trace on torchvision ResNet-18 (random weights), 1x3x64x64, every element judged,
against a plain forward. Not a timed test: numbers go to benchmarks/README.md.

    build/python-venv/bin/python benchmarks/trace_bench.py [--threads N]
"""

import argparse
import time

import torch
import torchvision

import roundoff

p = argparse.ArgumentParser()
p.add_argument("--threads", type=int, default=None)
p.add_argument("--repeat", type=int, default=3)
a = p.parse_args()

torch.manual_seed(0)
model = torchvision.models.resnet18(weights=None).eval()
x = torch.randn(1, 3, 64, 64)
with torch.no_grad():
    model(x)
    t, plain_cpu = time.perf_counter(), time.process_time()
    for _ in range(a.repeat):
        model(x)
    plain = (time.perf_counter() - t) / a.repeat
    plain_cpu = (time.process_time() - plain_cpu) / a.repeat
t, cpu = time.perf_counter(), time.process_time()
r = roundoff.trace(model, x, threads=a.threads, progress=False)
traced, cpu = time.perf_counter() - t, time.process_time() - cpu
assert r.ok and r.not_judged == [], r.to_markdown()
print(f"resnet18 1x3x64x64: plain forward {plain * 1e3:.1f} ms (CPU {plain_cpu * 1e3:.1f} ms); "
      f"trace + judge every element ({sum(l.elements for l in r.layers)} outputs, "
      f"{len(r.layers)} calls) {traced:.2f} s (CPU time of all threads {cpu:.2f} s); "
      f"overhead x{traced / plain:.0f} (CPU time x{cpu / plain_cpu:.0f}); "
      f"torch threads {torch.get_num_threads()}")
