/*
 * loadgen: a closed-loop HTTP/1.1 load generator for emberd's Unix socket, built on libuv.
 *
 * N keep-alive connections each send one request (the same bytes every time: a request line,
 * headers and a body read from a file), wait for the whole answer, and send the next, for a
 * duration or a total count. Each answer's latency (write to last byte) is recorded; the end
 * reports requests/s, latency percentiles and answers by status, plus connections the daemon
 * closed. With --hold it instead opens N connections, sends nothing for a while, then asks
 * once on every connection still open, to show the daemon holds idle connections and still
 * answers on them. A benchmark program, run by daemon_bench.sh; not part of the test command.
 */
#include <errno.h>
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <uv.h>

#define LOADGEN_MAX_CONNECTIONS 65536
#define LOADGEN_MAX_HEADERS 16
#define LOADGEN_READ_CHUNK (64 * 1024)
/* Connections started per millisecond, and how often one whose connect found the daemon's
 * listen backlog full (EAGAIN on a Unix socket) tries again, a millisecond apart. */
#define LOADGEN_CONNECTS_PER_MS 32
#define LOADGEN_CONNECT_RETRIES 2000
/* An answer bigger than this is counted as an error and its connection dropped. */
#define LOADGEN_MAX_RESPONSE (64 * 1024 * 1024)

typedef struct loadgen loadgen;

typedef struct lconn {
    loadgen *lg;
    uv_pipe_t pipe;
    uv_connect_t connect;
    uv_write_t write;
    char *buf; /* the answer read so far */
    size_t len, cap;
    uint64_t sent_ns; /* when the request being answered was written */
    int open;         /* connected and not yet closed */
    int busy;         /* a request is out */
    int done;         /* requests this connection has had answered */
    int retries;      /* connects that found the backlog full */
} lconn;

struct loadgen {
    uv_loop_t *loop;
    uv_timer_t timer;
    uv_timer_t pacer; /* starts connects a few at a time */
    int *pending;     /* connections waiting to (re)connect, a FIFO */
    int npending, pending_head;
    const char *socket_path;
    char *request; /* the bytes sent for every request */
    size_t request_len;
    int nconns;
    lconn *conns;
    double duration_s;  /* 0: stop by count */
    long long max_reqs; /* 0: stop by time */
    int warmup;         /* answers per connection not recorded */
    double hold_s;      /* --hold: idle this long, then one request per connection */
    int stopping;       /* no new requests */
    long long issued;   /* requests sent (warm-up included) */
    uint64_t start_ns;  /* end of warm-up on the first connection, or of connecting */
    uint64_t end_ns;
    uint64_t *lat_ns; /* recorded latencies */
    size_t nlat, caplat;
    long long status[600];
    long long conn_errors; /* connect failures, resets, malformed answers */
    long long peer_closed; /* connections the daemon closed */
    int connected;
    int connect_failed;
};

static uint64_t now_ns(void)
{
    return uv_hrtime();
}

static void lconn_send(lconn *c);
static void on_close(uv_handle_t *h);

static void lconn_drop(lconn *c)
{
    if (!c->open)
        return;
    c->open = 0;
    c->busy = 0;
    uv_close((uv_handle_t *)&c->pipe, on_close);
}

static void on_close(uv_handle_t *h)
{
    (void)h;
}

static int lg_running(const loadgen *lg)
{
    for (int i = 0; i < lg->nconns; i++)
        if (lg->conns[i].busy)
            return 1;
    return 0;
}

/* Every connection is idle and no new request will go out: close them all. */
static void lg_finish_if_idle(loadgen *lg)
{
    if (!lg->stopping || lg_running(lg))
        return;
    if (!lg->end_ns)
        lg->end_ns = now_ns();
    for (int i = 0; i < lg->nconns; i++)
        lconn_drop(&lg->conns[i]);
    if (!uv_is_closing((uv_handle_t *)&lg->timer))
        uv_close((uv_handle_t *)&lg->timer, NULL);
    if (!uv_is_closing((uv_handle_t *)&lg->pacer))
        uv_close((uv_handle_t *)&lg->pacer, NULL);
}

