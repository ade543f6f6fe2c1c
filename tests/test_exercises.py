"""Issue 12 end to end: the exercise notebooks, the assignment repository and the grader.

What nbs/11_exercises.ipynb cannot test in a few seconds: that every exercise notebook of the course stops at
its first stub when unsolved and runs like the course once the solutions are pasted back (executed as
`nbdev_test` executes notebooks), that the exercise marks reach neither the library nor the docs, and that the
grader gives full marks to the reference, 0 to the skeleton and, to each classic mistake, exactly the loss of
the items it breaks with the matching diagnosis.
"""
import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from vae_nbdev import exercises as ex

ROOT = Path(__file__).resolve().parent.parent
NBS = ROOT / 'nbs'
COURSE = sorted(p for p in NBS.glob('*.ipynb') if not p.name.startswith('_'))
MARKED = [p for p in COURSE if p.name != '11_exercises.ipynb']  # 11 shows the mark in an example, as text
# The exercises issue 12 asks for, by notebook (00_elbo: at least one linear-Gaussian ELBO piece).
REQUIRED = {'01_model.ipynb': {'encode', 'reparameterize', 'decode', 'forward'},
            '02_losses.ipynb': {'kl_divergence', 'reconstruction_loss_bce', 'reconstruction_loss_mse',
                                'reconstruction_loss_l1', 'compute_elbo'},
            '03_schedule.ipynb': {'beta_schedule'}, '04_config.ipynb': {'build_model'},
            '07_evaluate.ipynb': {'iwae_from_log_weights', 'log_importance_weights'}}
# Notebooks fast enough to run in full here (their restored exercise edition); the others are checked to be
# cell-for-cell the course notebook, which `nbdev_test` runs.
RUN_SOLVED = ('01_model.ipynb', '03_schedule.ipynb', '04_config.ipynb')


def load(p): return json.loads(Path(p).read_text(encoding='utf-8'))


def src(c): return ''.join(c['source'])


# ---------------------------------------------------------------- marks: in the notebooks, not in the library

def test_exercise_marks_are_leading_directives():
    "Every `#| exercise` line is a leading directive of its cell (the lines nbdev drops), never inside code."
    for p in MARKED:
        for c in load(p)['cells']:
            if c['cell_type'] == 'code' and re.search(r'^\s*#\s*\|\s*exercise\b', src(c), re.M):
                assert ex.exercise_directive(src(c)) is not None, f"{p.name}: `#| exercise` must sit at the top of the cell"
                assert 'BEGIN SOLUTION' not in src(c), f"{p.name}: no nbgrader lines in the source (they would be exported)"


def test_marks_reach_neither_library_nor_docs():
    from nbdev.process import NBProcessor
    for f in (ROOT / 'vae_nbdev').glob('*.py'):
        text = f.read_text(encoding='utf-8')
        assert not re.search(r'^\s*#\s*\|\s*exercise', text, re.M), f"{f.name} contains an exercise mark"
        if f.name != 'exercises.py': assert 'BEGIN SOLUTION' not in text, f"{f.name} contains a solution marker"
    for p in MARKED:  # what nbdev_docs renders: the cells after nbdev removed the directives
        for c in NBProcessor(p, procs=[], rm_directives=True).nb.cells:
            if c.cell_type == 'code': assert not re.search(r'^\s*#\s*\|\s*exercise', c.source, re.M), p.name


def test_issue_exercises_are_marked():
    found = {p.name: set(ex.solutions(load(p))) for p in COURSE}
    for nb, names in REQUIRED.items(): assert names <= found.get(nb, set()), f"{nb}: not marked: {sorted(names - found.get(nb, set()))}"
    assert found.get('00_elbo.ipynb'), "00_elbo: no linear-Gaussian ELBO piece is marked as an exercise"


# ---------------------------------------------------------------- the exercise edition runs as nbdev_test runs it

RUNNER = textwrap.dedent('''
    # Run notebooks one after the other as nbdev_test runs each (execnb, #| slow and #| notest cells skipped),
    # in one process so that torch is imported once; one JSON line per notebook.
    import io, json, sys, contextlib
    from pathlib import Path
    from nbdev.test import test_nb
    for p in sys.argv[1:]:
        err = io.StringIO()
        with contextlib.redirect_stderr(err): ok, secs = test_nb(Path(p), skip_flags=['notest', 'slow'], showerr=True)
        print(json.dumps(dict(nb=Path(p).name, ok=ok, secs=round(secs, 1), err=err.getvalue()[-3000:])), flush=True)
''')


