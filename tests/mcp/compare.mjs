#!/usr/bin/env node
// compare.mjs — `custody mcp` against the reference MCP filesystem server
// (@modelcontextprotocol/server-filesystem 2026.8.31), driven by the official
// TypeScript SDK (Client + StdioClientTransport, 1.32.2).
//
//   node compare.mjs record OUT.json [--fix DIR] [--outside DIR] -- COMMAND ARGS...
//       Starts COMMAND (an MCP stdio server), runs the fixed scenario below
//       against the fixture directory FIX, and writes the transcript: every
//       request and the answer to it, as JSON-RPC messages.
//       FIX defaults to COMMAND's last argument, OUTSIDE to FIX/../outside.
//   node compare.mjs diff REF.json CUSTODY.json
//       Compares two transcripts after the normalisations of NORMALISATIONS
//       (below, each with its reason) and checks the custody-only
//       expectations (CUSTODY_ONLY) on the second. Prints a readable report;
//       exits 1 on any undocumented difference or failed expectation.
//   node compare.mjs call TOOL JSON_ARGS -- COMMAND ARGS...
//       One tools/call against COMMAND; prints the CallToolResult as JSON
//       (for shell tests: tests/integration/test_mcp.sh).
//
// tests/integration/test_mcp.sh runs it: reference server, then custody
// (`custody --state STATE mcp FIX`) on an identical fresh fixture, then diff.
// By hand (after `npm ci` here):
//   node compare.mjs record /tmp/ref.json -- node node_modules/@modelcontextprotocol/server-filesystem/dist/index.js $FIX
//   (recreate the fixture)
//   node compare.mjs record /tmp/cus.json -- ../../build/bin/custody --state $STATE mcp $FIX
//   node compare.mjs diff /tmp/ref.json /tmp/cus.json
//
// The fixture contract (made by make_fixture in tests/integration/test_mcp.sh;
// files 0644 and directories 0755 unless said otherwise):
//   FIX/notes.txt        "line 1\n" ... "line 5\n"           FIX/crlf.txt   "a\r\nb\r\nc\r\n"
//   FIX/unicode.txt      "héllo wörld ✓\n"                   FIX/empty.txt  (0 bytes)
//   FIX/binary.bin       bytes 00 ff fe 80 41 0a c3 28 (not UTF-8)
//   FIX/image.png        a 1x1 PNG        FIX/sound.mp3  a few bytes   FIX/data.xyz  a few bytes
//   FIX/edit.txt         a small function with a line holding ``` (edit_file)
//   FIX/private.txt      mode 0600 (overwritten by write_file: the mode must stay)
//   FIX/move_src.txt, FIX/exists_a.txt, FIX/exists_b.txt (move_file)
//   FIX/Zeta.md          a capitalised name (sorting)
//   FIX/link_in.txt      symlink -> notes.txt (inside)
//   FIX/link_out.txt     symlink -> OUTSIDE/secret.txt (outside the allowed directory)
//   FIX/docs/deep/link_more.txt  symlink -> more.txt (inside; write_file writes through it)
//   FIX/docs/readme.md, FIX/docs/guide.md, FIX/docs/deep/nested.md, FIX/docs/deep/more.txt
//   FIX/src/main.c, FIX/src/util.txt
//   FIX/sizes/zero.txt (0 B), tiny.txt (1 B), mid.txt (1500 B), big.txt (70000 B),
//   FIX/sizes/huge.txt (2500000 B), FIX/sizes/sub/ (no two entries of sizes/ share a size)
//   OUTSIDE/secret.txt   "outside secret\n"        FIX-sibling/x.txt (a sibling named like FIX + "-sibling")
//   All times 2026-01-02 03:04:05 (get_file_info's times are normalised anyway).
import { spawn } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { createInterface } from "node:readline";
import { pathToFileURL } from "node:url";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { ListRootsRequestSchema } from "@modelcontextprotocol/sdk/types.js";

