/*
 * glob.h — minimatch-compatible glob matching for custody mcp.
 *
 * The reference MCP filesystem server matches relative paths with
 * minimatch(relativePath, pattern, { dot: true }) (minimatch 10.2.x on
 * POSIX). These functions give the same answers: `*`, `?`, `[...]` classes
 * (ranges, `!`/`^`, POSIX classes such as [[:alpha:]]), backslash escapes,
 * `**` (one whole path segment; never matches "." or ".."), brace expansion
 * ({a,b}, {1..3}, {a..e..2}), extglobs (+(a|b) *(a|b) ?(a|b) @(a|b) !(a|b)),
 * a leading `!` (negation; "!!" cancels), `#` comments (match nothing),
 * repeated slashes, trailing-slash rules and the empty pattern (matches only
 * the empty path), including minimatch's documented and undocumented
 * quirks. Paths are relative, '/'-separated, UTF-8 (invalid bytes read as
 * U+FFFD, as Node does); "" is the directory itself.
 *
 * Bounds (the pattern is client-controlled): a pattern over
 * MCP_GLOB_MAX_PATTERN bytes, one whose braces expand to more than
 * MCP_GLOB_MAX_BRACE alternatives (or nest deeper than 64, or need more
 * than 64 "{a},b}" rewrites in one set), one with extglobs nested deeper
 * than 256, or one whose compiled form would be too large (about 32 Ki
 * regexp units for one path segment, 1 Mi for the whole pattern; in
 * practice only chains of eleven or more !(...) in one segment, or
 * hundreds of long brace alternatives, get there) matches nothing,
 * negated or not. minimatch itself would take seconds or gigabytes on most
 * of these, or throw. Matching is polynomial: segment regexps run as a
 * backward NFA pass (lookaheads included) and `**` sections are matched by
 * dynamic programming.
 *
 * Where minimatch throws (a generated RegExp is invalid, e.g. "[[:alpha:]]-x"
 * or "!()*()"), the pattern matches nothing and mcp_glob_error() returns the
 * message minimatch's exception carries.
 */
#ifndef CUSTODY_MCP_GLOB_H
#define CUSTODY_MCP_GLOB_H

#include <stdbool.h>

#define MCP_GLOB_MAX_PATTERN 4096 /* bytes */
#define MCP_GLOB_MAX_BRACE 1024   /* alternatives from brace expansion */

struct mcp_glob;

/* Compiles pattern (NUL-terminated UTF-8). Never NULL for a non-NULL pattern
 * (aborts on OOM); NULL for NULL. */
struct mcp_glob *mcp_glob_compile(const char *pattern);

/* minimatch(path, pattern, { dot: true }). false for g == NULL or path == NULL.
 * Thread-safe: g is not modified. */
bool mcp_glob_test(const struct mcp_glob *g, const char *path);

/* When minimatch would throw for this pattern: its message, e.g.
 * "Invalid regular expression: /^...$/u: Invalid escape". NULL otherwise
 * (also for patterns that only exceed custody's bounds). */
const char *mcp_glob_error(const struct mcp_glob *g);

/* true when the pattern exceeded one of the bounds above (matches nothing). */
bool mcp_glob_limited(const struct mcp_glob *g);

void mcp_glob_free(struct mcp_glob *g);

/* minimatch(path, pattern, { dot: true }) on POSIX: returns true when path
 * matches (compile + test + free). */
bool mcp_glob_match(const char *pattern, const char *path);

#endif