class NbRun:
    "Notebooks run by nbdev_test's own function in a background process, started now, read when needed."
    def __init__(self, paths:list):
        self.n = len(paths)
        self.p = subprocess.Popen([sys.executable, '-c', RUNNER, *map(str, paths)], stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True, env={**os.environ, 'OMP_NUM_THREADS': '1'})
    def result(self)->dict:
        "nbdev_test's verdict on each notebook: {name: {'ok', 'secs', 'err'}}."
        out, err = self.p.communicate(timeout=900)
        res = {d['nb']: d for d in map(json.loads, out.splitlines())}
        assert len(res) == self.n, err[-3000:]
        return res


@pytest.fixture(scope='module')
def edition(tmp_path_factory):
    """The exercise edition (unsolved) and its solved twin, beside a link to the repository's bench/ (07 reads its
    results); their notebooks start running in the background while the grader's tests run."""
    out = tmp_path_factory.mktemp('exercises')
    made = ex.write_exercises(out / 'unsolved', nbs=NBS)
    (out / 'solved').mkdir()
    for name in made:
        ex._write_nb(ex.restore_solutions(load(out / 'unsolved' / name), load(NBS / name)), out / 'solved' / name)
    (out / 'bench').symlink_to(ROOT / 'bench')
    unsolved = NbRun([out / 'unsolved' / n for n, names in made.items() if names])
    solved = NbRun([out / 'solved' / n for n in RUN_SOLVED if made.get(n)])
    yield out, made, unsolved, solved
    for r in (unsolved, solved):
        if r.p.poll() is None: r.p.kill()


def test_edition_has_every_notebook_and_stubs(edition):
    out, made, *_ = edition
    assert sorted(made) == [p.name for p in COURSE]
    for name, names in made.items():
        text = (out / 'unsolved' / name).read_text(encoding='utf-8')
        for n in names: assert f'raise NotImplementedError(\\"{n}: implement ' in text
        assert 'nbdev_export(' not in text


def test_restored_edition_is_the_course(edition):
    "Cell for cell the course notebook (less its export call), which nbdev_test runs."
    out, made, *_ = edition
    for name in made:
        course = [c['source'] for c in load(NBS / name)['cells'] if not ex._is_export_call(c)]
        assert [c['source'] for c in load(out / 'solved' / name)['cells']] == course, name


# ---------------------------------------------------------------- the assignment repository and the grader

BAD = {  # learner code that misbehaves beyond a wrong formula
    'prints and warns': ('return 0.5 * (mu.pow(2)', 'print("kl!"); import warnings; warnings.warn("hm")\n    return 0.5 * (mu.pow(2)'),
    'float64 KL': ('- logvar - 1).sum(dim=1).mean()', '- logvar - 1).sum(dim=1).mean().double()'),
    'infinite loop in decode': ('return self.dec(z)', 'while True: pass'),
    'crash in beta_schedule': ('if step >= warmup_steps: return float(beta_max)', 'import os; os._exit(3)'),
    'reads stdin in encode': ('h = self.enc(x)', 'input("x? "); h = self.enc(x)'),
}


INDEPENDENT = {  # a correct solution written another way, with no input validation: must get full marks
    'encode': 'h = self.enc(x)\nmu = self.mu(h)\nreturn mu, self.logvar(h)',
    'reparameterize': 'return torch.distributions.Normal(mu, logvar.mul(0.5).exp()).rsample()',
    'decode': 'out = self.dec(z)\nreturn out',
    'forward': 'mu, logvar = self.encode(x)\nz = self.reparameterize(mu, logvar)\nreturn self.decode(z), mu, logvar, z',
    'kl_divergence': 'return torch.mean(-0.5 * torch.sum(1 + logvar - mu ** 2 - torch.exp(logvar), dim=1))',
    'reconstruction_loss_bce': 'return F.binary_cross_entropy(torch.sigmoid(logits), x, reduction="sum") / x.size(0)',
    'reconstruction_loss_mse': 'return F.mse_loss(torch.sigmoid(logits), x, reduction="sum") / x.shape[0]',
    'reconstruction_loss_l1': 'return F.l1_loss(torch.sigmoid(logits), x, reduction="sum") / len(x)',
    'compute_elbo': ('if recon_loss == "bce": recon = reconstruction_loss_bce(logits, x)\n'
                     'elif recon_loss == "mse": recon = reconstruction_loss_mse(logits, x)\n'
                     'else: recon = reconstruction_loss_l1(logits, x)\n'
                     'kl = kl_divergence(mu, logvar)\nreturn recon + beta * kl, recon, kl'),
    'vae_loss': 'return compute_elbo(logits, x, mu, logvar, beta, recon_loss)',
    'beta_schedule': 'if warmup_steps == 0: return beta_max\nreturn beta_max * min(1.0, step / warmup_steps)',
    'build_model': 'return VAE(cfg.input_dim, cfg.hidden_dim, cfg.latent_dim, cfg.n_layers, cfg.recon_loss, cfg.beta)',
}