// ---------------------------------------------------------------------------
// NORMALISATIONS — every difference between the reference and custody that
// the diff tolerates. Nothing else is tolerated: each entry weakens the test,
// so each says why it is needed. `applies(step)` picks the steps, `fn(step)`
// returns the step as it is compared (applied to both transcripts alike).
// ---------------------------------------------------------------------------
const ZOD_PREFIX = /^(MCP error -32602: Input validation error: Invalid arguments for tool [^:]*:)[\s\S]*$/;
const DATE_TOSTRING = /^[A-Z][a-z]{2} [A-Z][a-z]{2} \d{2} -?\d{4,6} \d{2}:\d{2}:\d{2} GMT[+-]\d{4}( \(.+\))?$/;
const NORMALISATIONS = [
  {
    name: "server-identity",
    reason: "serverInfo names the implementation: secure-filesystem-server 0.2.0 vs custody. " +
      "Only the values are ignored: serverInfo must still hold exactly the string members name and version.",
    applies: (s) => resultOf(s)?.serverInfo !== undefined,
    fn: (s) => mapResult(s, (r) => ({ ...r, serverInfo: typeOnly(r.serverInfo) })),
  },
  {
    name: "readdir-order",
    reason: "list_directory, directory_tree and search_files list entries in the order the OS's readdir " +
      "gives (the reference does not sort); custody sorts names. Compared as sorted: the lines of " +
      "list_directory / search_files, the children arrays of directory_tree (by name, recursively; the " +
      "text is re-serialised the reference's way, JSON.stringify(_, null, 2)). list_directory_with_sizes " +
      "is NOT normalised: the reference sorts it itself (localeCompare, or size descending).",
    applies: (s) => ["list_directory", "directory_tree", "search_files"].includes(toolOf(s)) && !isErrorResult(s),
    fn: (s) => mapToolText(s, toolOf(s) === "directory_tree" ? sortTree : sortLines),
  },
  {
    name: "zod-detail",
    reason: "argument validation errors carry zod's detailed issue list (JSON, zod-version specific); " +
      "custody validates in C. Compared: isError and the text up to " +
      "'MCP error -32602: Input validation error: Invalid arguments for tool NAME:'.",
    applies: (s) => isErrorResult(s) && ZOD_PREFIX.test(toolText(s) ?? ""),
    fn: (s) => mapToolText(s, (t) => t.replace(ZOD_PREFIX, "$1 <validation details>")),
  },
  {
    name: "file-info-times",
    reason: "get_file_info's created/modified/accessed are the fixture's own times, which differ between " +
      "the two runs. Their values are replaced by <Date.toString()> when they have that form (e.g. " +
      "'Thu Nov 26 2026 14:19:30 GMT+0000 (Coordinated Universal Time)'; the zone's name in parentheses, " +
      "which node takes from ICU, may differ or be absent; any other form is kept and so differs); the " +
      "keys, their order and size/isDirectory/isFile/permissions compare exactly.",
    applies: (s) => toolOf(s) === "get_file_info" && !isErrorResult(s),
    fn: (s) => mapToolText(s, (t) => t.replace(/^(created|modified|accessed): (.*)$/gm,
      (line, k, v) => (DATE_TOSTRING.test(v) ? `${k}: <Date.toString()>` : line))),
  },
  {
    name: "temp-file-name",
    reason: "write_file (overwrite) and edit_file write FILE.<32 random hex digits>.tmp and rename it over " +
      "FILE; an error of that rename (e.g. EISDIR for write_file onto a directory) names the random file. " +
      "Only the 32 hex digits are replaced (by <random>), in error texts.",
    applies: (s) => isErrorResult(s) && /\.[0-9a-f]{32}\.tmp\b/.test(toolText(s) ?? ""),
    fn: (s) => mapToolText(s, (t) => t.replace(/\.[0-9a-f]{32}\.tmp\b/g, ".<random>.tmp")),
  },
  {
    name: "escaping-link-size",
    reason: "list_directory_with_sizes stats every entry, following symlinks: the reference follows " +
      "link_out.txt out of the allowed directory and prints the outside file's size; custodyd never looks " +
      "beyond a root (docs/mcp.md, deliberate differences) and counts such a link 0 B, as the reference " +
      "counts an entry it cannot stat. Only that line's size is replaced (by <escaping link>), and that " +
      "size is taken out of 'Combined size' (exactly, when both are in bytes; else the total is replaced " +
      "too). Every other line, link_in.txt's size included, compares exactly.",
    applies: (s) => toolOf(s) === "list_directory_with_sizes" && !isErrorResult(s) &&
      ESCAPING_LINK_LINE.test(toolText(s) ?? ""),
    fn: (s) => mapToolText(s, dropEscapingLinkSize),
  },
  {
    name: "known-gaps",
    reason: "differences docs/mcp.md lists as known, to be closed (none at present: the set is empty). " +
      "These steps are skipped by id, nothing else.",
    applies: (s) => KNOWN_GAPS.has(s.id),
    fn: (s) => ({ id: s.id, known_gap: true }),
  },
];
const KNOWN_GAPS = new Set([]);
const ESCAPING_LINK_LINE = /^(\[FILE\] link_out\.txt +?) *(\d+(?:\.\d+)?) (B|KB|MB|GB|TB)$/m;
function dropEscapingLinkSize(text) {
  const m = ESCAPING_LINK_LINE.exec(text);
  if (!m) return text;
  const out = text.replace(m[0], `${m[1]}<escaping link>`);
  const total = /^Combined size: (\d+) B$/m.exec(out);
  if (m[3] === "B" && total)
    return out.replace(total[0], `Combined size: ${Number(total[1]) - Number(m[2])} B (less link_out.txt)`);
  return out.replace(/^Combined size: .*$/m, "Combined size: <escaping link>");
}

// ---------------------------------------------------------------------------
// CUSTODY-ONLY expectations: the 2026-07-28 protocol revision (stateless: no
// initialize; protocol version and client capabilities in each request's
// _meta; server/discover). The reference predates it, so its answers are
// recorded and shown but not compared; custody's must meet these.
// expect(answer, transcript) returns a list of failures ([] = ok).
// ---------------------------------------------------------------------------
const MODERN = "2026-07-28";
const modernMeta = (version = MODERN) => ({
  "io.modelcontextprotocol/protocolVersion": version,
  "io.modelcontextprotocol/clientCapabilities": {},
});
const CUSTODY_ONLY = {
  "2026: server/discover": {
    says: `a result whose supportedVersions (array) holds ${MODERN} and whose capabilities.tools is an object`,
    expect: (a) => {
      const r = a?.result;
      if (!r) return [`expected a result, got ${brief(a)}`];
      const f = [];
      if (!Array.isArray(r.supportedVersions) || !r.supportedVersions.includes(MODERN))
        f.push(`supportedVersions ${brief(r.supportedVersions)} lacks ${MODERN}`);
      if (!isObj(r.capabilities?.tools)) f.push(`capabilities.tools missing: ${brief(r.capabilities)}`);
      return f.concat(resultTypeComplete(r));
    },
  },
  "2026: tools/list without initialize": {
    says: "a result listing the same tool names as the legacy (initialized) tools/list of this transcript",
    expect: (a, t) => {
      const r = a?.result;
      if (!r) return [`expected a result, got ${brief(a)}`];
      const legacy = findStep(t, "tools/list")?.response?.result?.tools?.map((x) => x.name) ?? [];
      const got = Array.isArray(r.tools) ? r.tools.map((x) => x.name) : null;
      if (!got) return [`result.tools is not an array: ${brief(r)}`];
      const f = sameJson([...got].sort(), [...legacy].sort()) ? [] : [`tools ${brief(got)} != legacy ${brief(legacy)}`];
      return f.concat(resultTypeComplete(r));
    },
  },
  "2026: tools/call without initialize": {
    says: "read_text_file FIX/notes.txt answered (no initialize) with the same content as the legacy read " +
      "('read_text_file: whole') of this transcript, isError not set",
    expect: (a, t) => {
      const r = a?.result;
      if (!r) return [`expected a result, got ${brief(a)}`];
      const want = findStep(t, "read_text_file: whole")?.response?.result?.content?.[0]?.text;
      const f = [];
      if (r.isError) f.push(`isError: ${brief(r.content)}`);
      if (r.content?.[0]?.text !== want) f.push(`text ${brief(r.content?.[0]?.text)} != ${brief(want)}`);
      if (r.structuredContent?.content !== want) f.push(`structuredContent ${brief(r.structuredContent)}`);
      return f.concat(resultTypeComplete(r));
    },
  },
  "2026: server/discover, version 2099-01-01": {
    says: "error -32022 (UnsupportedProtocolVersion) with data.supported (array holding 2026-07-28) and " +
      "data.requested = 2099-01-01",
    expect: (a) => unsupportedVersion(a, "2099-01-01"),
  },
  "2026: tools/call, version 2099-01-01": {
    says: "the same -32022 error for a tools/call whose _meta names 2099-01-01",
    expect: (a) => unsupportedVersion(a, "2099-01-01"),
  },
};
function unsupportedVersion(a, requested) {
  const e = a?.error;
  if (!e) return [`expected an error, got ${brief(a)}`];
  const f = [];
  if (e.code !== -32022) f.push(`error.code ${e.code}, want -32022 (message ${brief(e.message)})`);
  if (!Array.isArray(e.data?.supported) || !e.data.supported.includes(MODERN))
    f.push(`error.data.supported ${brief(e.data?.supported)} lacks ${MODERN}`);
  if (e.data?.requested !== requested) f.push(`error.data.requested ${brief(e.data?.requested)}, want ${requested}`);
  return f;
}
function resultTypeComplete(r) {
  // 2026-07-28 results may say resultType; absent means complete.
  return r.resultType === undefined || r.resultType === "complete" ? [] : [`resultType ${brief(r.resultType)}`];
}

