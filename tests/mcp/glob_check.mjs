// glob_check.mjs — cross-checks custody's minimatch port (src/mcp/glob.c)
// against the real minimatch on random (pattern, path) pairs.
//
//   node tests/mcp/glob_check.mjs DRIVER N [SEED]
//
// DRIVER is tests/tools/mcp_globtool.c built by hand (see its header):
// it reads "pattern\tpath" lines and answers 1, 0 or "E message" (where
// minimatch throws; the message must be minimatch's too).
// minimatch is imported from $MINIMATCH, else the first of the usual
// install places that exists. Exits 1 when any answer differs.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { pathToFileURL } from 'node:url';

const [driver, nArg, seedArg] = process.argv.slice(2);
if (!driver || !nArg) {
  console.error('usage: node glob_check.mjs DRIVER N [SEED]');
  process.exit(2);
}
const N = Number(nArg);
let seed = seedArg !== undefined ? Number(seedArg) >>> 0 : (Date.now() >>> 0);

const candidates = [
  process.env.MINIMATCH,
  '/tmp/mcpref/node_modules/minimatch/dist/esm/index.js',
  new URL('./node_modules/minimatch/dist/esm/index.js', import.meta.url).pathname,
  '/tmp/mcpref/node_modules/minimatch/dist/commonjs/index.js',
].filter(Boolean);
const mmPath = candidates.find(p => existsSync(p));
if (!mmPath) {
  console.error('minimatch not found; set MINIMATCH');
  process.exit(2);
}
const mm = await import(pathToFileURL(mmPath).href);
const minimatch = mm.minimatch ?? mm.default?.minimatch ?? mm.default;

// mulberry32
function rng() {
  seed = (seed + 0x6d2b79f5) >>> 0;
  let t = seed;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
}
const pick = a => a[Math.floor(rng() * a.length)];
const int = n => Math.floor(rng() * n);

const patTokens = [
  'a', 'b', 'c', 'ab', '.', '.', '/', '/', '/', '*', '*', '**', '**', '?', '?',
  '[', ']', '[a-c]', '[!a]', '[^b]', '[]', '[!]', '[a-]', '[z-a]', '[\\]]', '[.]',
  '[[:alpha:]]', '[[:digit:]]', '[[:space:]]', '[[:graph:]]', '[[:ascii:]]', '[[:punct:]]',
  '[[:xdigit:]]', '[[:word:]]', '[[:alnum:]]', '[[:upper:]]', '[[:lower:]]', '[[:blank:]]',
  '[[:cntrl:]]', '[[:print:]]', '[[:bogus:]]', '[a-[:alpha:]]',
  '{', '}', ',', '{a,b}', '{,a}', '{a,}', '{a}', '{}', '{1..3}', '{3..1}', '{01..3}',
  '{a..c}', '{c..a..2}', '{-1..1}', '{a,{b,c}}', '{{a,b}}', '${a,b}', '{a},b}',
  '!', '!', '#', '\\', '\\', '\\*', '\\?', '\\[', '\\{', '\\,', '\\.', '\\\\', '\\!', '\\-',
  '\\|', '\\ ',
  '(', ')', '|', '+(', '*(', '?(', '@(', '!(', '+(a|b)', '*(a|b)', '?(a|.)', '@(a|*)',
  '!(a|b)', '!(*.a)', '!()', '@()', '*()', '+(|a)', '!(!(a))', '@(!(a))', '+(?(a))',
  '*(+(a))', '?(*(a))', '!(@(a|b))', '+(a|*(b))',
  '-', '$', '^', ' ', '..', '...', 'é', '😀', '\r', '\u2028', 'x',
];
const segTokens = [
  'a', 'b', 'c', 'ab', 'abc', 'ba', '.', '..', '.a', 'a.', 'a.b', '', '', 'é', '😀', 'É',
  '(', ')', '*', '?', '[', ']', '{a}', '{', '}', ',', '\\', '\\a', '|', '-', '!', '#', '$',
  ' ', '1', '2', '01', 'a b', '.ab', 'x', 'aa', 'bb', 'A', '_', '\r', '\u2028', '@()', '*()',
  'a}', 'b}', '!a', '(a)',
];

// token soup: every odd corner, few matches
function genSoup() {
  let s = '';
  const n = 1 + int(9);
  for (let i = 0; i < n; i++) s += pick(patTokens);
  return s;
}

