#!/usr/bin/env node
// bench/mcp.mjs — MCP tool calls per second and latency, custody mcp against
// the reference filesystem server (@modelcontextprotocol/server-filesystem),
// both driven by the official SDK client (tests/mcp/node_modules) in the same
// run: one client per server, closed loop (the next call is sent when the
// answer to the last one has come), the same calls on the same files.
// bench/mcp.sh makes the data and the custody state and runs this; by hand:
//
//   node bench/mcp.mjs --dir DATA [--calls N] [--seconds S] [--bar X]
//        --reference CMD ARGS... --custody CMD ARGS...
//
// DATA (bench/mcp.sh makes it): small/f000.txt ... small/f099.txt (4 KiB
// each), tree/d0..d9 with 10 .md and 10 .txt files each, w/ (empty).
// Per tool: WARMUP calls on each server, then N calls (default 2000) or S
// seconds, reference first, then custody. Prints calls/s, p50 and p99, and
// custody/reference against the bar (default 5x). Exits 1 if a server cannot
// be started or a call fails (isError, protocol error): figures with errors
// are not figures. A ratio under the bar is reported, not an error.
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
const sdk = path.join(here, "..", "tests", "mcp", "node_modules", "@modelcontextprotocol", "sdk", "dist", "esm");
const load = (p) => import(pathToFileURL(path.join(sdk, p)).href);
let Client;
let StdioClientTransport;
try {
  ({ Client } = await load("client/index.js"));
  ({ StdioClientTransport } = await load("client/stdio.js"));
} catch (e) {
  console.error(`bench/mcp.mjs: the MCP SDK is missing (${e.message}): run scripts/install-deps.sh (make deps)`);
  process.exit(1);
}

const WARMUP = 100;
const SMALL = 100; // files in small/
const CONTENT = "w".repeat(4095) + "\n"; // 4 KiB written per write_file

// The calls: i is the call's number, so consecutive calls rotate over files.
const TOOLS = [
  { name: "read_text_file", label: "read_text_file (4 KiB)", args: (d, i) => ({ path: `${d}/small/f${pad(i % SMALL)}.txt` }) },
  { name: "write_file", label: "write_file (4 KiB, overwrite)", args: (d, i) => ({ path: `${d}/w/w${pad(i % SMALL)}.txt`, content: CONTENT }) },
  { name: "list_directory", label: "list_directory (100 entries)", args: (d) => ({ path: `${d}/small` }) },
  { name: "search_files", label: "search_files (**/*.md, 210 entries)", args: (d) => ({ path: `${d}/tree`, pattern: "**/*.md" }) },
];

function pad(n) {
  return String(n).padStart(3, "0");
}

function parseArgs(argv) {
  const o = { calls: 2000, seconds: 0, bar: 5, only: null, reference: null, custody: null, dir: null };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === "--reference" || a === "--custody") {
      const end = argv.indexOf(a === "--reference" ? "--custody" : "--reference", i + 1);
      const stop = end < 0 ? argv.length : end;
      o[a.slice(2)] = argv.slice(i + 1, stop);
      i = stop - 1;
    } else if (a === "--dir") o.dir = argv[++i];
    else if (a === "--calls") o.calls = Number(argv[++i]);
    else if (a === "--seconds") o.seconds = Number(argv[++i]);
    else if (a === "--bar") o.bar = Number(argv[++i]);
    else if (a === "--only") o.only = new RegExp(argv[++i]);
    else usage(`unknown argument ${a}`);
  }
  if (!o.dir || !o.reference?.length || !o.custody?.length) usage("--dir, --reference and --custody are needed");
  if (!(o.calls > 0) && !(o.seconds > 0)) usage("--calls or --seconds must be positive");
  return o;
}

function usage(msg) {
  console.error(`bench/mcp.mjs: ${msg}\nusage: node bench/mcp.mjs --dir DATA [--calls N] [--seconds S] [--bar X] [--only REGEX] ` +
    "--reference CMD ARGS... --custody CMD ARGS...");
  process.exit(2);
}

