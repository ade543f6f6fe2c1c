"""The headline result: test log-likelihood of a one-stochastic-layer VAE on dynamically binarized MNIST.

    python bench/headline.py                # train (resuming if interrupted), then evaluate
    python bench/headline.py --skip-train   # evaluate the saved checkpoint only

Recipe: Burda et al.'s one-layer architecture (784-200-200-50, tanh), trained on the ELBO for 2,000
epochs with Adam (lr 1e-3, cosine decay to 1e-5 over the run), batch 100, dynamic binarization (a fresh
Bernoulli draw of every training image each time it is served), in-memory batches, two CPU threads
(about 80 minutes on a 2-core machine; the results differ slightly with the thread count). Evaluation: the
importance-weighted bound with k = 5000 on all 10,000 test digits, binarized once with vae_nbdev's
fixed test seed. Writes OUT/checkpoint.pt (resumable; it holds the per-epoch history) and OUT/result.json.
Full MNIST is read from --root, default $VAE_NBDEV_DATA (torchvision layout: DIR/MNIST/raw/).
"""
import argparse
import json
import sys
import time
from pathlib import Path

import torch

from vae_nbdev.config import VAEConfig, build_model
from vae_nbdev.data import get_data
from vae_nbdev.evaluate import evaluate_model, format_report
from vae_nbdev.train import evaluate_elbo, fit, load_checkpoint, load_model

HERE = Path(__file__).resolve().parent
DEFAULT_THREADS = 2
RECIPE = VAEConfig(input_dim=784, hidden_dim=200, latent_dim=50, n_layers=2, activation='tanh', recon_loss='bce',
                   beta=1.0, lr=1e-3, lr_schedule='cosine', batch_size=100, epochs=2000, seed=0)


def train(cfg, root, out, threads):
    torch.set_num_threads(threads)
    data = get_data('mnist', root=root, binarize='dynamic', bs=cfg.batch_size, seed=cfg.seed)
    ckpt = out / 'checkpoint.pt'
    model = build_model(cfg)
    t0 = time.perf_counter()
    history = fit(model, data, epochs=cfg.epochs, lr=cfg.lr, lr_schedule=cfg.lr_schedule, checkpoint=ckpt,
                  resume=ckpt.exists(), seed=cfg.seed, cfg=cfg, device='cpu')
    print(f'trained to epoch {len(history)} in {time.perf_counter() - t0:.0f} s this session '
          f'({sum(h["seconds"] for h in history) / 60:.1f} min of training in all)')
    return history


def evaluate(root, out, k, n, threads, command):
    torch.set_num_threads(threads)
    model = load_model(out / 'checkpoint.pt', device='cpu')
    data = get_data('mnist', root=root, binarize='dynamic', bs=1000)
    x = data.test.x[:n] if n else data.test.x
    report = evaluate_model(model, x, k=k, batch_size=25, progress=True)
    report['nll'] = -report['iwae']
    history = load_checkpoint(out / 'checkpoint.pt')['history']
    report['epochs'] = len(history)
    report['train_minutes'] = sum(h['seconds'] for h in history) / 60
    # A cheap fingerprint the docs can recompute from the checkpoint and the shipped sample, with no full MNIST:
    # the seeded one-sample ELBO on the sample's 2,000 test digits.
    report['sample_test_elbo'] = -evaluate_elbo(model, get_data('sample', binarize='dynamic', bs=1000).test)['loss']
    report['command'] = command
    print(format_report(report))
    print(f"test NLL (IWAE, k={k}, n={report['n']}): {report['nll']:.2f} nats")
    (out / 'result.json').write_text(json.dumps(report, indent=1) + '\n')
    return report


def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--root', default=None,
                   help='directory holding MNIST in torchvision layout (default: $VAE_NBDEV_DATA)')
    p.add_argument('--out', default=str(HERE / 'results' / 'headline'))
    p.add_argument('--epochs', type=int, default=RECIPE.epochs)
    p.add_argument('--k', type=int, default=5000, help='importance samples for the test log-likelihood')
    p.add_argument('--n', type=int, default=0, help='evaluate on the first N test digits only (0: all 10,000)')
    p.add_argument('--threads', type=int, default=DEFAULT_THREADS, help='CPU threads for training')
    p.add_argument('--eval-threads', type=int, default=2)
    p.add_argument('--skip-train', action='store_true')
    args = p.parse_args()
    out = Path(args.out); out.mkdir(parents=True, exist_ok=True)
    cfg = VAEConfig.from_any({**RECIPE.to_dict(), 'epochs': args.epochs})
    if not args.skip_train: train(cfg, args.root, out, args.threads)
    changed = [f'--epochs {args.epochs}'] * (args.epochs != RECIPE.epochs) + [f'--threads {args.threads}'] * (args.threads != DEFAULT_THREADS)
    evaluate(args.root, out, args.k, args.n, args.eval_threads, ' '.join(['python bench/headline.py'] + changed))


if __name__ == '__main__': sys.exit(main())
