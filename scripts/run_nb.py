"""Execute notebooks in place, in a Jupyter kernel, so that their committed outputs match the code.

    python scripts/run_nb.py nbs/07_evaluate.ipynb            # every cell but the flagged (#| slow) ones
    python scripts/run_nb.py nbs/09_experiments.ipynb --slow  # the slow cells too (full MNIST needed)

Like `nbdev_test`, it skips cells flagged `#| slow` (unless asked) or `#| notest`, and cells that call
`nbdev_export(`; skipped cells keep the outputs they had. Each notebook runs in a fresh kernel with
its folder as working directory, as in JupyterLab, so progress bars and tables render as HTML for the
docs. The first error stops the run and leaves the file untouched. Then `nbdev_clean` tidies it.
"""
import argparse
import re
import subprocess
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

FLAG = re.compile(r'^#\|\s*(slow|notest)\s*$', re.M)


def skip(cell, run_slow:bool)->bool:
    "Whether to leave `cell` as it is: markdown, an export call, or a flagged cell we were not asked to run."
    if cell.cell_type != 'code' or 'nbdev_export(' in cell.source: return True
    flags = set(FLAG.findall(cell.source))
    return 'notest' in flags or ('slow' in flags and not run_slow)


def run(path:Path, run_slow:bool):
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(nb, timeout=None, kernel_name='python3', resources={'metadata': {'path': str(path.parent)}})
    t0 = time.perf_counter()
    with client.setup_kernel():
        for i, cell in enumerate(nb.cells):
            if skip(cell, run_slow): continue
            try: client.execute_cell(cell, i)
            except CellExecutionError as e: sys.exit(f"{path}: cell {i} failed, file left unchanged:\n{e}")
    nbformat.write(nb, path)
    subprocess.run(['nbdev_clean', '--fname', str(path)], check=True)
    print(f"{path}: ran in {time.perf_counter() - t0:.0f}s")


def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('notebooks', nargs='+', type=Path)
    p.add_argument('--slow', action='store_true', help='also run cells flagged #| slow')
    args = p.parse_args()
    for nb in args.notebooks: run(nb, args.slow)


if __name__ == '__main__': main()
