"""How much denormal floats slow down a CPU matrix product, with and without flush-to-zero.

    python bench/denormals.py

Times A.T @ (A @ W) for A (128, 784) and W (784, 400), the shapes of the first layer of the course's
VAE at batch size 128, once with A full of an ordinary small value and once with a denormal one
(1e-40 < 2**-126), in two fresh processes: one with PyTorch's default and one that turns on
flush-to-zero before any worker thread exists (as importing vae_nbdev does).
"""
import subprocess
import sys

CODE = r'''
import sys, time, torch
if sys.argv[1] == 'flush': torch.set_flush_denormal(True)
torch.set_num_threads(int(sys.argv[2]))
W = torch.randn(784, 400)
for value in (1e-30, 1e-40):
    A = torch.full((128, 784), value)
    A.t() @ (A @ W)
    t = time.perf_counter()
    for _ in range(100): A.t() @ (A @ W)
    print(f"{sys.argv[1]:>8} {value:>8.0e} {(time.perf_counter() - t) * 10:8.2f} ms")
'''


def main(threads=2):
    print(f"{'mode':>8} {'A value':>8} {'per product':>11}  ({threads} threads)")
    for mode in ('default', 'flush'):
        out = subprocess.run([sys.executable, '-c', CODE, mode, str(threads)], capture_output=True, text=True, check=True)
        print(out.stdout, end='')


if __name__ == '__main__': main()
