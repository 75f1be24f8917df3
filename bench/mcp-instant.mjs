#!/usr/bin/env node
// bench/mcp-instant.mjs — an MCP server that answers every tool call at once
// with a fixed 4 KiB text: no files, no policy, no log. Run in custody's
// place (BENCH_MCP_CUSTODY=instant bench/mcp.sh), it measures what the SDK
// client alone allows, the ceiling of any ratio in bench/mcp.mjs's closed
// loop (docs/decisions/0011-agent-surface-bars-vs-durability.md).
import readline from "node:readline";

const rl = readline.createInterface({ input: process.stdin });
const send = (o) => process.stdout.write(JSON.stringify(o) + "\n");
const text = "x".repeat(4095) + "\n";
rl.on("line", (line) => {
  let m;
  try {
    m = JSON.parse(line);
  } catch {
    return;
  }
  if (m.id === undefined) return; // notifications
  if (m.method === "initialize")
    send({ jsonrpc: "2.0", id: m.id, result: { protocolVersion: m.params.protocolVersion,
      capabilities: { tools: {} }, serverInfo: { name: "instant", version: "0" } } });
  else if (m.method === "tools/call") send({ jsonrpc: "2.0", id: m.id, result: { content: [{ type: "text", text }] } });
  else if (m.method === "tools/list") send({ jsonrpc: "2.0", id: m.id, result: { tools: [] } });
  else send({ jsonrpc: "2.0", id: m.id, result: {} });
});