def solve(skeleton:str, bodies:dict)->str:
    "The skeleton with each stub replaced by the body given for its function."
    def body(name, indent): return ''.join(indent + line + '\n' for line in bodies[name].split('\n'))
    return ex._fill_stubs(skeleton, body)


@pytest.fixture(scope='module')
def graded(tmp_path_factory):
    out = tmp_path_factory.mktemp('assignment')
    ex.write_assignment(out / 'solution', solution=True)
    ex.write_assignment(out / 'skeleton')
    sol = (out / 'solution/student/vae.py').read_text()
    files = {'solution': out / 'solution', 'skeleton': out / 'skeleton'}
    for i, name in enumerate([*ex.MUTATIONS, *BAD]):
        f = out / f'case{i}.py'
        f.write_text(ex.mutate(sol, name) if name in ex.MUTATIONS else sol.replace(*BAD[name]))
        files[name] = f
    (out / 'syntax.py').write_text(sol.replace('def decode(self, z):', 'def decode(self, z)'))
    (out / 'independent.py').write_text(solve((out / 'skeleton/student/vae.py').read_text(), INDEPENDENT))
    files['independent'] = out / 'independent.py'
    # kl_divergence never returns, and compute_elbo computes its KL itself: the grader must still end
    own_kl = '0.5 * (mu.pow(2) + logvar.exp() - logvar - 1).sum(dim=1).mean()'
    (out / 'kl_loop.py').write_text(sol.replace(f'return {own_kl}', 'while True: pass')
                                       .replace('kl = kl_divergence(mu, logvar)', f'kl = {own_kl}'))
    files['infinite loop in kl_divergence'] = out / 'kl_loop.py'
    files['syntax error'] = out / 'syntax.py'
    local = subprocess.Popen([sys.executable, '-m', 'pytest', '-q', '-p', 'no:cacheprovider', 'tests'], cwd=out / 'solution',
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env={**os.environ, 'OMP_NUM_THREADS': '1'})
    results = ex.grade_many(list(files.values()), timeout=5)
    yield out, dict(zip(files, results)), local
    if local.poll() is None: local.kill()


def failed(res): return {i['item']: i['diagnosis'] for i in res['items'] if not i['passed']}


def test_solution_gets_full_marks_and_skeleton_zero(graded):
    _, res, _ = graded
    assert res['solution']['score'] == res['solution']['total'] == 26, failed(res['solution'])
    assert res['independent']['score'] == 26, failed(res['independent'])
    assert res['skeleton']['score'] == 0
    assert all(d.startswith('NotImplementedError') for d in failed(res['skeleton']).values())
    assert len(failed(res['skeleton'])) == len(ex.GRADE_ITEMS)


@pytest.mark.parametrize('name', list(ex.MUTATIONS))
def test_each_mistake_loses_its_items_with_its_diagnosis(graded, name):
    _, res, _ = graded
    m, r = ex.MUTATIONS[name], res[name]
    points = {i.name: i.points for i in ex.GRADE_ITEMS}
    assert set(failed(r)) == set(m.breaks), failed(r)
    assert r['score'] == r['total'] - sum(points[i] for i in m.breaks)
    assert any(m.says in d for d in failed(r).values()), failed(r)


