"""Training speed of vae_nbdev against the PyTorch examples VAE, measured in one run on one machine.

    python bench/throughput.py                 # 10 epochs each, taking turns; test losses after them
    python bench/throughput.py --epochs 2      # a quick look
    python bench/throughput.py --compile       # also vae_nbdev with torch.compile (its epoch 1 compiles, untimed)

Both train the same 784-400-20 ReLU VAE with Adam (lr 1e-3), batch 128, summed BCE + KL, on the
same 60,000 greyscale MNIST digits (`--root`, torchvision layout). The reference reads them through
`DataLoader` + `ToTensor` (bench/pytorch_examples_vae.py); vae_nbdev from tensors in memory with
fused Adam, through `fit`.

Each side trains in a process of its own (so that nothing one side sets up, such as the threads
PyTorch starts, is shared with the other), and the sides take turns, one epoch each, alternating which
goes first. The speed of a small cloud machine drifts by tens of percent over minutes (neighbours
share its caches); taking turns exposes every side to the same drift, so the ratio stays fair even
when the absolute numbers move. vae_nbdev continues its run between turns with
`fit(..., checkpoint=..., resume=True)`, which resumes exactly; its `seconds` count training only.

Reports samples/s over all timed epochs (and in epoch 1 alone), the ratio, the test -ELBO after the
last epoch, the fraction of the machine's measured matmul FLOP rate the loop reaches, and the peak
memory of each training process. Results go to bench/results/throughput.json.
"""
import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent
N_TRAIN = 60_000
SEED = 1
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


class Reference:
    "The examples recipe, one epoch per call."
    def __init__(self, root):
        sys.path.insert(0, str(HERE))
        import pytorch_examples_vae as ref
        self.ref = ref
        torch.manual_seed(SEED)
        self.model = ref.ExamplesVAE()
        self.opt = torch.optim.Adam(self.model.parameters(), lr=1e-3)
        self.train, self.test = ref.make_loaders(root)

    def epoch(self):
        t = time.perf_counter(); self.ref.train_epoch(self.model, self.opt, self.train)
        return time.perf_counter() - t

    def test_loss(self): return self.ref.test_loss(self.model, self.test)


class VaeNbdev:
    "`fit` on the same model and data, continued one epoch per call from its checkpoint."
    def __init__(self, root, compile=False):
        from vae_nbdev.config import VAEConfig, build_model
        from vae_nbdev.data import get_data
        from vae_nbdev.train import fit
        self.fit, self.compile, self.epochs, self.history = fit, compile, 0, []
        torch.manual_seed(SEED)
        self.model = build_model(VAEConfig(seed=SEED, batch_size=128, lr=1e-3))
        self.data = get_data('mnist', root=root, bs=128, seed=SEED)
        self.checkpoint = Path(tempfile.mkdtemp()) / 'run.pt'

    def epoch(self):
        self.epochs += 1
        self.history = self.fit(self.model, self.data, epochs=self.epochs, lr=1e-3, seed=SEED, quiet=True,
                                compile=self.compile, checkpoint=self.checkpoint, resume=self.epochs > 1)
        return self.history[-1]['seconds']

    def test_loss(self): return self.history[-1]['test_loss']


SIDES = {'reference': Reference, 'vae_nbdev': VaeNbdev, 'vae_nbdev_compiled': lambda root: VaeNbdev(root, compile=True)}


def worker(side, root, threads):
    "Answer the controller on stdin/stdout: `epoch` trains one epoch, `finish` reports and exits."
    torch.set_num_threads(threads)
    trainer = SIDES[side](root)
    print(json.dumps({'ready': True}), flush=True)
    for line in sys.stdin:
        if line.strip() == 'epoch': print(json.dumps({'seconds': trainer.epoch()}), flush=True)
        elif line.strip() == 'finish':
            peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
            print(json.dumps({'test_loss': trainer.test_loss(), 'peak_memory_mb': peak}), flush=True)
            return