// ---------------------------------------------------------------------------
// The scenario. Each step has a unique id; the diff pairs steps by id.
// ---------------------------------------------------------------------------
const TIMEOUT_MS = 15000; // one SDK request
const RAW_TIMEOUT_MS = 5000; // one raw request (a session's first waits TIMEOUT_MS: the server is starting)

async function scenario(R, FIX, OUT) {
  const F = (p) => path.join(FIX, p);
  const call = (id, name, args) => R.tool(id, name, args);

  await R.start("initialize");
  await R.sdk("tools/list", (c) => c.listTools(undefined, { timeout: TIMEOUT_MS }));

  // read_text_file
  await call("read_text_file: whole", "read_text_file", { path: F("notes.txt") });
  await call("read_text_file: head 2", "read_text_file", { path: F("notes.txt"), head: 2 });
  await call("read_text_file: tail 2 (file ends with a newline)", "read_text_file", { path: F("notes.txt"), tail: 2 });
  await call("read_text_file: head 0 (falsy: whole file)", "read_text_file", { path: F("notes.txt"), head: 0 });
  await call("read_text_file: head 99", "read_text_file", { path: F("notes.txt"), head: 99 });
  await call("read_text_file: head and tail", "read_text_file", { path: F("notes.txt"), head: 1, tail: 1 });
  await call("read_text_file: crlf whole", "read_text_file", { path: F("crlf.txt") });
  await call("read_text_file: crlf head 2", "read_text_file", { path: F("crlf.txt"), head: 2 });
  await call("read_text_file: crlf tail 2", "read_text_file", { path: F("crlf.txt"), tail: 2 });
  await call("read_text_file: unicode", "read_text_file", { path: F("unicode.txt") });
  await call("read_text_file: empty", "read_text_file", { path: F("empty.txt") });
  await call("read_text_file: empty tail 3", "read_text_file", { path: F("empty.txt"), tail: 3 });
  await call("read_text_file: missing file", "read_text_file", { path: F("missing.txt") });
  await call("read_text_file: missing parent", "read_text_file", { path: F("nodir/missing.txt") });
  await call("read_text_file: a directory", "read_text_file", { path: F("docs") });
  await call("read_text_file: binary, invalid UTF-8", "read_text_file", { path: F("binary.bin") });
  await call("read_text_file: relative path", "read_text_file", { path: "docs/readme.md" });
  await call("read_text_file: relative ../ escape", "read_text_file", { path: "../outside/secret.txt" });
  await call("read_text_file: absolute .. escape", "read_text_file", { path: `${FIX}/../outside/secret.txt` });
  await call("read_text_file: absolute outside", "read_text_file", { path: path.join(OUT, "secret.txt") });
  await call("read_text_file: /etc/passwd", "read_text_file", { path: "/etc/passwd" });
  await call("read_text_file: symlink inside", "read_text_file", { path: F("link_in.txt") });
  await call("read_text_file: symlink to outside", "read_text_file", { path: F("link_out.txt") });
  await call("read_text_file: Windows path C:\\x", "read_text_file", { path: "C:\\x" });
  await call("read_text_file: ~/x", "read_text_file", { path: "~/x" });
  await call("read_text_file: the allowed directory's prefix sibling", "read_text_file", { path: `${FIX}-sibling/x.txt` });
  await call("read_file: alias", "read_file", { path: F("notes.txt") });
  await call("read_file: alias tail 1", "read_file", { path: F("notes.txt"), tail: 1 });

  // read_media_file
  await call("read_media_file: png", "read_media_file", { path: F("image.png") });
  await call("read_media_file: mp3", "read_media_file", { path: F("sound.mp3") });
  await call("read_media_file: unknown extension", "read_media_file", { path: F("data.xyz") });
  await call("read_media_file: missing", "read_media_file", { path: F("missing.png") });
  await call("read_media_file: outside", "read_media_file", { path: path.join(OUT, "secret.txt") });

  // read_multiple_files
  await call("read_multiple_files: ok, missing, relative, outside", "read_multiple_files",
    { paths: [F("notes.txt"), F("missing.txt"), "docs/guide.md", path.join(OUT, "secret.txt"), F("link_out.txt")] });
  await call("read_multiple_files: empty list", "read_multiple_files", { paths: [] });

  // write_file
  await call("write_file: new", "write_file", { path: F("new.txt"), content: "hello new\n" });
  await call("write_file: overwrite", "write_file", { path: F("new.txt"), content: "overwritten\nsecond line\n" });
  await call("write_file: read back", "read_text_file", { path: F("new.txt") });
  await call("write_file: get_file_info of the new file", "get_file_info", { path: F("new.txt") });
  await call("write_file: overwrite a 0600 file", "write_file", { path: F("private.txt"), content: "still private\n" });
  await call("write_file: mode of the overwritten 0600 file", "get_file_info", { path: F("private.txt") });
  await call("write_file: unicode content", "write_file", { path: F("uni-new.txt"), content: "ünï ✓ 日本\n" });
  await call("write_file: unicode read back", "read_text_file", { path: F("uni-new.txt") });
  await call("write_file: missing parent dir", "write_file", { path: F("nodir/new.txt"), content: "x" });
  await call("write_file: outside", "write_file", { path: path.join(OUT, "new.txt"), content: "x" });
  await call("write_file: through symlink to outside", "write_file", { path: F("link_out.txt"), content: "x" });
  await call("write_file: through symlink inside", "write_file",
    { path: F("docs/deep/link_more.txt"), content: "more, through the link\n" });
  await call("write_file: the inside link's target after", "read_text_file", { path: F("docs/deep/more.txt") });
  await call("write_file: sizes after writing through a link", "list_directory_with_sizes", { path: F("docs/deep") });
  await call("write_file: onto a directory", "write_file", { path: F("docs"), content: "x" });

  // edit_file
  const e1 = [{ oldText: "let x = 1;", newText: "let x = 2;" }, { oldText: "}\n", newText: "} // end\n" }];
  await call("edit_file: dryRun true", "edit_file", { path: F("edit.txt"), edits: e1, dryRun: true });
  await call("edit_file: unchanged after dryRun", "read_text_file", { path: F("edit.txt") });
  await call("edit_file: dryRun false", "edit_file", { path: F("edit.txt"), edits: e1, dryRun: false });
  await call("edit_file: whitespace-flexible match", "edit_file", {
    path: F("edit.txt"),
    edits: [{ oldText: "  let x = 2;\n  return x;", newText: "  let y = 3;\n    return y;" }],
  });
  await call("edit_file: dryRun left out (default false)", "edit_file",
    { path: F("edit.txt"), edits: [{ oldText: "function f", newText: "function g" }] });
  await call("edit_file: result", "read_text_file", { path: F("edit.txt") });
  await call("edit_file: not found", "edit_file", { path: F("edit.txt"), edits: [{ oldText: "no such text", newText: "x" }] });
  await call("edit_file: CRLF file", "edit_file", { path: F("crlf.txt"), edits: [{ oldText: "b", newText: "B" }] });
  await call("edit_file: CRLF file after", "read_text_file", { path: F("crlf.txt") });
  await call("edit_file: missing file", "edit_file", { path: F("missing.txt"), edits: [{ oldText: "a", newText: "b" }] });
  await call("edit_file: outside", "edit_file", { path: path.join(OUT, "secret.txt"), edits: [{ oldText: "a", newText: "b" }] });

  // create_directory
  await call("create_directory: new nested", "create_directory", { path: F("made/a/b") });
  await call("create_directory: existing", "create_directory", { path: F("docs") });
  await call("create_directory: over a file", "create_directory", { path: F("notes.txt") });
  await call("create_directory: below a file", "create_directory", { path: F("notes.txt/sub") });
  await call("create_directory: outside", "create_directory", { path: path.join(OUT, "made") });

  // list_directory, list_directory_with_sizes
  await call("list_directory: FIX", "list_directory", { path: FIX });
  await call("list_directory: docs", "list_directory", { path: F("docs") });
  await call("list_directory: empty dir", "list_directory", { path: F("made/a/b") });
  await call("list_directory: a file", "list_directory", { path: F("notes.txt") });
  await call("list_directory: missing", "list_directory", { path: F("nodir") });
  await call("list_directory: outside", "list_directory", { path: OUT });
  await call("list_directory_with_sizes: FIX by name (default)", "list_directory_with_sizes", { path: FIX });
  await call("list_directory_with_sizes: sizes by name", "list_directory_with_sizes", { path: F("sizes"), sortBy: "name" });
  await call("list_directory_with_sizes: sizes by size", "list_directory_with_sizes", { path: F("sizes"), sortBy: "size" });
  await call("list_directory_with_sizes: bad sortBy", "list_directory_with_sizes", { path: F("sizes"), sortBy: "date" });
  await call("list_directory_with_sizes: empty dir", "list_directory_with_sizes", { path: F("made/a/b") });

  // directory_tree
  await call("directory_tree: docs", "directory_tree", { path: F("docs") });
  await call("directory_tree: FIX", "directory_tree", { path: FIX });
  await call("directory_tree: excludePatterns", "directory_tree", { path: FIX, excludePatterns: ["deep", "*.png", "sizes/**"] });
  await call("directory_tree: outside", "directory_tree", { path: OUT });

  // move_file
  await call("move_file: ok", "move_file", { source: F("move_src.txt"), destination: F("docs/moved.txt") });
  await call("move_file: moved file is there", "read_text_file", { path: F("docs/moved.txt") });
  await call("move_file: destination exists", "move_file", { source: F("exists_a.txt"), destination: F("exists_b.txt") });
  await call("move_file: missing source", "move_file", { source: F("nosuch.txt"), destination: F("whatever.txt") });
  await call("move_file: a directory", "move_file", { source: F("made"), destination: F("made2") });
  await call("move_file: to outside", "move_file", { source: F("exists_a.txt"), destination: path.join(OUT, "stolen.txt") });
  await call("move_file: listing after", "list_directory", { path: F("docs") });

  // search_files
  await call("search_files: *.txt", "search_files", { path: FIX, pattern: "*.txt" });
  await call("search_files: **/*.md", "search_files", { path: FIX, pattern: "**/*.md" });
  await call("search_files: **/*.md excluding **/deep", "search_files", { path: FIX, pattern: "**/*.md", excludePatterns: ["**/deep"] });
  await call("search_files: below docs", "search_files", { path: F("docs"), pattern: "**/*" });
  await call("search_files: no match", "search_files", { path: FIX, pattern: "*.nomatch" });
  await call("search_files: outside", "search_files", { path: OUT, pattern: "*" });

  // get_file_info
  await call("get_file_info: file", "get_file_info", { path: F("notes.txt") });
  await call("get_file_info: dir", "get_file_info", { path: F("docs") });
  await call("get_file_info: symlink inside", "get_file_info", { path: F("link_in.txt") });
  await call("get_file_info: missing", "get_file_info", { path: F("missing.txt") });

  // list_allowed_directories, protocol-level errors
  await call("list_allowed_directories", "list_allowed_directories", {});
  await call("unknown tool", "no_such_tool", { path: FIX });
  await call("wrong type: path 42", "read_text_file", { path: 42 });
  await call("wrong type: head as string", "read_text_file", { path: F("notes.txt"), head: "2" });
  await call("wrong type: edits not an array", "edit_file", { path: F("edit.txt"), edits: "x" });
  await call("missing argument: path", "read_text_file", {});
  await call("missing argument: content", "write_file", { path: F("x.txt") });
  await call("missing argument: edits[0].newText", "edit_file", { path: F("edit.txt"), edits: [{ oldText: "a" }] });
  await R.stop();

  await rootsPhase(R, FIX);
  await rawPhase(R, FIX);
}

