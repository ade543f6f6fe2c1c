"""What the notebooks cannot test: the wheel installs and works in a clean environment without nbdev."""
import os
import subprocess
import sys
import textwrap
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

SMOKE = textwrap.dedent('''
    import importlib.util, torch
    assert importlib.util.find_spec("nbdev") is None, "nbdev must not be installed here"
    assert importlib.util.find_spec("jupyterlab") is None, "jupyterlab must not be installed here"
    from vae_nbdev import *
    torch.manual_seed(0)
    model = build_model(VAEConfig(latent_dim=4, hidden_dim=32))
    x = torch.rand(8, 1, 28, 28).bernoulli()
    logits, mu, logvar, z = model(x)
    terms = vae_loss(logits, x.flatten(1), mu, logvar, beta=0.5)
    assert terms.loss.shape == () and torch.isfinite(terms.loss)
    assert torch.allclose(terms.loss, terms.recon + 0.5 * terms.kl)
    terms.loss.backward()
    print("ok", round(terms.loss.item(), 3))
''')


def run(*args, **kw):
    res = subprocess.run([str(a) for a in args], capture_output=True, text=True, **kw)
    assert res.returncode == 0, f"{args} failed:\n{res.stdout[-3000:]}\n{res.stderr[-3000:]}"
    return res


@pytest.fixture(scope='session')
def clean_env(tmp_path_factory):
    "A fresh virtual environment with the built wheel and its declared dependencies only."
    tmp = tmp_path_factory.mktemp('wheel')
    run(sys.executable, '-m', 'pip', 'wheel', '--no-deps', '--no-build-isolation', '-w', tmp / 'dist', ROOT)
    wheel, = (tmp / 'dist').glob('vae_nbdev-*.whl')
    venv.create(tmp / 'env', with_pip=True)
    py = tmp / 'env' / 'bin' / 'python'
    run(py, '-m', 'pip', 'install', '-q', wheel, env={**os.environ, 'PIP_DISABLE_PIP_VERSION_CHECK': '1'})
    return py, wheel


def test_wheel_works_without_nbdev(clean_env):
    py, _ = clean_env
    res = run(py, '-c', SMOKE, cwd=clean_env[1].parent)  # not the repo, so the installed copy is imported
    assert res.stdout.startswith('ok')


def test_wheel_contents(clean_env):
    import zipfile
    names = zipfile.ZipFile(clean_env[1]).namelist()
    for module in ['model', 'losses', 'schedule', 'config', '_modidx', '__init__']:
        assert f'vae_nbdev/{module}.py' in names, f'{module}.py missing from the wheel'


def test_readme_matches_index():
    res = subprocess.run([sys.executable, ROOT / 'scripts' / 'sync_readme.py', '--check'], capture_output=True, text=True)
    assert res.returncode == 0, res.stdout + res.stderr
