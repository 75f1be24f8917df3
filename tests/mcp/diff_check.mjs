// diff_check.mjs — cross-checks src/mcp/diff.c against the reference MCP
// filesystem server: random cases go through the reference's
// createUnifiedDiff (jsdiff createTwoFilesPatch) and applyFileEdits (on a
// temp file) and through tests/tools/mcp_difftool.c; any difference is a
// mismatch.
//
//   node tests/mcp/diff_check.mjs BIN N [SEED]
//
// BIN is the compiled mcp_difftool; MCP_REF_DIR overrides where lib.js is
// (default /tmp/mcpref/node_modules/@modelcontextprotocol/server-filesystem/dist/lib.js).
// MCP_DIFF_CHECK_LINES sets the size of the long cases. Exits 1 when a case differs and prints the first few.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const [bin, countArg, seedArg] = process.argv.slice(2);
if (!bin || !countArg) {
    console.error('usage: node diff_check.mjs BIN N [SEED]');
    process.exit(2);
}
const count = Number(countArg);
// the longest of the long cases (7% of them): MCP_DIFF_CHECK_LINES, default 300
const bigLines = Number(process.env.MCP_DIFF_CHECK_LINES || 300);
const refPath = process.env.MCP_REF_DIR ||
    '/tmp/mcpref/node_modules/@modelcontextprotocol/server-filesystem/dist/lib.js';
const lib = await import(refPath);

let seed = (seedArg ? Number(seedArg) : Date.now()) >>> 0;
const seed0 = seed;
function rand() { // mulberry32
    seed = (seed + 0x6D2B79F5) >>> 0;
    let t = seed;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
}
const ri = (n) => Math.floor(rand() * n);
const pick = (a) => a[ri(a.length)];

const SPACES = [' ', '  ', '    ', '\t', '\u00a0', '\u3000', '\u2003', '\ufeff', ' \t', '\u2028', '\v'];
const WORDS = ['a', 'b', 'c', 'd', 'foo', 'bar()', '}', '{', 'x y', 'é', '日本', '😀', '`', '```',
    '````x', 'a\r', '\u0085z', '\u180ey', 'return 1;'];

function randLine(alpha) {
    const r = rand();
    if (r < 0.08) return '';
    if (r < 0.15) return pick(SPACES);
    let s = rand() < 0.4 ? pick(SPACES) : '';
    s += pick(alpha);
    if (rand() < 0.2) s += ' ' + pick(alpha);
    if (rand() < 0.1) s += pick(SPACES);
    return s;
}

function joinLines(lines) {
    let s = '';
    const crlf = rand() < 0.25;
    for (let i = 0; i < lines.length; i++) {
        s += lines[i];
        if (i < lines.length - 1 || rand() < 0.5) {
            const r = rand();
            s += crlf && r < 0.7 ? '\r\n' : r < 0.03 ? '\r\r\n' : '\n';
        }
    }
    return s;
}

function randLines(n, alpha) {
    const out = [];
    for (let i = 0; i < n; i++) out.push(randLine(alpha));
    return out;
}

function mutate(lines, alpha) {
    const out = lines.slice();
    const nops = ri(6);
    for (let k = 0; k < nops; k++) {
        const at = ri(out.length + 1);
        const r = rand();
        if (r < 0.35) out.splice(at, 0, ...randLines(1 + ri(4), alpha));
        else if (r < 0.7) out.splice(at, 1 + ri(4));
        else out.splice(at, 1 + ri(3), ...randLines(1 + ri(3), alpha));
    }
    return out;
}

function sizes() {
    const r = rand();
    return r < 0.1 ? 0 : r < 0.7 ? ri(12) : r < 0.93 ? ri(40) : 40 + ri(bigLines);
}

function diffCase() {
    const alpha = WORDS.slice(0, 2 + ri(WORDS.length - 2));
    const a = randLines(sizes(), rand() < 0.5 ? alpha.slice(0, 3) : alpha);
    const b = rand() < 0.75 ? mutate(a, alpha) : randLines(sizes(), alpha);
    return { mode: 'diff', name: pick(['f', 'dir/file.txt', '/tmp/x y.c', 'ünï']),
        a: joinLines(a), b: joinLines(b) };
}