class Worker:
    def __init__(self, side, root, threads):
        self.side = side
        self.proc = subprocess.Popen([sys.executable, __file__, '--worker', side, '--root', root, '--threads', str(threads)],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.read()

    def read(self):
        line = self.proc.stdout.readline()
        if not line: sys.exit(f"the {self.side} worker died (its error is above)")
        return json.loads(line)

    def ask(self, command):
        self.proc.stdin.write(command + '\n'); self.proc.stdin.flush()
        return self.read()


def summary(seconds, skip_first=False):
    "Samples/s of the first epoch and over all timed epochs (without epoch 1 for a compiled run)."
    timed = seconds[1:] if skip_first else seconds
    return {'seconds_per_epoch': seconds, 'samples_per_second_first': N_TRAIN / seconds[0],
            'samples_per_second': N_TRAIN * len(timed) / sum(timed)}


def cpu_model():
    "The processor's name as Linux reports it (the machine matters: ratios differ between CPU models)."
    try:
        for line in Path('/proc/cpuinfo').read_text().splitlines():
            if line.startswith('model name'): return line.split(':', 1)[1].strip()
    except OSError: pass
    return platform.processor() or 'unknown'


def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--root', default=os.environ.get('VAE_NBDEV_DATA'), help='torchvision root holding MNIST (default: $VAE_NBDEV_DATA)')
    p.add_argument('--epochs', type=int, default=10, help='epochs each side trains (and times); the test loss is taken after them')
    p.add_argument('--threads', type=int, default=2)
    p.add_argument('--compile', action='store_true', help='also time vae_nbdev with torch.compile')
    p.add_argument('--out', default=str(HERE / 'results' / 'throughput.json'))
    p.add_argument('--worker', choices=sorted(SIDES), help=argparse.SUPPRESS)
    args = p.parse_args()
    if not args.root: p.error('full MNIST is needed: pass --root DIR or set VAE_NBDEV_DATA (a torchvision root)')
    if args.worker: return worker(args.worker, args.root, args.threads)
    if args.epochs < 1 + args.compile: p.error('--epochs must be at least 1 (2 with --compile)')
    torch.set_num_threads(args.threads)

    res = {'machine': {'cpu': cpu_model(), 'cpu_count': os.cpu_count(), 'threads': args.threads, 'torch': torch.__version__,
                       'python': platform.python_version()},
           'matmul_gflops': matmul_flops_per_second() / 1e9, 'epochs': args.epochs, 'schedule': 'interleaved'}
    sides = ['reference', 'vae_nbdev'] + ['vae_nbdev_compiled'] * args.compile
    workers = [Worker(s, args.root, args.threads) for s in sides]
    seconds = {s: [] for s in sides}
    for e in range(args.epochs):
        for w in (workers if e % 2 == 0 else workers[::-1]):
            seconds[w.side].append(w.ask('epoch')['seconds'])
        print(f"epoch {e + 1}: " + '  '.join(f"{s} {seconds[s][-1]:.2f}s" for s in sides), flush=True)
    for w in workers:
        r = res[w.side] = {**summary(seconds[w.side], skip_first=w.side.endswith('compiled')), **w.ask('finish')}
        r['fraction_of_matmul_peak'] = r['samples_per_second'] * train_flops_per_sample() / (res['matmul_gflops'] * 1e9)
    res['speedup'] = res['vae_nbdev']['samples_per_second'] / res['reference']['samples_per_second']
    res['speedup_first_epoch'] = res['vae_nbdev']['samples_per_second_first'] / res['reference']['samples_per_second_first']
    ratios = sorted(r / n for r, n in zip(seconds['reference'], seconds['vae_nbdev']))
    res['speedup_per_epoch'] = {'min': ratios[0], 'median': ratios[len(ratios) // 2], 'max': ratios[-1]}

    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(res, indent=2) + '\n')
    print(f"matmul rate: {res['matmul_gflops']:.1f} GFLOP/s ({args.threads} threads)")
    print(f"{'':22}{'samples/s':>10}{'(epoch 1)':>10}{'test -ELBO':>12}{'of peak':>9}{'memory':>9}")
    for s in sides:
        r = res[s]
        print(f"{s:22}{r['samples_per_second']:>10.0f}{r['samples_per_second_first']:>10.0f}{r['test_loss']:>12.2f}"
              f"{r['fraction_of_matmul_peak']:>9.1%}{r['peak_memory_mb']:>6.0f} MB")
    sp = res['speedup_per_epoch']
    print(f"speedup: {res['speedup']:.2f}x over the run ({res['speedup_first_epoch']:.2f}x in epoch 1; "
          f"epoch by epoch {sp['min']:.2f}x to {sp['max']:.2f}x, median {sp['median']:.2f}x)")


if __name__ == '__main__': main()