// A second client that declares roots: the server asks roots/list after
// initialize and again after notifications/roots/list_changed, and replaces
// its allowed directories with the answer.
async function rootsPhase(R, FIX) {
  const F = (p) => path.join(FIX, p);
  let roots = [{ uri: pathToFileURL(F("docs")).href, name: "docs" }];
  let asked = 0;
  await R.start("roots: initialize with the roots capability", {
    capabilities: { roots: { listChanged: true } },
    setup: (c) => c.setRequestHandler(ListRootsRequestSchema, async () => { asked++; return { roots }; }),
  });
  await waitFor(() => asked >= 1 || R.closed, 5000);
  R.note("roots: roots/list asked after initialize", { asked });
  await R.pollAllowed("roots: list_allowed_directories after the first roots", F("docs"));
  await R.tool("roots: read inside the new root", "read_text_file", { path: F("docs/readme.md") });
  await R.tool("roots: read outside the new root", "read_text_file", { path: F("notes.txt") });

  roots = [
    { uri: pathToFileURL(F("src")).href, name: "src" },
    { uri: pathToFileURL(F("sizes")).href },
    { uri: pathToFileURL(F("no-such-dir")).href, name: "missing (skipped)" },
    { uri: pathToFileURL(F("notes.txt")).href, name: "a file (skipped)" },
  ];
  if (!R.closed) await R.client.sendRootsListChanged().catch(() => {});
  await waitFor(() => asked >= 2 || R.closed, 5000);
  R.note("roots: roots/list asked after list_changed", { asked });
  await R.pollAllowed("roots: list_allowed_directories after list_changed", F("sizes"));
  await R.tool("roots: read in the second new root", "read_text_file", { path: F("sizes/tiny.txt") });
  await R.tool("roots: read in the dropped root", "read_text_file", { path: F("docs/readme.md") });
  await R.stop();
}