static void record(loadgen *lg, lconn *c, int status)
{
    uint64_t t = now_ns();
    c->done++;
    if (lg->hold_s == 0 && c->done <= lg->warmup)
        return;
    if (!lg->start_ns)
        lg->start_ns = c->sent_ns;
    if (status >= 100 && status < 600)
        lg->status[status]++;
    else
        lg->conn_errors++;
    if (lg->nlat == lg->caplat) {
        size_t cap = lg->caplat ? lg->caplat * 2 : 65536;
        uint64_t *p = realloc(lg->lat_ns, cap * sizeof *p);
        if (!p) {
            fprintf(stderr, "loadgen: out of memory\n");
            exit(1);
        }
        lg->lat_ns = p;
        lg->caplat = cap;
    }
    lg->lat_ns[lg->nlat++] = t - c->sent_ns;
}

/* Parse one complete answer at the head of c->buf. Returns its length, 0 when incomplete,
 * -1 when malformed; *status gets the status code. */
static long long parse_response(const lconn *c, int *status)
{
    const char *b = c->buf;
    size_t n = c->len;
    const char *end = NULL;
    for (size_t i = 3; i < n; i++) {
        if (b[i] == '\n' && b[i - 1] == '\r' && b[i - 2] == '\n' && b[i - 3] == '\r') {
            end = b + i + 1;
            break;
        }
    }
    if (!end)
        return n > 64 * 1024 ? -1 : 0;
    if (n < 12 || memcmp(b, "HTTP/1.", 7) != 0)
        return -1;
    *status = atoi(b + 9);
    long long clen = 0;
    for (const char *p = b; p < end; p++) {
        if (p[0] == '\n' && strncasecmp(p + 1, "content-length:", 15) == 0) {
            clen = strtoll(p + 16, NULL, 10);
            break;
        }
    }
    if (clen < 0 || clen > LOADGEN_MAX_RESPONSE)
        return -1;
    long long total = (end - b) + clen;
    return (size_t)total <= n ? total : 0;
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    lconn *c = h->data;
    (void)suggested;
    if (c->cap - c->len < LOADGEN_READ_CHUNK) {
        size_t cap = c->cap + LOADGEN_READ_CHUNK * 2;
        char *p = realloc(c->buf, cap);
        if (!p) {
            buf->base = NULL;
            buf->len = 0;
            return;
        }
        c->buf = p;
        c->cap = cap;
    }
    buf->base = c->buf + c->len;
    buf->len = c->cap - c->len;
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    lconn *c = s->data;
    loadgen *lg = c->lg;
    (void)buf;
    if (nread < 0) {
        if (nread == UV_EOF)
            lg->peer_closed++;
        else
            lg->conn_errors++;
        if (c->busy)
            lg->conn_errors++;
        lconn_drop(c);
        lg_finish_if_idle(lg);
        return;
    }
    c->len += (size_t)nread;
    if (!c->busy) {
        if (c->len) { /* bytes nobody asked for */
            lg->conn_errors++;
            lconn_drop(c);
        }
        return;
    }
    int status = 0;
    long long used = parse_response(c, &status);
    if (used == 0)
        return;
    if (used < 0) {
        lg->conn_errors++;
        lconn_drop(c);
        lg_finish_if_idle(lg);
        return;
    }
    memmove(c->buf, c->buf + used, c->len - (size_t)used);
    c->len -= (size_t)used;
    c->busy = 0;
    record(lg, c, status);
    if (lg->hold_s > 0) {
        lg_finish_if_idle(lg);
        return;
    }
    lconn_send(c);
}

static void on_write(uv_write_t *w, int status)
{
    lconn *c = w->data;
    if (status < 0 && c->open) {
        c->lg->conn_errors++;
        lconn_drop(c);
        lg_finish_if_idle(c->lg);
    }
}

