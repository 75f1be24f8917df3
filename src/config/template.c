/*
 * template.c — the config.yaml that `custody init` writes: every setting at
 * its default with a one-line comment, so the file documents itself. A unit
 * test checks that it parses with no errors to exactly config_new_default().
 */
#include <string.h>

#include "config/config.h"

static const char template_head[] =
    "# custodyd configuration (written by `custody init`).\n"
    "#\n"
    "# Every setting is shown at its default. Relative paths are relative to the\n"
    "# state directory, the one holding this file. custodyd re-reads this file and\n"
    "# roots.yaml on SIGHUP; a file with any error is not applied (the errors are\n"
    "# logged and the running configuration stays). Changes to listen.* need a\n"
    "# restart. See docs/config.md.\n"
    "\n"
    "node:\n"
    "  # This node's name in status output and logs (default: the host name).\n"
    "  name: ";

static const char template_rest[] =
    "\n"
    "\n"
    "listen:\n"
    "  unix:\n"
    "    # The API socket (HTTP/1.1 and HTTP/2 with prior knowledge).\n"
    "    path: custodyd.sock\n"
    "    # Permission bits of the socket, octal, at most 0777.\n"
    "    mode: \"0660\"\n"
    "  tcp:\n"
    "    # HTTPS (HTTP/1.1 and HTTP/2) over TCP. Only agents get past it: each\n"
    "    # connection proves an enrolled agent's key, bound to the TLS channel\n"
    "    # (docs/authz.md); everything else gets 401, except /v1/health and the\n"
    "    # read-only audit log mirror (/audit/).\n"
    "    enabled: true\n"
    "    # Address to listen on when enabled: an IP address or a host name.\n"
    "    address: 127.0.0.1\n"
    "    # TCP port, 1..65535; 0 takes any free port (custodyd logs it).\n"
    "    port: 8443\n"
    "\n"
    "tls:\n"
    "  # Certificate chain (PEM) for the TCP listener; custody init makes a self-signed one.\n"
    "  cert: tls/cert.pem\n"
    "  # Its private key (PEM).\n"
    "  key: tls/key.pem\n"
    "\n"
    "limits:\n"
    "  # Largest request head (request line + headers) in bytes, 1024..1048576; over: 431.\n"
    "  max_header_bytes: 16384\n"
    "  # Most header fields in one request, 8..1000; over: 431.\n"
    "  max_headers: 100\n"
    "  # Longest request URI in bytes, 256..65536; over: 414.\n"
    "  max_uri_bytes: 8192\n"
    "  # Largest PUT body in bytes, 0..4611686018427387904 (16 GiB here); over: 413.\n"
    "  max_body_bytes: 17179869184\n"
    "  # Open connections at once, 1..1000000; more wait until one closes.\n"
    "  max_connections: 4096\n"
    "  # Concurrent HTTP/2 streams per connection, 1..1000.\n"
    "  max_streams: 128\n"
    "  # The whole request head must arrive within this many ms, 100..3600000; else 408.\n"
    "  header_timeout_ms: 10000\n"
    "  # An idle keep-alive connection is closed after this many ms, 100..86400000.\n"
    "  idle_timeout_ms: 60000\n"
    "  # No progress reading a body or writing a response for this many ms closes it, "
    "100..3600000.\n"
    "  io_timeout_ms: 30000\n"
    "  # On SIGTERM, wait this many ms for requests in flight, 0..3600000.\n"
    "  drain_timeout_ms: 30000\n"
    "  # Most entries in one directory listing, 1..10000000.\n"
    "  list_max_entries: 100000\n"
    "\n"
    "store:\n"
    "  # Keep the prior content of a file as a version on every write and delete.\n"
    "  versions: true\n"
    "\n"
    "log:\n"
    "  # One of error, warn, info, debug.\n"
    "  level: info\n"
    "\n"
    "audit:\n"
    "  # Checkpoint origin (a unique name for this log, no spaces). Default:\n"
    "  # custody/<node name>/<node key id>. Never change it once the log exists.\n"
    "  # origin: custody/example\n"
    "  # A signed checkpoint is published at most this many ms after an event, 10..600000.\n"
    "  checkpoint_interval_ms: 500\n"
    "  # Most events made durable by one journal write (group commit), 1..65536.\n"
    "  batch_max: 8192\n"
    "  # Identifiers written as hmac-sha256:<hex> with this log's key (custody audit hash).\n"
    "  pseudonymize:\n"
    "    principal_id: false\n"
    "    agent_id: false\n"
    "    session_id: false\n"
    "    # Paths under roots carrying a label with this key or value are pseudonymized.\n"
    "    root_label: phi\n";

void config_template(struct strbuf *out, const char *node_name)
{
    sb_puts(out, template_head);
    /* the host name is quoted: it is the one value that does not come from us */
    config_yaml_quote(out, node_name, strlen(node_name));
    sb_puts(out, template_rest);
}
