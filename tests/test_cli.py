"""The console scripts end to end, as a user runs them: the installed executables, in subprocesses.

The scripts are looked up next to the running interpreter (`pip install -e .` puts them there);
the notebook nbs/10_cli.ipynb tests the same functions in-process.
"""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

BIN = Path(sys.executable).parent
HISTORY_KEYS = {'epoch', 'train_loss', 'test_loss', 'recon', 'kl', 'beta', 'seconds'}


def script(name):
    path = BIN / name
    assert path.is_file(), (f"{name} is not installed next to {sys.executable}; "
                            "run `pip install -e . --no-deps` in the repository first")
    return str(path)


def run(*args, cwd):
    env = {**os.environ, 'PYTHONWARNINGS': 'ignore'}
    return subprocess.run([str(a) for a in args], capture_output=True, text=True, cwd=cwd, env=env, timeout=300)


@pytest.fixture(scope='module')
def trained(tmp_path_factory):
    "One short training run shared by the tests below: (run folder, completed process)."
    tmp = tmp_path_factory.mktemp('cli')
    out = tmp / 'run'
    res = run(script('vae_nbdev_train'), '--epochs', '1', '--hidden-dim', '64', '--out', out, '--quiet', cwd=tmp)
    return out, res


def test_train_writes_run_folder(trained):
    out, res = trained
    assert res.returncode == 0, res.stderr
    assert 'Traceback' not in res.stderr
    for name in ('checkpoint.pt', 'history.json', 'config.json', 'reconstructions.png', 'samples.png'):
        assert (out / name).is_file(), f'{name} missing'
    for name in ('reconstructions.png', 'samples.png'):
        assert (out / name).read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'
    history = json.loads((out / 'history.json').read_text())
    assert len(history) == 1 and HISTORY_KEYS <= set(history[0])
    h = history[0]
    # an untrained 784-64-20 model scores about 550 nats on the sample; one epoch gets far below that,
    # but never below the binary entropy of the grey-level test pixels (about 45 nats)
    assert 45 < h['test_loss'] < 400 and h['kl'] > 0 and h['beta'] == 1.0
    config = json.loads((out / 'config.json').read_text())
    assert config['hidden_dim'] == 64 and config['epochs'] == 1 and config['dataset'] == 'sample'
    assert 'test loss' in res.stdout and str(out) in res.stdout


def test_eval_json_and_table(trained):
    out, res = trained
    assert res.returncode == 0, res.stderr
    ev = run(script('vae_nbdev_eval'), out / 'checkpoint.pt', '--k', '10', '--n', '200', '--json', cwd=out.parent)
    assert ev.returncode == 0, ev.stderr
    rep = json.loads(ev.stdout)
    assert (rep['n'], rep['k'], rep['dataset'], rep['binarize']) == (200, 10, 'sample', 'none')
    for key in ('elbo', 'iwae', 'recon', 'kl', 'active_units', 'seconds'): assert key in rep, key
    assert rep['elbo'] < 0 and rep['iwae'] > rep['elbo']
    assert abs(rep['elbo'] + rep['recon'] + rep['kl']) < 1e-6
    table = run(script('vae_nbdev_eval'), out / 'checkpoint.pt', '--k', '10', '--n', '200', cwd=out.parent)
    assert table.returncode == 0, table.stderr
    assert 'ELBO' in table.stdout and 'IWAE' in table.stdout and f"{rep['elbo']:.2f}" in table.stdout


def test_bad_flag_exits_nonzero_without_traceback(tmp_path):
    res = run(script('vae_nbdev_train'), '--dataset', 'cifar', '--out', tmp_path / 'x', cwd=tmp_path)
    assert res.returncode == 2
    assert 'Traceback' not in res.stderr and "'sample'" in res.stderr
    assert not (tmp_path / 'x').exists()


def test_runtime_errors_exit_nonzero_without_traceback(tmp_path):
    res = run(script('vae_nbdev_train'), '--latent-dim', '0', '--out', tmp_path / 'x', cwd=tmp_path)
    assert res.returncode == 1 and 'latent_dim' in res.stderr and 'Traceback' not in res.stderr
    (tmp_path / 'bad.pt').write_bytes(b'not a checkpoint')
    res = run(script('vae_nbdev_eval'), tmp_path / 'bad.pt', cwd=tmp_path)
    assert res.returncode == 1 and 'bad.pt' in res.stderr and 'Traceback' not in res.stderr


def test_help_lists_every_config_field(tmp_path):
    from dataclasses import fields
    from vae_nbdev.config import VAEConfig
    res = run(script('vae_nbdev_train'), '--help', cwd=tmp_path)
    assert res.returncode == 0
    for f in fields(VAEConfig): assert '--' + f.name.replace('_', '-') in res.stdout, f.name
