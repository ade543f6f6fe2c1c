"""Where the time of one training step goes: PyTorch's profiler over steps of the benchmark model.

    python bench/profile_step.py            # 784-400-20 VAE, batch 128, full MNIST, 2 threads

Runs the same step as `fit` (forward, `compute_elbo`, backward, fused Adam, denormals flushed) on in-memory batches,
warms up for 50 steps, profiles 100, and prints the operators that took the most time, grouped
by input shape, with the time per step of each. Then the wall-clock time of a step, and what a cold
cache costs: a 128x784 elementwise operation and one of the step's large matrix products, timed with
their inputs in cache and after 18 MB of other memory has been written (as much as Adam's update
reads and writes each step, far more than the 2 MB per-core cache of a small cloud machine).
"""
import argparse
import os
import time
from pathlib import Path

import torch
from torch.profiler import ProfilerActivity, profile

from vae_nbdev.config import VAEConfig, build_model
from vae_nbdev.data import get_data
from vae_nbdev.train import _adam, _denormals_flushed, _loss_fn

HERE = Path(__file__).resolve().parent


def median_us(f, before=None, reps=500):
    "Median wall-clock time of f() in microseconds, calling before() (untimed) ahead of each call."
    times = []
    for _ in range(reps):
        if before: before()
        t = time.perf_counter(); f(); times.append(time.perf_counter() - t)
    return 1e6 * sorted(times)[reps // 2]


def cold_cache_report():
    a, b, w = torch.rand(128, 784), torch.rand(128, 784), torch.randn(400, 784)
    sweep = torch.zeros(18_000_000 // 4)
    flush = lambda: sweep.add_(1.0)
    for name, f in (('a - b, 128x784', lambda: a - b), ('a @ w.T, 128x784 @ 784x400', lambda: a @ w.t())):
        print(f"{name:30}{median_us(f):8.1f} us in cache {median_us(f, flush):8.1f} us after writing 18 MB")


def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--root', default=os.environ.get('VAE_NBDEV_DATA'), help='torchvision root holding MNIST (default: $VAE_NBDEV_DATA)')
    p.add_argument('--threads', type=int, default=2)
    p.add_argument('--steps', type=int, default=100)
    args = p.parse_args()
    if not args.root: p.error('full MNIST is needed: pass --root DIR or set VAE_NBDEV_DATA (a torchvision root)')
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = build_model(VAEConfig())
    batches = iter(get_data('mnist', root=args.root, bs=128, seed=1).train)
    opt, loss_fn = _adam(model.parameters(), 1e-3), _loss_fn(model)

    def step():
        loss = loss_fn(next(batches), 1.0)
        opt.zero_grad(set_to_none=True); loss.backward(); opt.step()

    with _denormals_flushed():   # as inside fit
        for _ in range(50): step()
        with profile(activities=[ProfilerActivity.CPU], record_shapes=True) as prof:
            for _ in range(args.steps): step()
        t = time.perf_counter()
        for _ in range(args.steps): step()
        seconds = (time.perf_counter() - t) / args.steps
    rows = sorted(prof.key_averages(group_by_input_shape=True), key=lambda e: -e.self_cpu_time_total)
    total = sum(e.self_cpu_time_total for e in rows) / args.steps
    print(f"{'operator':42}{'ms/step':>9}  input shapes")
    for e in rows[:20]:
        print(f"{e.key[:41]:42}{e.self_cpu_time_total / args.steps / 1e3:>9.3f}  {str(e.input_shapes)[:70]}")
    print(f"{'all operators':42}{total / 1e3:>9.3f}")
    print(f"wall-clock time of a step, unprofiled: {seconds * 1e3:.2f} ms")
    cold_cache_report()


if __name__ == '__main__': main()