async function connect(label, command) {
  const [cmd, ...args] = command;
  const transport = new StdioClientTransport({ command: cmd, args, env: process.env, stderr: "pipe" });
  const stderr = [];
  transport.stderr?.on("data", (d) => stderr.push(d.toString()));
  const client = new Client({ name: "custody-bench", version: "1.0.0" });
  try {
    await client.connect(transport, { timeout: 30000 });
    await client.listTools(); // output schemas: callTool validates structuredContent, as clients do
  } catch (e) {
    throw new Error(`${label}: cannot start ${command.join(" ")}: ${e.message}\n${stderr.join("").slice(-2000)}`);
  }
  return client;
}

// n calls (or until `seconds` pass), one at a time; returns per-call latencies in ms.
async function run(client, label, tool, dir, n, seconds, first) {
  const lat = [];
  const deadline = seconds > 0 ? process.hrtime.bigint() + BigInt(Math.round(seconds * 1e9)) : 0n;
  for (let i = 0; seconds > 0 ? true : i < n; i++) {
    const t0 = process.hrtime.bigint();
    if (seconds > 0 && t0 > deadline) break;
    let r;
    try {
      r = await client.callTool({ name: tool.name, arguments: tool.args(dir, first + i) }, undefined, { timeout: 30000 });
    } catch (e) {
      throw new Error(`${label}: ${tool.name} call ${i}: ${e.message}`);
    }
    if (r.isError) throw new Error(`${label}: ${tool.name} call ${i}: isError: ${r.content?.[0]?.text}`);
    lat.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  return lat;
}

function stats(lat) {
  const total = lat.reduce((a, b) => a + b, 0);
  const s = [...lat].sort((a, b) => a - b);
  const q = (p) => s[Math.min(s.length - 1, Math.floor(p * s.length))];
  return { n: lat.length, perSec: lat.length / (total / 1000), p50: q(0.5), p99: q(0.99) };
}

async function main() {
  const o = parseArgs(process.argv.slice(2));
  const ref = await connect("reference", o.reference);
  const cus = await connect("custody", o.custody);
  const what = o.seconds > 0 ? `${o.seconds} s` : `${o.calls} calls`;
  console.log(`MCP tool calls, one SDK client per server, closed loop, ${what} per tool and server (after ${WARMUP} warm-up calls)`);
  const row = (label, r, c, ratio, bar, rest) =>
    console.log(`${label.padEnd(40)} ${r.padStart(12)} ${c.padStart(12)} ${ratio.padStart(7)} ${bar.padStart(6)} ${rest}`);
  row("tool", "reference/s", "custody/s", "ratio", "bar", "result  p50/p99 ms: reference | custody");
  let failed = false;
  for (const tool of TOOLS) {
    if (o.only && !o.only.test(tool.name)) continue;
    try {
      await run(ref, "reference", tool, o.dir, WARMUP, 0, 0);
      await run(cus, "custody", tool, o.dir, WARMUP, 0, 0);
      const r = stats(await run(ref, "reference", tool, o.dir, o.calls, o.seconds, WARMUP));
      const c = stats(await run(cus, "custody", tool, o.dir, o.calls, o.seconds, WARMUP));
      const ratio = c.perSec / r.perSec;
      row(tool.label, r.perSec.toFixed(0), c.perSec.toFixed(0), `${ratio.toFixed(2)}x`, `${o.bar.toFixed(1)}x`,
        `${ratio >= o.bar ? "PASS" : "FAIL"}    ${r.p50.toFixed(3)}/${r.p99.toFixed(3)} | ${c.p50.toFixed(3)}/${c.p99.toFixed(3)}`);
    } catch (e) {
      failed = true;
      console.log(`${tool.label.padEnd(40)} ERROR: ${e.message}`);
    }
  }
  await ref.close();
  await cus.close();
  process.exit(failed ? 1 : 0);
}

main().catch((e) => {
  console.error(`bench/mcp.mjs: ${e.message}`);
  process.exit(1);
});
