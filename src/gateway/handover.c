/*
 * handover.c — descriptors custodyd hands to a loader.
 *
 * A model load (models_api.c) decides, checks and records the load, then opens the
 * checked objects itself. Their descriptors wait here under a one-time ticket, which the
 * load's answer carries (after its event is durable, like every answer). The loader
 * redeems the ticket on the Unix socket with
 *
 *     GET /v1/handover/TICKET
 *
 * and receives the descriptors as SCM_RIGHTS with the answer {"fds": N} (http.h). So an
 * agent loads a model whose files it cannot read (custodyd runs as another user), and what
 * it maps is exactly what custodyd checked.
 *
 * A ticket is 128 random bits, redeemable once, by a peer of the same uid as the loader
 * that asked, within HANDOVER_TTL_S seconds. Unredeemed tickets are bounded three ways,
 * the oldest going first: HANDOVER_MAX in all; HANDOVER_PER_UID of one uid, so one user's
 * loads cannot push out another's; HANDOVER_MAX_FDS descriptors in all, so they cannot
 * exhaust custodyd's own. Redeeming delivers a load already decided and recorded, so it
 * adds no event of its own; a refused redemption is recorded (action model.handover).
 */
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"

#define HANDOVER_TTL_S 30
#define HANDOVER_MAX 64
#define HANDOVER_PER_UID 16
#define HANDOVER_MAX_FDS 4096 /* descriptors held for all tickets together */

struct gw_handover {
    struct gw_handover *next;
    uint8_t id[16];
    uid_t uid;
    uint64_t expires_ns; /* monotonic */
    int *fds;
    size_t n;
};

static void handover_free(struct gw_handover *h)
{
    for (size_t i = 0; i < h->n; i++)
        if (h->fds[i] >= 0) close(h->fds[i]);
    free(h->fds);
    free(h);
}

/* Drops expired tickets, and the oldest ones while more than keep wait. */
static void prune(struct gateway *gw, size_t keep)
{
    uint64_t now = util_monotonic_ns();
    struct gw_handover **pp = &gw->handovers;
    while (*pp) { /* newest first: everything past an expired one is older */
        if ((*pp)->expires_ns <= now) break;
        pp = &(*pp)->next;
    }
    while (*pp) {
        struct gw_handover *h = *pp;
        *pp = h->next;
        handover_free(h);
        gw->nhandovers--;
    }
    while (gw->nhandovers > keep) {
        pp = &gw->handovers;
        while ((*pp)->next)
            pp = &(*pp)->next;
        handover_free(*pp);
        *pp = NULL;
        gw->nhandovers--;
    }
}

static size_t held_fds(const struct gateway *gw)
{
    size_t k = 0;
    for (const struct gw_handover *h = gw->handovers; h; h = h->next)
        k += h->n;
    return k;
}

/* Drops uid's oldest tickets while it has keep or more. */
static void prune_uid(struct gateway *gw, uid_t uid, size_t keep)
{
    for (;;) {
        size_t count = 0;
        struct gw_handover **oldest = NULL;
        for (struct gw_handover **pp = &gw->handovers; *pp; pp = &(*pp)->next)
            if ((*pp)->uid == uid) {
                count++;
                oldest = pp; /* newest first: the last one seen is the oldest */
            }
        if (count < keep || !oldest) return;
        struct gw_handover *h = *oldest;
        *oldest = h->next;
        handover_free(h);
        gw->nhandovers--;
    }
}

int gw_handover_put(struct gateway *gw, const struct http_req *req, int *fds, size_t n,
                    char ticket[GW_TICKET_HEX_LEN + 1])
{
    if (!http_req_can_pass_fds(req) || n > HTTP_PASS_FDS_MAX) return CUSTODY_EUNSUPPORTED;
    struct gw_handover *h = util_calloc(1, sizeof *h);
    if (RAND_bytes(h->id, sizeof h->id) != 1) {
        free(h);
        return CUSTODY_EINTERNAL;
    }
    prune(gw, HANDOVER_MAX - 1);
    prune_uid(gw, req->peer->uid, HANDOVER_PER_UID);
    while (gw->handovers && held_fds(gw) + n > HANDOVER_MAX_FDS)
        prune(gw, gw->nhandovers - 1);
    h->uid = req->peer->uid;
    h->expires_ns = util_monotonic_ns() + HANDOVER_TTL_S * 1000000000ull;
    h->fds = util_calloc(n ? n : 1, sizeof *fds);
    memcpy(h->fds, fds, n * sizeof *fds);
    h->n = n;
    h->next = gw->handovers;
    gw->handovers = h;
    gw->nhandovers++;
    util_hex_encode(h->id, sizeof h->id, ticket);
    return 0;
}

void gw_handover_free_all(struct gateway *gw)
{
    prune(gw, 0);
}

static void refuse(struct http_req *req, int err, const char *msg)
{
    gw_audit_action(req, "model.handover", NULL, NULL);
    gw_error(req, err, "%s", msg);
}

void gw_handover(struct gateway *gw, struct http_req *req, const char *rest, size_t len)
{
    if (req->method != HTTP_GET) {
        http_resp_header(req, "allow", "GET");
        refuse(req, CUSTODY_EMETHOD, "use GET");
        return;
    }
    if (!http_req_can_pass_fds(req)) {
        refuse(req, CUSTODY_EUNSUPPORTED,
               "descriptors are handed over on custodyd's Unix socket, over HTTP/1.1");
        return;
    }
    uint8_t id[16];
    if (len != GW_TICKET_HEX_LEN || util_hex_decode(rest, len, id) != 0) {
        refuse(req, CUSTODY_EINVAL, "malformed handover ticket");
        return;
    }
    prune(gw, HANDOVER_MAX);
    struct gw_handover **pp = &gw->handovers;
    while (*pp && CRYPTO_memcmp((*pp)->id, id, sizeof id) != 0)
        pp = &(*pp)->next;
    struct gw_handover *h = *pp;
    /* another uid than the loader's is told the same as an unknown ticket */
    if (!h || h->uid != req->peer->uid) {
        refuse(req, CUSTODY_ENOENT, "no such handover ticket (used, expired, or not yours)");
        return;
    }
    *pp = h->next;
    gw->nhandovers--;
    char body[64];
    int bl = snprintf(body, sizeof body, "{\"fds\":%zu}\n", h->n);
    gw_call_abandon(req); /* delivery of a load already recorded */
    http_resp_header(req, "content-type", "application/json");
    http_resp_header(req, "cache-control", "no-store");
    if (http_resp_send_fds(req, 200, body, (size_t)bl, h->fds, h->n) == 0) {
        h->n = 0; /* the connection owns them now */
    } else {
        http_resp_error(req, CUSTODY_EINTERNAL, "the descriptors could not be handed over");
    }
    handover_free(h);
}