// structured: realistic portions, '**' and depth, many matches
const segParts = [
  'a', 'b', 'ab', '*', '*', '?', '.', '.*', '*.js', '*.*', '??', 'a*', '*b', '[ab]', '[!a]',
  '{a,b}', '{a,.b}', '+(a|b)', '*(a)', '?(a|b)', '@(a|b)', '!(a)', '!(*.js)', 'a.js',
  '[[:alpha:]]', '\\*', '{1..2}', 'x',
];
function genStructured() {
  const segs = [];
  const n = 1 + int(5);
  for (let i = 0; i < n; i++) {
    if (rng() < 0.25) {
      segs.push('**');
      continue;
    }
    let seg = '';
    const m = 1 + int(2);
    for (let k = 0; k < m; k++) seg += pick(segParts);
    segs.push(seg);
  }
  let p = segs.join(rng() < 0.05 ? '//' : '/');
  if (rng() < 0.07) p = '!' + p;
  if (rng() < 0.07) p += '/';
  if (rng() < 0.03) p = '/' + p;
  if (rng() < 0.05) p = p.replace('/', '/../');
  return p;
}
const pathSegs = ['a', 'b', 'ab', 'ba', '.a', '.b', 'a.js', 'b.js', '.js', '.', '..', 'x', '1', '2',
  'aa', 'abc', 'é', 'a.b', '*', '\\a'];
function genStructuredPath() {
  const n = 1 + int(7);
  const segs = [];
  for (let i = 0; i < n; i++) segs.push(pick(pathSegs));
  let p = segs.join('/');
  if (rng() < 0.08) p += '/';
  if (rng() < 0.03) p = '';
  return p;
}

function genPath() {
  const n = 1 + int(5);
  const segs = [];
  for (let i = 0; i < n; i++) {
    let seg = '';
    const m = int(3);
    for (let k = 0; k <= m; k++) seg += pick(segTokens);
    segs.push(seg);
  }
  let p = segs.join(rng() < 0.1 ? '//' : '/');
  if (rng() < 0.1) p += '/';
  if (rng() < 0.03) p = '';
  return p;
}

// a path shaped after the pattern, so that matches are common
function pathFromPattern(pat) {
  let p = pat.replace(/^!+/, '');
  p = p.replace(/\*\*/g, () => pick(['', 'a', 'a/b', '.a', 'x/y/z', '.']));
  p = p.replace(/[*?]/g, () => pick(['', 'a', 'b', 'ab', '.', 'é']));
  p = p.replace(/[\[\]{}()|@+!,\\]/g, () => (rng() < 0.6 ? '' : pick(['a', '.', ','])));
  p = p.replace(/^\/+/, '');
  return p;
}

const pairs = [];
for (let i = 0; i < N; i++) {
  if (i % 2) {
    const pat = genStructured();
    pairs.push([pat, rng() < 0.7 ? genStructuredPath() : pathFromPattern(pat)]);
  } else {
    const pat = genSoup();
    pairs.push([pat, rng() < 0.5 ? genPath() : pathFromPattern(pat)]);
  }
}

// an exception is compared with its message (custody reports the same text)
const expect = pairs.map(([pat, path]) => {
  try {
    return minimatch(path, pat, { dot: true }) ? '1' : '0';
  } catch (e) {
    return 'E ' + e.message;
  }
});

const input = pairs.map(([a, b]) => `${a}\t${b}\n`).join('');
const run = spawnSync(driver, ['-m'], { input, maxBuffer: 1 << 28 });
if (run.status !== 0) {
  console.error(`driver failed: status ${run.status} ${run.signal ?? ''}`);
  console.error(String(run.stderr).slice(0, 2000));
  process.exit(2);
}
const got = String(run.stdout).split('\n');
let bad = 0;
const counts = { 0: 0, 1: 0, E: 0 };
for (let i = 0; i < N; i++) {
  counts[expect[i][0]]++;
  if (got[i] !== expect[i]) {
    if (bad < 30)
      console.log(`MISMATCH pattern=${JSON.stringify(pairs[i][0])} path=${JSON.stringify(pairs[i][1])} minimatch=${expect[i]} custody=${got[i]}`);
    bad++;
  }
}
console.log(`seed ${seedArg ?? '(time)'}: ${N} pairs, minimatch said 1:${counts[1]} 0:${counts[0]} E:${counts.E}; ${bad} mismatches`);
process.exit(bad ? 1 : 0);
