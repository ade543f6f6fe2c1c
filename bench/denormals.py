"""How much denormal floats slow down a CPU matrix product, with and without flush-to-zero.

    python bench/denormals.py              # writes bench/results/denormals.json
    python bench/denormals.py --threads 1

Times A.T @ (A @ W) for A (128, 784) and W (784, 400), the shapes of the first layer of the course's
VAE at batch size 128, once with A full of an ordinary small value (1e-10, whose products stay normal) and once with a denormal
one (1e-40 < 2**-126), in two fresh processes: one with PyTorch's default and one that turns on
flush-to-zero before any worker thread exists (so that every thread flushes).
"""
import argparse
import json
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
CODE = r'''
import json, sys, time, torch
if sys.argv[1] == 'flush': torch.set_flush_denormal(True)
torch.set_num_threads(int(sys.argv[2]))
W = torch.randn(784, 400)
res = {}
for value in (1e-10, 1e-40):
    A = torch.full((128, 784), value)
    A.t() @ (A @ W)
    best = float('inf')
    for _ in range(5):
        t = time.perf_counter()
        for _ in range(20): A.t() @ (A @ W)
        best = min(best, (time.perf_counter() - t) / 20)
    res[f'{value:.0e}'] = best * 1e3
print(json.dumps(res))
'''


def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--threads', type=int, default=2)
    p.add_argument('--out', default=str(HERE / 'results' / 'denormals.json'))
    args = p.parse_args()
    sys.path.insert(0, str(HERE))
    from throughput import cpu_model
    res = {'cpu': cpu_model(), 'threads': args.threads, 'unit': 'ms per product pair (best of 5 rounds of 20)'}
    print(f"{'mode':>8} {'A value':>8} {'ms':>8}  ({args.threads} threads)")
    for mode in ('default', 'flush'):
        out = subprocess.run([sys.executable, '-c', CODE, mode, str(args.threads)], capture_output=True, text=True, check=True)
        res[mode] = json.loads(out.stdout)
        for value, ms in res[mode].items(): print(f"{mode:>8} {value:>8} {ms:8.3f}")
    res['slowdown_without_flush'] = res['default']['1e-40'] / res['default']['1e-10']
    print(f"denormal inputs are {res['slowdown_without_flush']:.0f}x slower without flush-to-zero")
    Path(args.out).write_text(json.dumps(res, indent=2) + '\n')


if __name__ == '__main__': main()
