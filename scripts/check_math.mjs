// Typeset TeX with MathJax 3 under node, offline, as the docs site's MathJax would.
//   node scripts/check_math.mjs < spans.json > results.json
// Input: a JSON list of {"tex": "...", "display": true|false}. Output: the same list in order,
// each with "error" (MathJax's message, or null) and "width_ex" (the typeset width, in ex).
// Undefined macros are errors here (the browser would draw them in red), so "noundefined" is off.
import {createRequire} from 'module';
const require = createRequire(import.meta.url);
const {mathjax} = require('mathjax-full/js/mathjax.js');
const {TeX} = require('mathjax-full/js/input/tex.js');
const {SVG} = require('mathjax-full/js/output/svg.js');
const {liteAdaptor} = require('mathjax-full/js/adaptors/liteAdaptor.js');
const {RegisterHTMLHandler} = require('mathjax-full/js/handlers/html.js');
const {AllPackages} = require('mathjax-full/js/input/tex/AllPackages.js');

const chunks = [];
for await (const chunk of process.stdin) chunks.push(chunk);
const spans = JSON.parse(Buffer.concat(chunks).toString('utf8'));

const adaptor = liteAdaptor();
RegisterHTMLHandler(adaptor);
let error = null;
const tex = new TeX({
  packages: AllPackages.filter(p => p !== 'noundefined'),
  formatError: (jax, err) => { error = err.message; return jax.formatError(err); },
});
const doc = mathjax.document('', {InputJax: tex, OutputJax: new SVG({fontCache: 'none'})});

const out = spans.map(({tex: src, display}) => {
  error = null;
  let width = null;
  try {
    const node = doc.convert(src, {display: !!display, em: 16, ex: 8, containerWidth: 1000});
    const svg = adaptor.firstChild(node);
    const w = svg && adaptor.getAttribute(svg, 'width');
    if (w && w.endsWith('ex')) width = parseFloat(w);
    if (!error && adaptor.outerHTML(node).includes('data-mjx-error')) error = 'MathJax error node';
  } catch (e) { error = String(e && e.message || e); }
  return {tex: src, display: !!display, error, width_ex: width};
});
process.stdout.write(JSON.stringify(out));
