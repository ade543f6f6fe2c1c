"""Check the rendered docs site (`nbdev_docs` writes it to docs/) the way a reader would meet it.

    python scripts/check_docs.py docs                      # check the site
    python scripts/check_docs.py docs --log render.log     # ...and the captured nbdev_docs output
    python scripts/check_docs.py docs --strict             # the layout notes fail too (as .ci/run does)
    python scripts/check_docs.py                           # before rendering: only the notebook cells nbdev_docs would run

Fails (exit 1) on:
- a broken local link: a page, picture, script or stylesheet that is not there, or a `#fragment`
  that names no element of its page (links in `search.json` included, and nbdev's links to API
  entries, which are written with the published address from settings.ini; README.md's links
  into the published site too);
- a math span MathJax 3 cannot typeset (TeX errors, undefined macros), checked offline with the npm
  package `mathjax-full` under node (`scripts/check_math.mjs`; `npm ci --prefix scripts` installs it);
- an API entry (a heading whose section opens with a signature) documented twice on the site;
- a warning or error in the render log given with `--log`;
- a notebook cell that mixes an import with other code: nbdev's docs build executes such cells (training, tests)
  and warns; imports belong in cells of their own.

Reports, and fails only with `--strict`, what makes a page hard to read without breaking it: a display
equation wider than the text column, code lines that scroll sideways, raw Markdown links in
signatures, stripped type annotations (`:Union=`, `:NoneType=`) and `(*args, **kwargs)` signatures.
"""
import argparse
import json
import os
import re
import shutil
import subprocess
import sys
from collections import defaultdict
from configparser import ConfigParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

from bs4 import BeautifulSoup

HERE = Path(__file__).resolve().parent
# Width of the text column at a 1400 px window (cosmo theme, sidebar and "On this page" shown), and the
# size of MathJax's ex there: measured in headless Chromium on the rendered pages.
COLUMN_PX, EX_PX = 749, 8.98
CODE_CHARS = 82  # a code or output line longer than this scrolls sideways in the text column
_EXTERNAL = re.compile(r'^(?:[a-z][a-z0-9+.-]*:|//)', re.I)
_WARNING = re.compile(r'\bWARN(?:ING)?\b|\bERROR\b|Traceback|\w*Warning:')  # Quarto's, pandoc's, Python's


def pages(site:Path):
    "The HTML pages of the site (Quarto's own `site_libs` left out)."
    return sorted(p for p in site.rglob('*.html') if 'site_libs' not in p.parts)


def _soup(path:Path): return BeautifulSoup(path.read_text(encoding='utf-8'), 'html.parser')


def _ids(soup): return {t['id'] for t in soup.find_all(id=True)}


def site_url(root:Path=HERE.parent):
    "The address the site is published at (settings.ini's doc_host + doc_baseurl): nbdev writes its API links with it."
    cfg = ConfigParser(delimiters=['=']); cfg.read(root / 'settings.ini', encoding='utf-8')
    return (cfg['DEFAULT']['doc_host'] + cfg['DEFAULT']['doc_baseurl']).rstrip('/') + '/'


def check_links(site:Path, soups:dict, url_prefix:str=None):
    "Every local href/src (or link into the published site) names a file that exists, and every #fragment an element of that page."
    ids = {p: _ids(s) for p, s in soups.items()}
    def target_ok(page:Path, url:str):
        if url and url_prefix and url.startswith(url_prefix): page, url = site / 'index.html', url[len(url_prefix):] or 'index.html'
        if not url or _EXTERNAL.match(url): return None
        parts = urlsplit(url)
        path = page if not parts.path else (page.parent / unquote(parts.path)).resolve()
        if path.is_dir(): path = path / 'index.html'
        if not path.exists(): return f'missing file {os.path.relpath(path, site)}'
        frag = unquote(parts.fragment)
        if frag and path.suffix == '.html':
            if path not in ids: ids[path] = _ids(_soup(path))
            if frag not in ids[path]: return f'no anchor #{frag} in {os.path.relpath(path, site)}'
        return None
    problems = []
    for page, soup in soups.items():
        for tag in soup.find_all(['a', 'img', 'link', 'script', 'iframe', 'source']):
            for attr in ('href', 'src'):
                if (err := target_ok(page, tag.get(attr))): problems.append((page, f'{tag.name} {attr}="{tag.get(attr)}": {err}'))
    search = site / 'search.json'
    if search.exists():
        for entry in json.loads(search.read_text(encoding='utf-8')):
            href = entry.get('href', '')
            if (err := target_ok(site / 'index.html', href)): problems.append((search, f'search entry {href}: {err}'))
    return problems


