/*
 * mcp.h — `custody mcp`: a Model Context Protocol server on stdio that is a
 * drop-in replacement for the reference filesystem server
 * (@modelcontextprotocol/server-filesystem). Every tool call goes to
 * custodyd through libcustody, so it is decided by policy and recorded in
 * the audit ledger. See docs/mcp.md.
 */
#ifndef CUSTODY_MCP_H
#define CUSTODY_MCP_H

#include <stddef.h>

#include "custody/client.h"

struct mcp_server_opts {
    custody_client_t *client; /* talks to custodyd (as an agent when one is set) */
    char *const *dirs;        /* allowed directories given on the command line */
    size_t ndirs;
    int in_fd, out_fd; /* newline-delimited JSON-RPC (stdin, stdout) */
    /* Called when custodyd cannot be reached: start it again. 0 when it answers. */
    int (*revive)(void *arg);
    void *revive_arg;
};

/* Serves until in_fd reaches end of file. 0, or a negative CUSTODY_E* code
 * when the server could not start (no usable allowed directory...). */
int mcp_serve(const struct mcp_server_opts *opts);

#endif