// Newline-delimited JSON over a plain child process, no SDK.
async function rawPhase(R, FIX) {
  const init = (id, protocolVersion) => ({
    jsonrpc: "2.0", id, method: "initialize",
    params: { protocolVersion, capabilities: {}, clientInfo: { name: "compare-raw", version: "1" } },
  });
  const initialized = { jsonrpc: "2.0", method: "notifications/initialized" };

  let s = await R.raw("raw: legacy session");
  await s.ask("raw: initialize 2025-11-25", init(1, "2025-11-25"));
  await s.tell(initialized);
  await s.fenced("raw: malformed JSON line", '{"jsonrpc":"2.0","id":2,"method":', 3);
  await s.fenced("raw: malformed: not JSON-RPC", '{"foo":1}', 4);
  await s.fenced("raw: unknown notification", JSON.stringify({ jsonrpc: "2.0", method: "notifications/no_such" }), 5);
  await s.ask("raw: unknown method", { jsonrpc: "2.0", id: 6, method: "no_such/method", params: {} });
  await s.ask("raw: ping", { jsonrpc: "2.0", id: 7, method: "ping" });
  await s.ask("raw: string id", { jsonrpc: "2.0", id: "abc", method: "ping" });
  await s.close();

  s = await R.raw("raw: old version session");
  await s.ask("raw: initialize 2024-11-05", init(1, "2024-11-05"));
  await s.close();

  s = await R.raw("raw: unknown version session");
  await s.ask("raw: initialize 1999-01-01 (unknown)", init(1, "1999-01-01"));
  await s.close();

  // 2026-07-28: no initialize at all; every request says its version in _meta.
  s = await R.raw("raw: 2026-07-28 session", { custodyOnly: true });
  await s.ask("2026: server/discover", { jsonrpc: "2.0", id: 1, method: "server/discover", params: { _meta: modernMeta() } });
  await s.ask("2026: tools/list without initialize", { jsonrpc: "2.0", id: 2, method: "tools/list", params: { _meta: modernMeta() } });
  await s.ask("2026: tools/call without initialize", {
    jsonrpc: "2.0", id: 3, method: "tools/call",
    params: { name: "read_text_file", arguments: { path: path.join(FIX, "notes.txt") }, _meta: modernMeta() },
  });
  await s.ask("2026: server/discover, version 2099-01-01",
    { jsonrpc: "2.0", id: 4, method: "server/discover", params: { _meta: modernMeta("2099-01-01") } });
  await s.ask("2026: tools/call, version 2099-01-01", {
    jsonrpc: "2.0", id: 5, method: "tools/call",
    params: { name: "read_text_file", arguments: { path: path.join(FIX, "notes.txt") }, _meta: modernMeta("2099-01-01") },
  });
  await s.close();
}

// ---------------------------------------------------------------------------
// The recorder: SDK clients with their transport tapped, and raw sessions.
// ---------------------------------------------------------------------------
class Recorder {
  constructor(command) {
    this.command = command;
    this.steps = [];
    this.custodyOnly = [];
    this.stderr = [];
    this.client = null;
    this.capture = null;
    this.closed = true;
    this.clientOpts = {};
    this.dead = null;
    this.deadline = Date.now() + Number(process.env.COMPARE_BUDGET_S ?? 240) * 1000;
  }

  // Starts the server with a new SDK client; the initialize exchange is step
  // `id` (not recorded when id is null).
  async start(id, opts = {}) {
    this.clientOpts = opts;
    const skip = this.skipReason();
    if (skip) {
      if (id) this.steps.push({ id, not_run: skip });
      return;
    }
    const cap = this.begin();
    let err = null;
    try {
      await this.connect(opts);
    } catch (e) {
      err = e;
    }
    const step = this.end(cap, id, err);
    if (id) this.steps.push(step);
    if (err) {
      // a server that cannot initialize is not tried again
      this.dead = `not run: the server did not initialize (${errText(err)})`;
      await this.stop();
    } else await this.warm();
  }

  async connect(opts) {
    const [cmd, ...args] = this.command;
    const transport = new StdioClientTransport({ command: cmd, args, env: process.env, stderr: "pipe" });
    transport.stderr?.on("data", (d) => this.keepStderr(d));
    tap(transport, this);
    const client = new Client({ name: "custody-compare", version: "1.0.0" }, { capabilities: opts.capabilities ?? {} });
    opts.setup?.(client);
    client.onclose = () => {
      if (this.client === client) this.closed = true;
    };
    this.closed = false;
    this.client = client;
    try {
      await client.connect(transport, { timeout: 30000 });
    } catch (e) {
      await client.close().catch(() => {});
      this.closed = true;
      throw e;
    }
  }

  // Output schemas are cached by listTools: callTool then validates
  // structuredContent as any SDK client would. Not recorded (the step
  // "tools/list" is).
  async warm() {
    if (this.closed) return;
    await this.client.listTools(undefined, { timeout: TIMEOUT_MS }).catch(() => {});
  }

  keepStderr(d) {
    this.stderr.push(d.toString());
    if (this.stderr.length > 200) this.stderr.splice(0, this.stderr.length - 200);
  }

  async stop() {
    try {
      await this.client?.close();
    } catch {
      /* already gone */
    }
    this.client = null;
    this.closed = true;
  }

  begin() {
    this.capture = { out: [], in: [], errors: [] };
    return this.capture;
  }

  end(cap, id, err) {
    this.capture = null;
    const req = cap.out.find((m) => m.method && m.id !== undefined);
    const res = req ? cap.in.find((m) => m.id === req.id && !m.method) : undefined;
    const step = { id, request: req ? strip(req) : null, response: res ? strip(res) : null };
    const extra = cap.in.filter((m) => m !== res);
    if (extra.length) step.extra = extra;
    if (err) step.sdk_error = errText(err);
    if (cap.errors.length) step.transport_errors = cap.errors;
    if (cap.restarted) step.server_restarted_before = true;
    return step;
  }

