"""The console scripts end to end, as a user runs them: the installed executables, in subprocesses.

The scripts are looked up next to the running interpreter (`pip install -e .` puts them there);
the notebook nbs/10_cli.ipynb tests the same functions in-process.
"""
import hashlib
import json
import os
import shutil
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
    assert '-ELBO' in res.stdout and str(out) in res.stdout


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
    assert 'checkpoint' in rep['data_source'] or 'config.json' in rep['data_source']
    table = run(script('vae_nbdev_eval'), out / 'checkpoint.pt', '--k', '10', '--n', '200', cwd=out.parent)
    assert table.returncode == 0, table.stderr
    assert 'IWAE bound' in table.stderr   # progress and time left go to stderr
    assert 'ELBO' in table.stdout and 'IWAE' in table.stdout and f"{rep['elbo']:.2f}" in table.stdout


def test_bad_flag_exits_nonzero_without_traceback(tmp_path):
    res = run(script('vae_nbdev_train'), '--dataset', 'cifar', '--out', tmp_path / 'x', cwd=tmp_path)
    assert res.returncode == 2
    assert 'Traceback' not in res.stderr and "'sample'" in res.stderr
    assert not (tmp_path / 'x').exists()


def test_runtime_errors_exit_nonzero_without_traceback(tmp_path):
    res = run(script('vae_nbdev_train'), '--latent-dim', '0', '--out', tmp_path / 'x', cwd=tmp_path)
    assert res.returncode == 1 and '--latent-dim' in res.stderr and 'Traceback' not in res.stderr
    (tmp_path / 'bad.pt').write_bytes(b'not a checkpoint')
    res = run(script('vae_nbdev_eval'), tmp_path / 'bad.pt', cwd=tmp_path)
    assert res.returncode == 1 and 'bad.pt' in res.stderr and 'Traceback' not in res.stderr


def test_help_lists_every_config_field(tmp_path):
    from dataclasses import fields
    from vae_nbdev.config import VAEConfig
    res = run(script('vae_nbdev_train'), '--help', cwd=tmp_path)
    assert res.returncode == 0
    for f in fields(VAEConfig): assert '--' + f.name.replace('_', '-') in res.stdout, f.name


HELP_WITHOUT_TORCH = """
import sys
from vae_nbdev.cli import train_main, eval_main
for main in (train_main, eval_main):
    for argv, status in ((['--help'], 0), (['--no-such-flag'], 2)):
        try: code = main(argv)
        except SystemExit as e: code = e.code
        assert code == status, (main.__name__, argv, code)
        assert 'torch' not in sys.modules, f'{main.__name__} {argv[0]} imported torch'
print('no torch')
"""


def test_help_does_not_import_torch(tmp_path):
    "--help (and a bad flag) answers at once: the parsers need only the config's fields, not torch."
    res = subprocess.run([sys.executable, '-c', HELP_WITHOUT_TORCH], capture_output=True, text=True, cwd=tmp_path)
    assert res.returncode == 0 and 'no torch' in res.stdout, res.stderr[-2000:]


def digest(folder):
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(Path(folder).rglob('*')) if p.is_file()}


@pytest.mark.parametrize('argv, status, says', [
    (['--resume', '--latent-dim', '8'], 1, 'trained with --latent-dim 20'),
    (['--overwrite', '--lr', '1e30'], 1, '--lr 1e+30 is out of range'),
    (['--overwrite', '--threads', '100000'], 2, 'thread count'),
    ([], 1, '--overwrite'),   # the no-argument command into runs/vae, which already holds a run
])
def test_refused_commands_leave_the_run_untouched(trained, tmp_path, argv, status, says):
    "A refused command exits with one message, no traceback, and leaves every file of the run byte-identical."
    out, res = trained
    assert res.returncode == 0, res.stderr
    folder = tmp_path / 'runs' / 'vae'
    shutil.copytree(out, folder)
    before = digest(tmp_path)
    args = argv if argv == [] else [*argv, '--out', folder]
    r = run(script('vae_nbdev_train'), *args, cwd=tmp_path)
    assert r.returncode == status, r.stderr
    assert says in r.stderr and 'Traceback' not in r.stderr
    if status == 1: assert len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert digest(tmp_path) == before


def test_eval_says_what_data_it_assumes(trained, tmp_path):
    "A checkpoint that does not record its data, with no config.json beside it: eval says what it assumed."
    import torch
    out, res = trained
    assert res.returncode == 0, res.stderr
    ck = torch.load(out / 'checkpoint.pt', weights_only=True)
    ck['data'] = {k: v for k, v in ck['data'].items() if k not in ('dataset', 'binarize')}
    torch.save(ck, tmp_path / 'old.pt')
    ev = run(script('vae_nbdev_eval'), tmp_path / 'old.pt', '--k', '2', '--n', '50', '--json', '--quiet', cwd=tmp_path)
    assert ev.returncode == 0, ev.stderr
    rep = json.loads(ev.stdout)
    assert 'assumed' in rep['data_source'] and (rep['dataset'], rep['binarize']) == ('sample', 'none')
    assert ev.stderr == ''
