"""Why `reconstruction_loss_bce` has its own autograd function: the cost of the Bernoulli NLL of one batch.

    python bench/bce_kernels.py        # writes bench/results/bce_kernels.json

Times, on a (128, 784) batch of logits and grey targets, the elementwise kernels the loss could be
built from (`log1p`, `log`, `exp`, `sigmoid`), softplus two ways (`F.softplus`, vae_nbdev's
`fast_softplus`), then the loss with its backward pass two ways:
PyTorch's `F.binary_cross_entropy_with_logits` (summed, / B) and vae_nbdev's `_BernoulliNLL`.
The candidates take turns in rounds (best of 7 rounds of 200 calls each), so that the drift of a
shared machine's speed hits them alike. The ranking depends on the processor: results/bce_kernels.json
is the latest run, results/bce_kernels_amd_epyc.json an earlier one on a 2-core AMD EPYC.
"""
import json
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from vae_nbdev.losses import _BernoulliNLL, fast_softplus
from throughput import cpu_model

HERE = Path(__file__).resolve().parent


def per_call_us(fn, calls=200):
    t = time.perf_counter()
    for _ in range(calls): fn()
    return (time.perf_counter() - t) / calls * 1e6


def candidates():
    torch.manual_seed(0)
    logits, x = (3 * torch.randn(128, 784)).requires_grad_(), torch.rand(128, 784)
    grey = x + 0.5
    def builtin(): (F.binary_cross_entropy_with_logits(logits, x, reduction='sum') / 128).backward()
    def ours(): _BernoulliNLL.apply(logits, x).backward()
    return {'log1p': lambda: torch.log1p(grey), 'log': lambda: torch.log(grey), 'exp': lambda: torch.exp(x),
            'sigmoid': lambda: torch.sigmoid(x), 'F.softplus': lambda: F.softplus(logits.detach()),
            'fast_softplus': lambda: fast_softplus(logits.detach()),
            'bce_with_logits forward+backward': builtin, '_BernoulliNLL forward+backward': ours}


def main():
    res = {}
    for threads in (1, 2):
        torch.set_num_threads(threads)
        fns = candidates()
        for fn in fns.values(): per_call_us(fn, 20)   # warm up
        best = dict.fromkeys(fns, float('inf'))
        for _ in range(7):
            for k, fn in fns.items(): best[k] = min(best[k], per_call_us(fn))
        res[f'{threads} thread' + 's' * (threads > 1)] = best
    res['torch'], res['cpu'] = torch.__version__, cpu_model()
    out = HERE / 'results' / 'bce_kernels.json'
    out.write_text(json.dumps(res, indent=1) + '\n')
    for k, v in res.items():
        if isinstance(v, dict): print(k + ': ' + ', '.join(f'{n} {us:.0f} µs' for n, us in v.items()))


if __name__ == '__main__': main()