static void lconn_send(lconn *c)
{
    loadgen *lg = c->lg;
    if (!c->open || lg->stopping)
        goto idle;
    if (lg->max_reqs && lg->issued >= lg->max_reqs + (long long)lg->warmup * lg->nconns) {
        lg->stopping = 1;
        goto idle;
    }
    lg->issued++;
    c->busy = 1;
    c->sent_ns = now_ns();
    uv_buf_t b = uv_buf_init(lg->request, (unsigned)lg->request_len);
    c->write.data = c;
    int rc = uv_write(&c->write, (uv_stream_t *)&c->pipe, &b, 1, on_write);
    if (rc < 0) {
        lg->conn_errors++;
        lconn_drop(c);
        goto idle;
    }
    return;
idle:
    lg_finish_if_idle(lg);
}

static void on_connect(uv_connect_t *req, int status);

static void on_retry_close(uv_handle_t *h)
{
    lconn *c = h->data;
    loadgen *lg = c->lg;
    lg->pending[(lg->pending_head + lg->npending++) % lg->nconns] = (int)(c - lg->conns);
}

static void on_pace(uv_timer_t *t)
{
    loadgen *lg = t->data;
    for (int k = 0; k < LOADGEN_CONNECTS_PER_MS && lg->npending; k++) {
        lconn *c = &lg->conns[lg->pending[lg->pending_head]];
        lg->pending_head = (lg->pending_head + 1) % lg->nconns;
        lg->npending--;
        uv_pipe_init(lg->loop, &c->pipe, 0);
        c->pipe.data = c;
        c->connect.data = c;
        uv_pipe_connect(&c->connect, &c->pipe, lg->socket_path, on_connect);
    }
}

static void on_connect(uv_connect_t *req, int status)
{
    lconn *c = req->data;
    loadgen *lg = c->lg;
    if (status == UV_EAGAIN && !lg->stopping && c->retries++ < LOADGEN_CONNECT_RETRIES) {
        uv_close((uv_handle_t *)&c->pipe, on_retry_close);
        return;
    }
    if (status < 0) {
        fprintf(stderr, "loadgen: connect %s: %s\n", lg->socket_path, uv_strerror(status));
        lg->connect_failed++;
        uv_close((uv_handle_t *)&c->pipe, on_close);
        if (lg->connect_failed == lg->nconns) {
            lg->stopping = 1;
            lg_finish_if_idle(lg);
        }
        return;
    }
    c->open = 1;
    lg->connected++;
    uv_read_start((uv_stream_t *)&c->pipe, on_alloc, on_read);
    if (lg->hold_s == 0)
        lconn_send(c);
}

static void on_timer(uv_timer_t *t)
{
    loadgen *lg = t->data;
    if (lg->hold_s > 0) {
        /* The hold is over: one request on every connection still open. */
        lg->start_ns = now_ns();
        for (int i = 0; i < lg->nconns; i++) {
            lconn *c = &lg->conns[i];
            if (c->open)
                lconn_send(c);
        }
        lg->stopping = 1;
        lg_finish_if_idle(lg);
        return;
    }
    lg->stopping = 1;
    lg_finish_if_idle(lg);
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* Linear interpolation between sorted samples, as emberctl bench does. */
static double pct_us(const uint64_t *v, size_t n, double p)
{
    if (!n)
        return 0;
    double pos = p * (double)(n - 1);
    size_t i = (size_t)pos;
    double f = pos - (double)i;
    double x = (double)v[i];
    if (i + 1 < n)
        x += f * ((double)v[i + 1] - (double)v[i]);
    return x / 1000.0;
}

static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "loadgen: %s: %s\n", path, strerror(errno));
        return NULL;
    }
    size_t cap = 1 << 16, n = 0;
    char *b = malloc(cap);
    size_t r;
    while (b && (r = fread(b + n, 1, cap - n, f)) > 0) {
        n += r;
        if (n == cap) {
            char *p = realloc(b, cap *= 2);
            if (!p)
                free(b);
            b = p;
        }
    }
    fclose(f);
    if (!b)
        fprintf(stderr, "loadgen: out of memory reading %s\n", path);
    *len = n;
    return b;
}