  // One SDK request (fn gets the client); reconnects first if the server died.
  async sdk(id, fn) {
    const skip = this.skipReason();
    if (skip) {
      this.steps.push({ id, not_run: skip });
      return;
    }
    let restarted = false;
    if (this.closed) {
      restarted = true;
      try {
        await this.connect(this.clientOpts);
        await this.warm();
      } catch (e) {
        // a server that cannot be (re)started is not tried again
        this.dead = `the server could not be restarted: ${errText(e)}`;
        await this.stop();
        this.steps.push({ id, not_run: this.dead });
        return;
      }
    }
    const cap = this.begin();
    cap.restarted = restarted;
    let err = null;
    try {
      await fn(this.client);
    } catch (e) {
      err = e;
    }
    await tick();
    this.steps.push(this.end(cap, id, err));
    // a request that timed out leaves the server in an unknown state: the
    // next step starts it afresh
    if (err?.code === -32001) await this.stop();
  }

  // Why no more requests are sent: the server cannot start, or the time
  // budget (COMPARE_BUDGET_S, default 240 s: ctest gives the test 300 s) is spent.
  skipReason() {
    if (this.dead) return this.dead;
    if (Date.now() > this.deadline) return "not run: the recording's time budget is spent";
    return null;
  }

  tool(id, name, args) {
    return this.sdk(id, (c) => c.callTool({ name, arguments: args }, undefined, { timeout: TIMEOUT_MS }));
  }

  note(id, value) {
    const skip = this.skipReason();
    this.steps.push(skip ? { id, not_run: skip } : { id, observed: value });
  }

  // Polls list_allowed_directories until its text names `want` (the server
  // updates its roots asynchronously) or 5 s pass; records the last answer.
  async pollAllowed(id, want) {
    const deadline = Date.now() + 5000;
    for (;;) {
      const n = this.steps.length;
      await this.tool(id, "list_allowed_directories", {});
      const text = this.steps[n].response?.result?.content?.[0]?.text ?? "";
      if (text.split("\n").includes(want) || Date.now() > deadline || this.closed || !this.steps[n].response) return;
      this.steps.pop();
      await sleep(100);
    }
  }

  // A raw session: the server on plain pipes, one JSON message per line.
  async raw(name, { custodyOnly = false } = {}) {
    const [cmd, ...args] = this.command;
    const child = spawn(cmd, args, { stdio: ["pipe", "pipe", "pipe"], env: process.env });
    child.stderr.on("data", (d) => this.keepStderr(d));
    child.stdin.on("error", () => {});
    const inbox = [];
    let waiter = null;
    let exited = null;
    createInterface({ input: child.stdout }).on("line", (line) => {
      let m;
      try {
        m = JSON.parse(line);
      } catch {
        m = { unparsable_line: line };
      }
      inbox.push(m);
      waiter?.();
    });
    // "close", not "exit": the answers on stdout are all read by then
    child.on("close", (code, signal) => { exited = { code, signal }; waiter?.(); });
    child.on("error", (e) => { exited = { error: e.message }; waiter?.(); });
    const sink = custodyOnly ? this.custodyOnly : this.steps;
    let hung = null; // set when a request got no answer: the rest of the session is not sent
    let started = false; // the first request waits longer (the server is starting)
    const waitId = async (id, ms) => {
      const deadline = Date.now() + ms;
      for (;;) {
        const i = inbox.findIndex((m) => m && m.id === id && !m.method);
        if (i >= 0) return inbox.splice(i, 1)[0];
        if (exited || Date.now() > deadline) return null;
        await new Promise((res) => {
          waiter = res;
          setTimeout(res, 50);
        });
        waiter = null;
      }
    };
    const send = (line) => child.stdin.write(line.endsWith("\n") ? line : `${line}\n`);
    const session = {
      // a request: waits for the answer with its id
      ask: async (id, msg) => {
        const skip = hung ?? (Date.now() > this.deadline ? "not run: the recording's time budget is spent" : null);
        if (skip) {
          sink.push({ id, session: name, request: msg, not_run: skip });
          return null;
        }
        send(JSON.stringify(msg));
        const res = await waitId(msg.id, started ? RAW_TIMEOUT_MS : TIMEOUT_MS);
        started = true;
        const step = { id, session: name, request: msg, response: res };
        if (!res) {
          step.no_answer = exited ? `server exited ${JSON.stringify(exited)}` : `no answer in ${RAW_TIMEOUT_MS} ms`;
          if (!exited) hung = `not run: no answer to an earlier request of this session (${id})`;
        }
        const other = inbox.splice(0);
        if (other.length) step.extra = other;
        sink.push(step);
        return res;
      },
      // a notification: no answer expected, none waited for
      tell: async (msg) => {
        send(JSON.stringify(msg));
      },
      // a line whose answers (if any) are everything that arrives before the
      // answer to the ping sent right after it
      fenced: async (id, line, pingId) => {
        if (hung) {
          sink.push({ id, session: name, request_line: line, not_run: hung });
          return;
        }
        send(line);
        send(JSON.stringify({ jsonrpc: "2.0", id: pingId, method: "ping" }));
        const fence = await waitId(pingId, started ? RAW_TIMEOUT_MS : TIMEOUT_MS);
        started = true;
        if (!fence && !exited) hung = `not run: no answer to the ping after ${id}`;
        await sleep(50);
        sink.push({ id, session: name, request_line: line, answers: inbox.splice(0), ping_after: fence });
      },
      close: async () => {
        child.stdin.end();
        const t = setTimeout(() => child.kill("SIGTERM"), 3000);
        const k = setTimeout(() => child.kill("SIGKILL"), 6000);
        if (!exited) await new Promise((res) => child.on("close", res));
        clearTimeout(t);
        clearTimeout(k);
      },
    };
    return session;
  }
}

// Taps an SDK transport: every message sent and received lands in the
// recorder's current capture.
function tap(transport, R) {
  const send = transport.send.bind(transport);
  transport.send = (msg, opts) => {
    R.capture?.out.push(clone(msg));
    return send(msg, opts);
  };
  // The SDK chains handlers (it reads the old one, then sets a new one that
  // calls it), so the getter hands out exactly the wrapped handler last set.
  const wrap = (prop, before) => {
    let wrapped;
    Object.defineProperty(transport, prop, {
      configurable: true,
      get: () => wrapped,
      set: (fn) => {
        wrapped = fn ? (...a) => {
          before(...a);
          return fn(...a);
        } : fn;
      },
    });
  };
  wrap("onmessage", (msg) => R.capture?.in.push(clone(msg)));
  wrap("onerror", (e) => R.capture?.errors.push(errText(e)));
}