def check_readme(site:Path, readme:Path, url_prefix:str):
    "README.md's links into the published site (written by scripts/sync_readme.py) name pages and anchors that exist."
    problems, ids = [], {}
    for url in re.findall(r'\]\((' + re.escape(url_prefix) + r'[^)\s]*)\)', readme.read_text(encoding='utf-8')):
        parts = urlsplit(url[len(url_prefix):])
        path = site / (unquote(parts.path) or 'index.html')
        if not path.exists(): problems.append((readme, f'{url}: no page {path.name} in the site')); continue
        if parts.fragment and parts.fragment not in ids.setdefault(path, _ids(_soup(path))):
            problems.append((readme, f'{url}: no anchor #{parts.fragment}'))
    return problems


def exec_cells(nbs:Path):
    """Cells that nbdev's docs build executes although they are not exports: any cell with an import statement in it
    (nbdev's `exec_show_docs` runs them to make `show_doc` work). With other code beside the import, the docs build runs
    that code too (training, tests): it is slow, may fail there, and nbdev warns. Keep imports in cells of their own."""
    import ast
    problems = []
    for nb in sorted(nbs.rglob('*.ipynb')):
        if any(part.startswith(('_', '.')) for part in nb.relative_to(nbs).parts): continue
        for i, cell in enumerate(json.loads(nb.read_text(encoding='utf-8'))['cells']):
            src = ''.join(cell['source'])
            if cell['cell_type'] != 'code' or 'nbdev_export()' in src: continue
            directives = [l.strip()[2:].strip() for l in src.splitlines() if l.strip().startswith('#|')]
            if any(d.split(':')[0].split()[0] in ('export', 'exporti', 'exports', 'exec_doc') for d in directives if d): continue
            if any(re.fullmatch(r'eval:\s*false', d, re.I) for d in directives): continue
            try: tree = ast.parse('\n'.join(l for l in src.splitlines() if not l.lstrip().startswith(('%', '!'))))
            except SyntaxError: continue
            nodes = list(ast.walk(tree))
            if any(isinstance(n, (ast.Import, ast.ImportFrom)) for n in nodes) and any(isinstance(n, (ast.Expr, ast.Assign)) for n in nodes):
                first = next((l for l in src.splitlines() if not l.startswith('#|')), '')
                problems.append((nb, f'cell {i} mixes an import with other code, so nbdev_docs executes all of it: '
                                     f'move the import into a cell of its own ({first[:60]!r})'))
    return problems


def math_spans(soups:dict):
    "(page, tex, display) for every math span Quarto wrote: span.math.inline `\\(..\\)` / span.math.display `\\[..\\]`."
    out = []
    for page, soup in soups.items():
        for span in soup.select('span.math'):
            text, display = span.get_text(), 'display' in span['class']
            m = re.fullmatch(r'\s*\\[\(\[](.*)\\[\)\]]\s*', text, re.S)
            out.append((page, m.group(1) if m else text, display))
    return out


def typeset(spans):
    "MathJax 3's verdict on each span: run scripts/check_math.mjs under node once for all of them."
    node = shutil.which('node')
    if node is None: sys.exit('check_docs: node is not on PATH; it is needed to check the math with MathJax.')
    if not (HERE / 'node_modules' / 'mathjax-full').exists():
        sys.exit('check_docs: mathjax-full is not installed: run `npm ci --prefix scripts` first.')
    res = subprocess.run([node, str(HERE / 'check_math.mjs')], input=json.dumps([{'tex': t, 'display': d} for _, t, d in spans]),
                         capture_output=True, text=True, check=True)
    return json.loads(res.stdout)


def _heading_text(h): return h.get_text(' ', strip=True)


def api_entries(soups:dict):
    "(page, name, section) for each documented API entry: a section whose heading is followed by a signature."
    out = []
    for page, soup in soups.items():
        for sec in soup.find_all('section', class_=re.compile(r'^level[2-4]$')):
            h = sec.find(re.compile(r'^h[2-4]$'))
            if h is None: continue
            nxt = h.find_next_sibling()
            if nxt is None: continue
            code = nxt.get_text() if (nxt.name == 'div' and 'sourceCode' in nxt.get('class', []) and 'cell-code' not in nxt.get('class', [])) or nxt.name == 'blockquote' else ''
            if re.match(r'\s*(?:async\s+)?(?:def|class)\b|\s*[\w.]+\s*\(', code): out.append((page, _heading_text(h), sec, nxt))
    return out


def check_duplicates(entries):
    seen = defaultdict(list)
    for page, name, sec, _ in entries: seen[name].append((page, sec.get('id')))
    return [(where[1][0], f'{name} is documented {len(where)} times: ' + ', '.join(f'{p.name}#{i}' for p, i in where))
            for name, where in seen.items() if len(where) > 1]


def signature_notes(entries):
    notes = []
    for page, name, _, sig in entries:
        text = sig.get_text()
        if re.search(r'\]\([^)]*\)', text): notes.append((page, f'{name}: raw Markdown link in the signature'))
        for bad in re.findall(r':\s*(Union|Optional|NoneType)\s*=', text): notes.append((page, f'{name}: stripped type annotation `:{bad}=`'))
        if re.search(r'\(\s*\*args\s*,\s*\*\*kwargs\s*\)', text): notes.append((page, f'{name}: signature is (*args, **kwargs)'))
    return notes


