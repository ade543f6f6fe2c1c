"""Execute notebooks in place so that their committed outputs match the code, the way `nbdev_test` runs them.

    python scripts/run_nb.py nbs/07_evaluate.ipynb            # every cell but the flagged (#| slow) ones
    python scripts/run_nb.py nbs/09_experiments.ipynb --slow  # the slow cells too (full MNIST needed)

Cells that are skipped keep the outputs they had; `nbdev_export(` cells are skipped, as `nbdev_test`
skips them. Cells run with the notebook's folder as working directory and stop at the first error,
leaving the file untouched. Run `nbdev_clean` afterwards (the script does it for the files it wrote).
"""
import argparse
import os
import re
import subprocess
import sys
import time
from pathlib import Path

from execnb.nbio import read_nb, write_nb
from execnb.shell import CaptureShell

FLAG = re.compile(r'^#\|\s*(slow|notest)\s*$', re.M)


def skip(cell, run_slow):
    "Whether to leave `cell` as it is: markdown, an export call, or a flagged cell we were not asked to run."
    if cell.cell_type != 'code' or 'nbdev_export(' in cell.source: return True
    flags = set(FLAG.findall(cell.source))
    return 'notest' in flags or ('slow' in flags and not run_slow)


def run(path:Path, run_slow:bool):
    nb = read_nb(path)
    os.chdir(path.parent)
    shell = CaptureShell(path.parent.resolve(), mpl_format='png')
    t0 = time.perf_counter()
    for i, cell in enumerate(nb.cells):
        if skip(cell, run_slow): continue
        shell.cell(cell)
        if shell.exc: sys.exit(f"{path}: cell {i} failed, file left unchanged:\n{shell.prettytb(str(path))}")
    write_nb(nb, path.name)
    print(f"{path}: ran in {time.perf_counter() - t0:.0f}s")


def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('notebooks', nargs='+', type=Path)
    p.add_argument('--slow', action='store_true', help='also run cells flagged #| slow')
    p.add_argument('--one', action='store_true', help=argparse.SUPPRESS)  # run in this process (one notebook)
    args = p.parse_args()
    if args.one: return run(args.notebooks[0], args.slow)
    for nb in args.notebooks:  # each in a fresh interpreter, as a kernel would be
        cmd = [sys.executable, __file__, '--one', str(nb)] + (['--slow'] if args.slow else [])
        if subprocess.run(cmd).returncode: sys.exit(1)
        subprocess.run(['nbdev_clean', '--fname', str(nb)], check=True)


if __name__ == '__main__': main()
