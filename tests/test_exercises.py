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
RUN_SOLVED = ('03_schedule.ipynb', '04_config.ipynb')


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


def run_nbs(paths:list)->dict:
    "nbdev_test's verdict on each notebook: {name: {'ok', 'secs', 'err'}}."
    r = subprocess.run([sys.executable, '-c', RUNNER, *map(str, paths)], capture_output=True, text=True,
                       env={**os.environ, 'OMP_NUM_THREADS': '1'}, timeout=900)
    res = {d['nb']: d for d in map(json.loads, r.stdout.splitlines())}
    assert len(res) == len(paths), r.stderr[-3000:]
    return res


@pytest.fixture(scope='module')
def edition(tmp_path_factory):
    "The exercise edition (unsolved) and its solved twin, beside a link to the repository's bench/ (07 reads its results)."
    out = tmp_path_factory.mktemp('exercises')
    made = ex.write_exercises(out / 'unsolved', nbs=NBS)
    (out / 'solved').mkdir()
    for name in made:
        ex._write_nb(ex.restore_solutions(load(out / 'unsolved' / name), load(NBS / name)), out / 'solved' / name)
    (out / 'bench').symlink_to(ROOT / 'bench')
    return out, made


def test_edition_has_every_notebook_and_stubs(edition):
    out, made = edition
    assert sorted(made) == [p.name for p in COURSE]
    for name, names in made.items():
        text = (out / 'unsolved' / name).read_text(encoding='utf-8')
        for n in names: assert f'raise NotImplementedError(\\"{n}: implement ' in text
        assert 'nbdev_export(' not in text


def test_restored_edition_is_the_course(edition):
    "Cell for cell the course notebook (less its export call), which nbdev_test runs."
    out, made = edition
    for name in made:
        course = [c['source'] for c in load(NBS / name)['cells'] if not ex._is_export_call(c)]
        assert [c['source'] for c in load(out / 'solved' / name)['cells']] == course, name


def test_unsolved_notebooks_stop_at_a_stub(edition):
    out, made = edition
    todo = [n for n, names in made.items() if names]
    for name, r in run_nbs([out / 'unsolved' / n for n in todo]).items():
        assert not r['ok'], f"{name} passes unsolved"
        assert re.search(rf'NotImplementedError: ({"|".join(made[name])}): implement', r['err']), f"{name}:\n{r['err']}"


def test_solved_notebooks_pass(edition):
    out, made = edition
    todo = [n for n in RUN_SOLVED if made.get(n)]
    if not todo: pytest.skip("no exercise marked yet in " + ', '.join(RUN_SOLVED))
    for name, r in run_nbs([out / 'solved' / n for n in todo]).items():
        assert r['ok'], f"{name} fails with its solutions restored:\n{r['err']}"


# ---------------------------------------------------------------- the assignment repository and the grader

BAD = {  # learner code that misbehaves beyond a wrong formula
    'prints and warns': ('return 0.5 * (mu.pow(2)', 'print("kl!"); import warnings; warnings.warn("hm")\n    return 0.5 * (mu.pow(2)'),
    'float64 KL': ('- logvar - 1).sum(dim=1).mean()', '- logvar - 1).sum(dim=1).mean().double()'),
    'infinite loop in decode': ('return self.dec(z)', 'while True: pass'),
    'crash in beta_schedule': ('if step >= warmup_steps: return float(beta_max)', 'import os; os._exit(3)'),
}


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
    files['syntax error'] = out / 'syntax.py'
    results = ex.grade_many(list(files.values()), timeout=5)
    return out, dict(zip(files, results))


def failed(res): return {i['item']: i['diagnosis'] for i in res['items'] if not i['passed']}


def test_solution_gets_full_marks_and_skeleton_zero(graded):
    _, res = graded
    assert res['solution']['score'] == res['solution']['total'] == 26, failed(res['solution'])
    assert res['skeleton']['score'] == 0
    assert all(d.startswith('NotImplementedError') for d in failed(res['skeleton']).values())
    assert len(failed(res['skeleton'])) == len(ex.GRADE_ITEMS)


@pytest.mark.parametrize('name', list(ex.MUTATIONS))
def test_each_mistake_loses_its_items_with_its_diagnosis(graded, name):
    _, res = graded
    m, r = ex.MUTATIONS[name], res[name]
    points = {i.name: i.points for i in ex.GRADE_ITEMS}
    assert set(failed(r)) == set(m.breaks), failed(r)
    assert r['score'] == r['total'] - sum(points[i] for i in m.breaks)
    assert any(m.says in d for d in failed(r).values()), failed(r)


def test_misbehaving_code_gets_a_clear_verdict(graded):
    _, res = graded
    assert res['prints and warns']['score'] == 26
    for case, words in [('float64 KL', 'dtype torch.float64')]:  # (a wrong device gets the same check; CPU-only here)
        f = failed(res[case])  # the pieces that return the learner's KL fail too, each saying why
        assert 'kl_divergence' in f and set(f) <= {'kl_divergence', 'compute_elbo', 'vae_loss'}, f
        assert all(words in d for d in f.values()), f
    loop = failed(res['infinite loop in decode'])
    assert 'took more than' in loop['decode'] and set(loop) <= {'decode', 'forward'}
    crash = failed(res['crash in beta_schedule'])
    assert set(crash) == {'beta_schedule'} and 'died' in crash['beta_schedule']
    syntax = failed(res['syntax error'])
    assert len(syntax) == len(ex.GRADE_ITEMS) and all('SyntaxError' in d for d in syntax.values())


def test_local_tests_pass_on_the_solution(graded):
    out, _ = graded
    r = subprocess.run([sys.executable, '-m', 'pytest', '-q', '-p', 'no:cacheprovider', 'tests'], cwd=out / 'solution',
                       capture_output=True, text=True, env={**os.environ, 'OMP_NUM_THREADS': '1'})
    assert r.returncode == 0, r.stdout[-2000:]


def test_assignment_layout_and_refusal(graded, tmp_path):
    out, _ = graded
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


def test_grade_command_json_and_exit_status(graded, monkeypatch, capsys):
    out, res = graded
    r = subprocess.run(['vae_nbdev_grade', str(out / 'skeleton'), '--json'], capture_output=True, text=True,
                       env={**os.environ, 'OMP_NUM_THREADS': '1'})
    assert r.returncode == 1
    js = json.loads(r.stdout)
    assert (js['score'], js['total']) == (0, 26) and len(js['items']) == len(ex.GRADE_ITEMS)
    monkeypatch.setattr(ex, 'grade', lambda *a, **k: res['solution'])
    ex.grade_main([str(out / 'solution')])  # full marks: no SystemExit
    assert capsys.readouterr().out.strip().splitlines()[-1] == 'score: 26/26'
    monkeypatch.setattr(ex, 'grade', lambda *a, **k: res['KL wrong sign'])
    with pytest.raises(SystemExit) as e: ex.grade_main([str(out / 'solution')])
    assert e.value.code == 1 and capsys.readouterr().out.strip().splitlines()[-1] == 'score: 23/26'
