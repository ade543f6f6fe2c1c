"""Training speed of vae_nbdev against the PyTorch examples VAE, measured in one run on one machine.

    python bench/throughput.py                 # 10 timed epochs each, test losses after them
    python bench/throughput.py --epochs 1      # one epoch each: a quick timing
    python bench/throughput.py --compile       # also vae_nbdev with torch.compile (epochs 2-3 timed)

Both train the same 784-400-20 ReLU VAE with Adam (lr 1e-3), batch 128, summed BCE + KL, on the
same 60,000 greyscale MNIST digits (`--root`, torchvision layout). The reference reads them through
`DataLoader` + `ToTensor` (bench/pytorch_examples_vae.py); vae_nbdev from tensors in memory with
fused Adam (`fit`). Reports samples/s over all timed epochs (and in epoch 1 alone), the ratio, test -ELBO after `--epochs`
epochs, the fraction of the machine's measured matmul FLOP rate the loop reaches, and the peak
memory of each training process (each runs in a fresh process). Results go to bench/results/throughput.json.
"""
import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import pytorch_examples_vae as ref  # noqa: E402

N_TRAIN = 60_000
DIMS = [(784, 400), (400, 20), (400, 20), (20, 400), (400, 784)]  # the Linear layers of both models


def train_flops_per_sample():
    "Multiply-adds of the five Linear layers, x2 for FLOPs, x3 for forward + backward (input and weight grads)."
    return 3 * 2 * sum(i * o for i, o in DIMS)


def matmul_flops_per_second(n=1024, reps=20):
    "The machine's dense float32 matmul rate at the benchmark's thread count (best of `reps`)."
    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b
    best = float('inf')
    for _ in range(reps):
        t = time.perf_counter(); a @ b; best = min(best, time.perf_counter() - t)
    return 2 * n ** 3 / best


def _rates(seconds):
    "Samples/s of the first epoch and over all timed epochs."
    return {'seconds_per_epoch': seconds, 'samples_per_second_first': N_TRAIN / seconds[0],
            'samples_per_second': N_TRAIN * len(seconds) / sum(seconds)}


def time_reference(root, epochs, seed=1):
    torch.manual_seed(seed)
    model = ref.ExamplesVAE()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    train, test = ref.make_loaders(root)
    seconds = []
    for _ in range(max(epochs, 1)):
        t = time.perf_counter(); ref.train_epoch(model, opt, train); seconds.append(time.perf_counter() - t)
    return {**_rates(seconds), 'test_loss': ref.test_loss(model, test) if epochs else None, 'epochs': epochs}


def time_vae_nbdev(root, epochs, compile=False, seed=1):
    from vae_nbdev.config import VAEConfig, build_model
    from vae_nbdev.data import get_data
    from vae_nbdev.train import fit
    cfg = VAEConfig(seed=seed, batch_size=128, lr=1e-3)
    torch.manual_seed(seed)
    model = build_model(cfg)
    data = get_data('mnist', root=root, bs=cfg.batch_size, seed=seed)
    hist = fit(model, data, epochs=max(epochs, 1), lr=cfg.lr, seed=seed, quiet=True, compile=compile)
    seconds = [h['seconds'] for h in hist]  # training time of each epoch, without the test pass
    if compile: seconds = seconds[1:]       # epoch 1 includes the compilation
    return {**_rates(seconds), 'test_loss': hist[-1]['test_loss'] if epochs else None, 'epochs': epochs,
            'compile': compile}


def in_fresh_process(name, *args, threads=2):
    "Run `name(*args)` from this file in a new Python process; its result plus the process's peak memory (MB)."
    code = (f"import json, resource, sys, torch; torch.set_num_threads({threads}); sys.path.insert(0, {str(HERE)!r});"
            f"import throughput as t; r = t.{name}(*{args!r});"
            "r['peak_memory_mb'] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024; print(json.dumps(r))")
    out = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True)
    if out.returncode: sys.exit(f"{name} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.splitlines()[-1])


def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--root', default=os.environ.get('VAE_NBDEV_DATA', str(HERE.parent.parent / 'shared' / 'data')))
    p.add_argument('--epochs', type=int, default=10, help='epochs to train and time; test losses are taken after them (0: one timed epoch, no test loss)')
    p.add_argument('--threads', type=int, default=2)
    p.add_argument('--compile', action='store_true', help='also time vae_nbdev with torch.compile')
    p.add_argument('--out', default=str(HERE / 'results' / 'throughput.json'))
    args = p.parse_args()
    torch.set_num_threads(args.threads)

    res = {'machine': {'cpu_count': os.cpu_count(), 'threads': args.threads, 'torch': torch.__version__,
                       'python': platform.python_version()}}
    res['matmul_gflops'] = matmul_flops_per_second() / 1e9
    # Each in a process of its own, as a user would run it (vae_nbdev's import-time settings stay out of the reference).
    res['reference'] = in_fresh_process('time_reference', args.root, args.epochs, threads=args.threads)
    res['vae_nbdev'] = in_fresh_process('time_vae_nbdev', args.root, args.epochs, threads=args.threads)
    if args.compile: res['vae_nbdev_compiled'] = in_fresh_process('time_vae_nbdev', args.root, 3, True, threads=args.threads)
    res['speedup'] = res['vae_nbdev']['samples_per_second'] / res['reference']['samples_per_second']
    res['speedup_first_epoch'] = res['vae_nbdev']['samples_per_second_first'] / res['reference']['samples_per_second_first']
    for k in ('reference', 'vae_nbdev', 'vae_nbdev_compiled'):
        if k in res:
            res[k]['fraction_of_matmul_peak'] = res[k]['samples_per_second'] * train_flops_per_sample() / (res['matmul_gflops'] * 1e9)
    res['peak_memory_mb'] = res['vae_nbdev']['peak_memory_mb']

    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(res, indent=2) + '\n')
    print(f"matmul rate: {res['matmul_gflops']:.1f} GFLOP/s ({args.threads} threads)")
    print(f"{'':22}{'samples/s':>10}{'(epoch 1)':>10}{'test -ELBO':>12}{'of peak':>9}")
    for k in ('reference', 'vae_nbdev', 'vae_nbdev_compiled'):
        if k not in res: continue
        r = res[k]; tl = f"{r['test_loss']:.2f}" if r.get('test_loss') else '-'
        print(f"{k:22}{r['samples_per_second']:>10.0f}{r['samples_per_second_first']:>10.0f}{tl:>12}{r['fraction_of_matmul_peak']:>9.1%}")
    print(f"speedup: {res['speedup']:.2f}x over the run ({res['speedup_first_epoch']:.2f}x in epoch 1)   peak memory (vae_nbdev, full MNIST): {res['peak_memory_mb']:.0f} MB")


if __name__ == '__main__': main()