function reindent(text) {
    return text.split('\n').map((l) => {
        const r = rand();
        const t = l.trim();
        if (r < 0.4) return pick(SPACES) + t + (rand() < 0.3 ? pick(SPACES) : '');
        if (r < 0.6) return t;
        return l;
    }).join('\n');
}

function editCase(file) {
    const alpha = WORDS.slice(0, 2 + ri(WORDS.length - 2));
    const lines = randLines(sizes(), alpha);
    const content = (rand() < 0.05 ? '\ufeff' : '') + joinLines(lines);
    const norm = content.replace(/\r\n/g, '\n');
    const nl = norm.split('\n');
    const edits = [];
    const nedits = ri(4);
    for (let k = 0; k < nedits; k++) {
        let oldText;
        const r = rand();
        const i = ri(nl.length), m = 1 + ri(4);
        const window = nl.slice(i, i + m).join('\n');
        if (r < 0.25) {
            const cps = Array.from(norm); // whole code points: no lone surrogates
            const s = ri(cps.length + 1);
            oldText = cps.slice(s, s + ri(20)).join('');
        } else if (r < 0.7) {
            oldText = reindent(window);
        } else if (r < 0.85) {
            oldText = window;
        } else if (r < 0.92) {
            oldText = joinLines(randLines(1 + ri(3), alpha));
        } else {
            oldText = reindent(window).replace(/\n/g, '\r\n');
        }
        let newText = reindent(joinLines(randLines(ri(5), alpha)));
        if (rand() < 0.2) newText = '';
        edits.push({ oldText, newText });
    }
    return { mode: 'edit', name: file, content, edits };
}

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mcp-diffcheck-'));
const file = path.join(dir, 'case.txt');
const cases = [];
const expected = [];
for (let n = 0; n < count; n++) {
    if (n % 2 === 0) {
        const c = diffCase();
        cases.push(c);
        expected.push({ diff: lib.createUnifiedDiff(c.a, c.b, c.name) });
    } else {
        const c = editCase(file);
        cases.push(c);
        fs.writeFileSync(file, c.content, 'utf-8');
        try {
            const text = await lib.applyFileEdits(file, c.edits, false);
            expected.push({ ok: true, text, out: fs.readFileSync(file, 'utf-8') });
        } catch (e) {
            expected.push({ ok: false, error: e.message });
        }
    }
}
fs.rmSync(dir, { recursive: true, force: true });

const run = spawnSync(bin, [], {
    input: cases.map((c) => JSON.stringify(c)).join('\n') + '\n',
    maxBuffer: 1 << 30,
    encoding: 'utf-8',
});
if (run.error || run.status !== 0 && !run.stdout) {
    console.error('driver failed:', run.error || run.stderr);
    process.exit(2);
}
const got = run.stdout.split('\n').filter((l) => l.length > 0).map((l) => JSON.parse(l));
let bad = 0;
for (let n = 0; n < count; n++) {
    const canon = (o) => JSON.stringify(o, o ? Object.keys(o).sort() : undefined);
    const want = canon(expected[n]);
    const have = canon(got[n] ?? null);
    if (want !== have) {
        if (bad < 5) {
            console.log(`MISMATCH case ${n}: ${JSON.stringify(cases[n])}`);
            console.log(`  reference: ${want}`);
            console.log(`  custody:   ${have}`);
        }
        bad++;
    }
}
const edited = expected.filter((e) => e.ok === true).length;
const refused = expected.filter((e) => e.ok === false).length;
console.log(`seed ${seed0}: ${count - bad}/${count} cases match` + (bad ? `, ${bad} mismatches` : '') +
    ` (${count - edited - refused} diffs, ${edited} edits applied, ${refused} edits refused)`);
process.exit(bad ? 1 : 0);