// ---------------------------------------------------------------------------
// diff
// ---------------------------------------------------------------------------
function diff(refPath, cusPath) {
  const ref = JSON.parse(readFileSync(refPath, "utf8"));
  const cus = JSON.parse(readFileSync(cusPath, "utf8"));
  const FIX = ref.recorded?.fix;
  if (cus.recorded?.fix !== FIX) {
    console.log(`note: the transcripts were recorded on different fixture paths (${FIX} vs ${cus.recorded?.fix}); paths will differ`);
  }
  const show = (v) => {
    let s = JSON.stringify(v);
    if (s === undefined) return "(absent)";
    if (FIX) s = s.split(FIX).join("$FIX");
    return s.length > 600 && !process.env.COMPARE_VERBOSE ? `${s.slice(0, 600)}... (COMPARE_VERBOSE=1: all)` : s;
  };
  const used = new Map();
  const norm = (step) => {
    let s = step;
    for (const n of NORMALISATIONS) {
      if (s && n.applies(s)) {
        s = n.fn(s);
        used.set(n.name, (used.get(n.name) ?? 0) + 1);
      }
    }
    return s;
  };
  const cusById = new Map(cus.steps.map((s) => [s.id, s]));
  let same = 0;
  const bad = [];
  for (const r of ref.steps) {
    const c = cusById.get(r.id);
    cusById.delete(r.id);
    if (!c) {
      bad.push({ id: r.id, lines: ["missing from the custody transcript"] });
      continue;
    }
    if (c.not_run && !r.not_run) {
      bad.push({ id: r.id, lines: [`custody: ${c.not_run}`], notRun: c.not_run });
      continue;
    }
    const a = comparable(norm(r));
    const b = comparable(norm(c));
    const groups = [];
    jsonDiff(a, b, "", groups, show);
    if (groups.length) bad.push({ id: r.id, req: requestOf(r), lines: diffLines(groups) });
    else same++;
  }
  for (const id of cusById.keys()) bad.push({ id, lines: ["only in the custody transcript"] });

  console.log(`compared ${ref.steps.length} exchanges: ${same} the same, ${bad.length} different`);
  console.log(`normalisations applied: ${[...used].map(([k, v]) => `${k} x${v}`).join(", ") || "none"}`);
  for (let k = 0; k < bad.length; k++) {
    const b = bad[k];
    // a run of steps custody did not run for the same reason: one entry
    let n = 1;
    while (b.notRun && bad[k + n]?.notRun === b.notRun) n++;
    if (n > 1) {
      console.log(`\nDIFF ${b.id} ... ${bad[k + n - 1].id} (${n} exchanges)\n  custody: ${b.notRun}`);
      k += n - 1;
      continue;
    }
    console.log(`\nDIFF ${b.id}`);
    if (b.req !== undefined) console.log(`  request: ${show(b.req)}`);
    for (const l of b.lines) console.log(`  ${l}`);
  }

  // custody-only expectations
  let failed = 0;
  console.log(`\ncustody-only expectations (protocol ${MODERN}; the reference's answers are shown, not compared):`);
  const refOnly = new Map((ref.custody_only ?? []).map((s) => [s.id, s]));
  for (const [id, check] of Object.entries(CUSTODY_ONLY)) {
    const got = (cus.custody_only ?? []).find((s) => s.id === id);
    const f = got ? check.expect(got.response, cus) : ["missing from the custody transcript"];
    if (f.length) failed++;
    console.log(`${f.length ? "FAIL" : "ok  "} ${id}: ${check.says}`);
    for (const l of f) console.log(`       ${l}`);
    const answer = (st) => st?.response ?? st?.no_answer ?? st?.not_run;
    if (f.length || process.env.COMPARE_VERBOSE) console.log(`       custody:   ${show(answer(got))}`);
    console.log(`       reference: ${show(answer(refOnly.get(id)))}`);
  }
  const ok = bad.length === 0 && failed === 0;
  if (!ok && cus.stderr_tail) {
    console.log("\nthe custody side's stderr (last lines of the recording):");
    for (const l of cus.stderr_tail.split("\n").slice(-20)) console.log(`  | ${l}`);
  }
  console.log(`\n${ok ? "PASS" : "FAIL"}: ${bad.length} undocumented difference(s), ${failed} custody-only expectation(s) failed`);
  return ok ? 0 : 1;
}

// The request of a step as the report shows it: a tool call's params, else
// the message (or the raw line).
function requestOf(s) {
  if (!s.request) return s.request_line;
  if (s.request.method === "tools/call") return s.request.params;
  const { jsonrpc, ...m } = s.request;
  return m;
}

// What of a step is compared: the answers, not the request (identical by
// construction) nor the SDK's ids.
function comparable(s) {
  const out = {};
  for (const k of ["response", "answers", "ping_after", "extra", "sdk_error", "transport_errors",
    "server_restarted_before", "no_answer", "observed"]) {
    if (s[k] !== undefined) out[k] = s[k];
  }
  if (out.response && s.session === undefined) out.response = { ...out.response, id: undefined };
  return out;
}

// Differences as groups {where, body: [lines]}; texts of several lines get a
// line diff.
function jsonDiff(a, b, where, out, show) {
  if (sameJson(a, b)) return;
  if (typeof a === "string" && typeof b === "string" && (a.includes("\n") || b.includes("\n"))) {
    out.push({ where: `${where || "."}: text differs (- reference, + custody)`, body: lineDiff(a, b) });
    return;
  }
  if (isObj(a) && isObj(b)) {
    for (const k of new Set([...Object.keys(a), ...Object.keys(b)])) jsonDiff(a[k], b[k], `${where}.${k}`, out, show);
    return;
  }
  if (Array.isArray(a) && Array.isArray(b) && a.length === b.length) {
    a.forEach((x, i) => jsonDiff(x, b[i], `${where}[${i}]`, out, show));
    return;
  }
  out.push({ where: `${where || "."}:`, body: [`reference: ${show(a)}`, `custody:   ${show(b)}`] });
}

// The groups as report lines; a group whose body repeats the one before
// (structuredContent.content mirrors content[0].text) is named, not repeated.
function diffLines(groups) {
  const out = [];
  groups.forEach((g, i) => {
    if (i > 0 && sameJson(g.body, groups[i - 1].body)) {
      out.push(`${g.where.replace(/:.*$/, "")}: the same difference`);
      return;
    }
    out.push(g.where);
    for (const l of g.body) out.push(`    ${l}`);
  });
  return out;
}

// A line diff (LCS) of two texts, lines shown as JSON strings: '-' reference
// only, '+' custody only, two lines of context around each change.
function lineDiff(a, b) {
  const x = a.split("\n");
  const y = b.split("\n");
  if (x.length * y.length > 4e6) return [`(too long for a line diff: ${x.length} vs ${y.length} lines)`];
  const L = Array.from({ length: x.length + 1 }, () => new Int32Array(y.length + 1));
  for (let i = x.length - 1; i >= 0; i--)
    for (let j = y.length - 1; j >= 0; j--) L[i][j] = x[i] === y[j] ? L[i + 1][j + 1] + 1 : Math.max(L[i + 1][j], L[i][j + 1]);
  const ops = [];
  let i = 0;
  let j = 0;
  while (i < x.length || j < y.length) {
    if (i < x.length && j < y.length && x[i] === y[j]) {
      ops.push(["  ", x[i++]]);
      j++;
    } else if (i < x.length && (j === y.length || L[i + 1][j] >= L[i][j + 1])) {
      ops.push(["- ", x[i++]]);
    } else {
      ops.push(["+ ", y[j++]]);
    }
  }
  const near = ops.map((_, k) => ops.slice(Math.max(0, k - 2), k + 3).some((o) => o[0] !== "  "));
  const out = [];
  ops.forEach((o, k) => {
    if (near[k]) out.push(`${o[0]}${JSON.stringify(o[1])}`);
    else if (k > 0 && near[k - 1]) out.push("  ...");
  });
  return out.length > 80 ? [...out.slice(0, 80), `  ... (${out.length - 80} more lines)`] : out;
}

