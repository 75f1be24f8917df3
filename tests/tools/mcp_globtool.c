/*
 * mcp_globtool — driver for tests/mcp/glob_check.mjs (not built by CMake).
 *
 * Reads lines "PATTERN<TAB>PATH" from stdin (split at the first tab; the
 * line ends at '\n', so neither may contain a tab or a newline) and prints
 * one line per input: "1" when mcp_glob_match(PATTERN, PATH), "0" when
 * not, "E" when minimatch would throw for PATTERN (mcp_glob_error). With
 * -m, an "E" is followed by a space and minimatch's exception message.
 *
 *   gcc -std=gnu17 -O2 -Wall -Wextra -Werror -Iinclude -Isrc \
 *       tests/tools/mcp_globtool.c src/mcp/glob.c src/util/strbuf.c \
 *       -o build-mcpglob/mcp_globtool
 *   node tests/mcp/glob_check.mjs build-mcpglob/mcp_globtool 20000
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mcp/glob.h"

int main(int argc, char **argv)
{
    bool messages = argc > 1 && strcmp(argv[1], "-m") == 0;
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    while ((len = getline(&line, &cap, stdin)) >= 0) {
        if (len && line[len - 1] == '\n') line[--len] = '\0';
        char *tab = strchr(line, '\t');
        if (!tab) {
            puts("0");
            continue;
        }
        *tab = '\0';
        struct mcp_glob *g = mcp_glob_compile(line);
        if (mcp_glob_error(g) && messages)
            printf("E %s\n", mcp_glob_error(g));
        else if (mcp_glob_error(g))
            puts("E");
        else
            puts(mcp_glob_test(g, tab + 1) ? "1" : "0");
        mcp_glob_free(g);
    }
    free(line);
    return 0;
}