def wide_code(soups:dict):
    "Code lines longer than CODE_CHARS: they scroll sideways (outputs and signatures wrap instead: styles.css)."
    def wraps(pre):
        div = pre.parent
        prev = div.find_previous_sibling() if div.name == 'div' else None
        return pre.find_parent(class_=re.compile(r'^cell-output')) is not None or (prev is not None and re.fullmatch(r'h[2-4]', prev.name or ''))
    notes = []
    for page, soup in soups.items():
        lines = [(len(l), l) for pre in soup.find_all('pre') if not wraps(pre) for l in pre.get_text().splitlines()]
        wide = sorted((n, l) for n, l in lines if n > CODE_CHARS)
        if wide:
            n, l = wide[-1]
            notes.append((page, f'{len(wide)} code lines longer than {CODE_CHARS} characters; longest {n}: {l[:70]}...'))
    return notes


def check_log(log:Path):
    ansi = re.compile(r'\x1b\[[0-9;]*m')
    lines = [ansi.sub('', l) for l in log.read_text(encoding='utf-8', errors='replace').splitlines()]
    return [(log, l.strip()) for l in lines if _WARNING.search(l)]


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('site', type=Path, nargs='?', help='the rendered site (docs/); without it, only the notebooks are checked (--nbs)')
    p.add_argument('--log', type=Path, help='captured output of nbdev_docs: any warning or error fails')
    p.add_argument('--strict', action='store_true', help='layout notes (wide equations, wide code, signatures) fail too')
    p.add_argument('--site-url', default=site_url(), help="links starting with it are checked as local (default: settings.ini's)")
    p.add_argument('--readme', type=Path, default=HERE.parent / 'README.md', help="whose links into the site to check (default: the repo's)")
    p.add_argument('--nbs', type=Path, default=HERE.parent / 'nbs', help='notebooks to check for cells the docs build would execute')
    p.add_argument('--json', type=Path, help='also write every finding to this JSON file')
    a = p.parse_args(argv)
    if a.site is None:  # before rendering: only the cells nbdev_docs would execute
        problems = exec_cells(a.nbs)
        for nb, msg in problems: print(f'FAIL docs-exec   {nb}: {msg}')
        print(f'check_docs: notebooks in {a.nbs}: {len(problems)} cell(s) the docs build would execute')
        return 1 if problems else 0
    site = a.site.resolve()
    if not (site / 'index.html').exists(): sys.exit(f'check_docs: {a.site} has no index.html: render it first with nbdev_docs')
    soups = {pg: _soup(pg) for pg in pages(site)}

    failures = [('link', *x) for x in check_links(site, soups, a.site_url)]
    if a.readme.exists(): failures += [('readme', *x) for x in check_readme(site, a.readme, a.site_url)]
    if a.nbs and a.nbs.exists(): failures += [('docs-exec', *x) for x in exec_cells(a.nbs)]
    spans = math_spans(soups)
    verdicts = typeset(spans)
    notes = []
    for (page, tex, display), v in zip(spans, verdicts):
        short = ' '.join(tex.split())
        if v['error']: failures.append(('math', page, f"MathJax: {v['error']}: {short[:160]}"))
        elif display and v['width_ex'] and v['width_ex'] * EX_PX > COLUMN_PX:
            notes.append(('wide-math', page, f"display equation ~{v['width_ex'] * EX_PX:.0f} px wide (column ~{COLUMN_PX} px): {short[:100]}"))
    entries = api_entries(soups)
    failures += [('duplicate', *x) for x in check_duplicates(entries)]
    if a.log: failures += [('render-log', *x) for x in check_log(a.log)]
    notes += [('signature', *x) for x in signature_notes(entries)] + [('wide-code', *x) for x in wide_code(soups)]

    rel = lambda pth: os.path.relpath(pth, site) if str(pth).startswith(str(site)) else str(pth)
    for kind, page, msg in failures: print(f'FAIL {kind:10} {rel(page)}: {msg}')
    for kind, page, msg in notes: print(f'{"FAIL" if a.strict else "note"} {kind:10} {rel(page)}: {msg}')
    if a.json: a.json.write_text(json.dumps([{'kind': k, 'page': rel(pg), 'message': m, 'fails': True} for k, pg, m in failures]
                                          + [{'kind': k, 'page': rel(pg), 'message': m, 'fails': a.strict} for k, pg, m in notes], indent=1))
    n_fail = len(failures) + (len(notes) if a.strict else 0)
    print(f'check_docs: {len(soups)} pages, {len(spans)} math spans, {len(entries)} API entries: '
          f'{n_fail} failure(s), {len(notes)} layout note(s)')
    return 1 if n_fail else 0


if __name__ == '__main__': sys.exit(main())