static void usage(FILE *out)
{
    fprintf(
        out,
        "Usage: loadgen --socket PATH [--path URL] [--body FILE] [--content-type TYPE]\n"
        "               [--header 'Name: value']... [--connections N]\n"
        "               [--duration SECONDS | --requests N] [--warmup N] [--hold SECONDS]\n"
        "\n"
        "  --socket PATH       emberd's Unix socket\n"
        "  --path URL          request target (default /v2/health/ready)\n"
        "  --body FILE         POST this file as the body (default: GET, no body)\n"
        "  --content-type T    Content-Type of the body (default application/json)\n"
        "  --header H          an extra header line, e.g. 'Inference-Header-Content-Length: 97'\n"
        "  --connections N     keep-alive connections (default 1)\n"
        "  --duration S        send for S seconds (default 5)\n"
        "  --requests N        or send N requests in all, over every connection\n"
        "  --warmup N          answers per connection not counted (default 0)\n"
        "  --hold S            open N connections, send nothing for S seconds, then one\n"
        "                      request on each one still open\n"
        "\n"
        "Prints a summary and a last line 'RESULT key=value ...' for scripts.\n");
}

int main(int argc, char **argv)
{
    loadgen lg;
    memset(&lg, 0, sizeof lg);
    lg.nconns = 1;
    lg.duration_s = 5;
    const char *path = "/v2/health/ready", *body_path = NULL;
    const char *ctype = "application/json";
    const char *headers[LOADGEN_MAX_HEADERS];
    int nheaders = 0;
    static const struct option opts[] = {
        {"socket", required_argument, NULL, 's'},   {"path", required_argument, NULL, 'p'},
        {"body", required_argument, NULL, 'b'},     {"content-type", required_argument, NULL, 't'},
        {"header", required_argument, NULL, 'H'},   {"connections", required_argument, NULL, 'c'},
        {"duration", required_argument, NULL, 'd'}, {"requests", required_argument, NULL, 'n'},
        {"warmup", required_argument, NULL, 'w'},   {"hold", required_argument, NULL, 'o'},
        {"help", no_argument, NULL, 'h'},           {NULL, 0, NULL, 0},
    };
    int ch;
    while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (ch) {
        case 's': lg.socket_path = optarg; break;
        case 'p': path = optarg; break;
        case 'b': body_path = optarg; break;
        case 't': ctype = optarg; break;
        case 'H':
            if (nheaders == LOADGEN_MAX_HEADERS) {
                fprintf(stderr, "loadgen: at most %d --header\n", LOADGEN_MAX_HEADERS);
                return 2;
            }
            headers[nheaders++] = optarg;
            break;
        case 'c': lg.nconns = atoi(optarg); break;
        case 'd':
            lg.duration_s = atof(optarg);
            lg.max_reqs = 0;
            break;
        case 'n':
            lg.max_reqs = atoll(optarg);
            lg.duration_s = 0;
            break;
        case 'w': lg.warmup = atoi(optarg); break;
        case 'o': lg.hold_s = atof(optarg); break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (!lg.socket_path || lg.nconns < 1 || lg.nconns > LOADGEN_MAX_CONNECTIONS ||
        lg.duration_s < 0 || lg.max_reqs < 0 || lg.warmup < 0 || lg.hold_s < 0 ||
        (lg.duration_s == 0 && lg.max_reqs == 0 && lg.hold_s == 0)) {
        usage(stderr);
        return 2;
    }

    size_t body_len = 0;
    char *body = NULL;
    if (body_path && !(body = read_file(body_path, &body_len)))
        return 1;
    size_t cap = 1024 + strlen(path) + strlen(ctype) + body_len;
    for (int i = 0; i < nheaders; i++)
        cap += strlen(headers[i]) + 2;
    lg.request = malloc(cap);
    if (!lg.request)
        return 1;
    int n = snprintf(lg.request, cap, "%s %s HTTP/1.1\r\nHost: localhost\r\n",
                     body ? "POST" : "GET", path);
    if (body)
        n += snprintf(lg.request + n, cap - (size_t)n,
                      "Content-Type: %s\r\nContent-Length: %zu\r\n", ctype, body_len);
    for (int i = 0; i < nheaders; i++)
        n += snprintf(lg.request + n, cap - (size_t)n, "%s\r\n", headers[i]);
    n += snprintf(lg.request + n, cap - (size_t)n, "\r\n");
    if (body)
        memcpy(lg.request + n, body, body_len);
    lg.request_len = (size_t)n + body_len;
    free(body);

    lg.loop = uv_default_loop();
    lg.conns = calloc((size_t)lg.nconns, sizeof *lg.conns);
    if (!lg.conns)
        return 1;
    lg.pending = malloc((size_t)lg.nconns * sizeof *lg.pending);
    if (!lg.pending)
        return 1;
    for (int i = 0; i < lg.nconns; i++) {
        lg.conns[i].lg = &lg;
        lg.pending[i] = i;
    }
    lg.npending = lg.nconns;
    uv_timer_init(lg.loop, &lg.pacer);
    lg.pacer.data = &lg;
    uv_timer_start(&lg.pacer, on_pace, 0, 1);
    uv_timer_init(lg.loop, &lg.timer);
    lg.timer.data = &lg;
    double secs = lg.hold_s > 0 ? lg.hold_s : lg.duration_s;
    if (secs > 0)
        uv_timer_start(&lg.timer, on_timer, (uint64_t)(secs * 1000), 0);
    uint64_t t0 = now_ns();
    uv_run(lg.loop, UV_RUN_DEFAULT);
    if (!lg.end_ns)
        lg.end_ns = now_ns();
    if (!lg.start_ns)
        lg.start_ns = t0;

    qsort(lg.lat_ns, lg.nlat, sizeof *lg.lat_ns, cmp_u64);
    double wall = (double)(lg.end_ns - lg.start_ns) / 1e9;
    long long ok = 0, bad = 0;
    for (int s = 0; s < 600; s++)
        if (s >= 200 && s < 300)
            ok += lg.status[s];
        else
            bad += lg.status[s];
    double rps = lg.hold_s > 0 || wall <= 0 ? 0 : (double)lg.nlat / wall;
    printf("connections %d (connected %d, failed %d, closed by the daemon %lld)\n", lg.nconns,
           lg.connected, lg.connect_failed, lg.peer_closed);
    printf("answers %zu in %.3f s: %.0f requests/s\n", lg.nlat, wall, rps);
    printf("latency us: p50 %.1f  p90 %.1f  p99 %.1f  max %.1f\n", pct_us(lg.lat_ns, lg.nlat, 0.50),
           pct_us(lg.lat_ns, lg.nlat, 0.90), pct_us(lg.lat_ns, lg.nlat, 0.99),
           pct_us(lg.lat_ns, lg.nlat, 1.0));
    printf("status:");
    for (int s = 0; s < 600; s++)
        if (lg.status[s])
            printf(" %d=%lld", s, lg.status[s]);
    printf("  connection errors=%lld\n", lg.conn_errors);
    printf("RESULT connections=%d connected=%d connect_failed=%d peer_closed=%lld answers=%zu "
           "sent=%lld ok=%lld non2xx=%lld conn_errors=%lld rps=%.0f p50_us=%.1f p90_us=%.1f "
           "p99_us=%.1f",
           lg.nconns, lg.connected, lg.connect_failed, lg.peer_closed, lg.nlat, lg.issued, ok, bad,
           lg.conn_errors, rps, pct_us(lg.lat_ns, lg.nlat, 0.50), pct_us(lg.lat_ns, lg.nlat, 0.90),
           pct_us(lg.lat_ns, lg.nlat, 0.99));
    for (int s = 0; s < 600; s++)
        if (lg.status[s])
            printf(" status_%d=%lld", s, lg.status[s]);
    printf("\n");
    uv_loop_close(lg.loop);
    free(lg.lat_ns);
    for (int i = 0; i < lg.nconns; i++)
        free(lg.conns[i].buf);
    free(lg.conns);
    free(lg.pending);
    free(lg.request);
    return lg.connect_failed || lg.conn_errors || bad ? 1 : 0;
}