def test_misbehaving_code_gets_a_clear_verdict(graded):
    _, res, _ = graded
    assert res['prints and warns']['score'] == 26
    for case, words in [('float64 KL', 'dtype torch.float64')]:  # (a wrong device gets the same check; CPU-only here)
        f = failed(res[case])  # the pieces that return the learner's KL fail too, each saying why
        assert 'kl_divergence' in f and set(f) <= {'kl_divergence', 'compute_elbo', 'vae_loss'}, f
        assert all(words in d for d in f.values()), f
    loop = failed(res['infinite loop in decode'])
    assert 'took more than' in loop['decode'] and set(loop) <= {'decode', 'forward'}
    kl_loop = failed(res['infinite loop in kl_divergence'])
    assert 'took more than' in kl_loop['kl_divergence'], kl_loop
    assert set(kl_loop) <= {'kl_divergence', 'compute_elbo', 'vae_loss'}, kl_loop
    crash = failed(res['crash in beta_schedule'])
    assert set(crash) == {'beta_schedule'} and 'died' in crash['beta_schedule']
    stdin = failed(res['reads stdin in encode'])
    assert 'encode' in stdin and set(stdin) <= {'encode', 'forward'} and 'EOFError' in stdin['encode']
    syntax = failed(res['syntax error'])
    assert len(syntax) == len(ex.GRADE_ITEMS) and all('SyntaxError' in d for d in syntax.values())




def test_assignment_layout_and_refusal(graded, tmp_path):
    out, _, _ = graded
    for rel in ['student/vae.py', 'tests/test_vae.py', 'README.md', '.github/workflows/grade.yml']:
        assert (out / 'skeleton' / rel).is_file(), rel
    wf = (out / 'skeleton/.github/workflows/grade.yml').read_text()
    assert 'pytest -q tests' in wf and 'vae_nbdev_grade .' in wf
    readme = (out / 'skeleton/README.md').read_text()
    assert all(f'`{n}' in readme for n in ['VAE.encode', 'kl_divergence', 'compute_elbo', 'beta_schedule', 'build_model'])
    before = {p: p.read_bytes() for p in (out / 'skeleton').rglob('*') if p.is_file()}
    with pytest.raises(SystemExit, match='not empty'): ex.assignment_main([str(out / 'skeleton'), '--solution'])
    assert {p: p.read_bytes() for p in (out / 'skeleton').rglob('*') if p.is_file()} == before
    with pytest.raises(SystemExit, match='not empty'): ex.exercises_main([str(out / 'skeleton'), '--nbs', str(NBS)])
    assert {p: p.read_bytes() for p in (out / 'skeleton').rglob('*') if p.is_file()} == before


def test_console_scripts_are_registered():
    from importlib.metadata import entry_points
    eps = {e.name: e.value for e in entry_points(group='console_scripts')}
    for cmd, fn in [('vae_nbdev_exercises', 'exercises_main'), ('vae_nbdev_assignment', 'assignment_main'), ('vae_nbdev_grade', 'grade_main')]:
        assert eps.get(cmd) == f'vae_nbdev.exercises:{fn}', f"{cmd} is not installed: pip install -e ."


def test_grade_json_and_exit_status(graded, monkeypatch, capsys):
    "Exit status 0 only at full marks; --json prints the same result; the table ends with `score: N/M`."
    out, res, _ = graded
    for case, code in [('solution', None), ('KL wrong sign', 1), ('skeleton', 1)]:
        monkeypatch.setattr(ex, 'grade', lambda *a, **k: res[case])
        for flags in ([], ['--json']):
            if code is None: ex.grade_main([str(out / 'solution'), *flags])
            else:
                with pytest.raises(SystemExit) as e: ex.grade_main([str(out / 'solution'), *flags])
                assert e.value.code == code
            printed = capsys.readouterr().out
            if flags: assert json.loads(printed) == res[case]
            else: assert printed.strip().splitlines()[-1] == f"score: {res[case]['score']}/26"
    monkeypatch.undo()
    with pytest.raises(SystemExit, match='No learner code'): ex.grade_main([str(out / 'nowhere')])


# ---------------------------------------------------------------- (last: these wait for the background notebook runs)

def test_unsolved_notebooks_stop_at_a_stub(edition):
    out, made, unsolved, _ = edition
    for name, r in unsolved.result().items():
        assert not r['ok'], f"{name} passes unsolved"
        assert re.search(rf'NotImplementedError: ({"|".join(made[name])}): implement', r['err']), f"{name}:\n{r['err']}"


def test_solved_notebooks_pass(edition):
    out, made, _, solved = edition
    if not any(made.get(n) for n in RUN_SOLVED): pytest.skip("no exercise marked yet in " + ', '.join(RUN_SOLVED))
    for name, r in solved.result().items():
        assert r['ok'], f"{name} fails with its solutions restored:\n{r['err']}"


def test_local_tests_pass_on_the_solution(graded):
    out, _, local = graded
    log, _ = local.communicate(timeout=600)
    assert local.returncode == 0, log[-2000:]