// ---------------------------------------------------------------------------
// helpers
// ---------------------------------------------------------------------------
const isObj = (v) => v !== null && typeof v === "object" && !Array.isArray(v);
const clone = (v) => (v === undefined ? v : JSON.parse(JSON.stringify(v)));
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const tick = () => new Promise((r) => setImmediate(r));
const errText = (e) => (e instanceof Error ? e.message : String(e));
const brief = (v) => {
  const s = JSON.stringify(v);
  return s === undefined ? "undefined" : s.length > 300 ? `${s.slice(0, 300)}...` : s;
};
const sameJson = (a, b) => JSON.stringify(canon(a)) === JSON.stringify(canon(b));
function canon(v) {
  if (Array.isArray(v)) return v.map(canon);
  if (isObj(v)) return Object.fromEntries(Object.keys(v).sort().filter((k) => v[k] !== undefined).map((k) => [k, canon(v[k])]));
  return v;
}
function strip(m) {
  const { jsonrpc, ...rest } = m;
  return jsonrpc === "2.0" ? rest : m;
}
const resultOf = (s) => s.response?.result;
const toolOf = (s) => (s.request?.method === "tools/call" ? s.request.params?.name : undefined);
const isErrorResult = (s) => resultOf(s)?.isError === true;
const toolText = (s) => resultOf(s)?.content?.[0]?.text;
function typeOnly(o) {
  if (!isObj(o)) return o;
  return Object.fromEntries(Object.entries(o).map(([k, v]) => [k, typeof v === "string" ? "<string>" : v]));
}
function mapResult(s, fn) {
  if (!s.response?.result) return s;
  return { ...s, response: { ...s.response, result: fn(s.response.result) } };
}
// Applies fn to the text of content[0] and to structuredContent.content.
function mapToolText(s, fn) {
  return mapResult(s, (r) => {
    const out = { ...r };
    if (Array.isArray(r.content) && typeof r.content[0]?.text === "string")
      out.content = [{ ...r.content[0], text: fn(r.content[0].text) }, ...r.content.slice(1)];
    if (isObj(r.structuredContent) && typeof r.structuredContent.content === "string")
      out.structuredContent = { ...r.structuredContent, content: fn(r.structuredContent.content) };
    return out;
  });
}
const sortLines = (t) => t.split("\n").sort().join("\n");
function sortTree(t) {
  let v;
  try {
    v = JSON.parse(t);
  } catch {
    return t; // not JSON: compared as it is
  }
  const walk = (xs) => Array.isArray(xs)
    ? [...xs].map((x) => (isObj(x) && Array.isArray(x.children) ? { ...x, children: walk(x.children) } : x))
      .sort((p, q) => (String(p?.name) < String(q?.name) ? -1 : String(p?.name) > String(q?.name) ? 1 : 0))
    : xs;
  return JSON.stringify(walk(v), null, 2);
}
const findStep = (t, id) => t.steps.find((s) => s.id === id);
async function waitFor(pred, ms) {
  const deadline = Date.now() + ms;
  while (!pred() && Date.now() < deadline) await sleep(20);
}

function usage(msg) {
  if (msg) console.error(`compare.mjs: ${msg}`);
  console.error("usage: node compare.mjs record OUT.json [--fix DIR] [--outside DIR] -- COMMAND ARGS...\n" +
    "       node compare.mjs diff REF.json CUSTODY.json\n" +
    "       node compare.mjs call TOOL JSON_ARGS -- COMMAND ARGS...");
  process.exit(2);
}

function splitCommand(argv) {
  const i = argv.indexOf("--");
  if (i < 0 || i === argv.length - 1) usage("missing -- COMMAND");
  return [argv.slice(0, i), argv.slice(i + 1)];
}

async function main() {
  const [mode, ...rest] = process.argv.slice(2);
  if (mode === "diff") {
    if (rest.length !== 2) usage("diff takes two transcripts");
    process.exit(diff(rest[0], rest[1]));
  }
  if (mode === "record") {
    const [opts, command] = splitCommand(rest);
    const out = opts.shift();
    if (!out) usage("record needs OUT.json");
    let fix = command[command.length - 1];
    let outside = null;
    while (opts.length) {
      const o = opts.shift();
      if (o === "--fix") fix = opts.shift();
      else if (o === "--outside") outside = opts.shift();
      else usage(`unknown option ${o}`);
    }
    fix = path.resolve(fix);
    outside = path.resolve(outside ?? path.join(fix, "..", "outside"));
    const R = new Recorder(command);
    const t0 = Date.now();
    await scenario(R, fix, outside);
    const transcript = {
      format: "custody-mcp-transcript/1",
      recorded: { command, fix, outside, node: process.version, seconds: (Date.now() - t0) / 1000 },
      normalisations: NORMALISATIONS.map(({ name, reason }) => ({ name, reason })),
      steps: R.steps,
      custody_only: R.custodyOnly,
      stderr_tail: R.stderr.join("").split("\n").slice(-40).join("\n"),
    };
    writeFileSync(out, `${JSON.stringify(transcript, null, 2)}\n`);
    console.log(`recorded ${R.steps.length} exchanges + ${R.custodyOnly.length} custody-only checks in ${out} (${transcript.recorded.seconds} s)`);
    process.exit(0);
  }
  if (mode === "call") {
    const [opts, command] = splitCommand(rest);
    if (opts.length !== 2) usage("call takes TOOL JSON_ARGS");
    const R = new Recorder(command);
    await R.start(null);
    await R.tool("call", opts[0], JSON.parse(opts[1]));
    await R.stop();
    const s = R.steps[0];
    if (!s.response?.result) {
      console.log(JSON.stringify(s, null, 2));
      process.exit(1);
    }
    console.log(JSON.stringify(s.response.result, null, 2));
    process.exit(0);
  }
  usage(mode ? `unknown mode ${mode}` : undefined);
}

main().catch((e) => {
  console.error(`compare.mjs: ${e?.stack ?? e}`);
  process.exit(1);
});
