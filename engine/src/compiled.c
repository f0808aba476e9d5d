/*
 * The compiled model format (.ember): the IR written as fixed-width little-endian tables
 * followed by 64-byte aligned weights, so loading is a bounds-checked walk over the tables and
 * constants are used where they lie (in a read-only file mapping or the model's own copy).
 *
 * The byte layout is specified in docs/ember-format.md. The writer collects every graph (the
 * main graph, then the branches of If in depth-first order, so a parent always comes before
 * its subgraphs), builds the string table and the graph tables, then emits header, tables and
 * weights to a file or a buffer. The reader checks the header, the checksum and every offset
 * and count against the buffer before using it: a damaged file is EMBER_EFORMAT, never a crash.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "compiled.h"
#include "wmem.h"
#include "model.h"
#include "op.h"

#define GRAPH_REC 32
#define VALUE_REC 96
#define NODE_REC 48
#define ATTR_REC 24
#define TENSOR_REC 88
#define NO_PARENT 0xffffffffu
/* More graphs than this is not a model anyone wrote. */
#define MAX_GRAPHS 65536

/* ---- little-endian fixed-width fields ---- */

static void put_u32(unsigned char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static void put_u64(unsigned char *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static uint32_t get_u32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t get_u64(const unsigned char *p)
{
    return (uint64_t)get_u32(p) | (uint64_t)get_u32(p + 4) << 32;
}

static uint64_t align_up(uint64_t v)
{
    return (v + EG_COMPILED_ALIGN - 1) / EG_COMPILED_ALIGN * EG_COMPILED_ALIGN;
}

uint32_t eg_crc32(uint32_t crc, const void *buf, size_t len)
{
    /* Four bits at a time: a 16-entry table is fast enough for the tables it covers. */
    static const uint32_t nibble[16] = {
        0x00000000, 0x1db71064, 0x3b6e20c8, 0x26d930ac, 0x76dc4190, 0x6b6b51f4,
        0x4db26158, 0x5005713c, 0xedb88320, 0xf00f9344, 0xd6d6a3e8, 0xcb61b38c,
        0x9b64c2b0, 0x86d3d2d4, 0xa00ae278, 0xbdbdf21c,
    };
    const unsigned char *p = buf;
    crc = ~crc;
    for (size_t i = 0; i < len; i++) {
        crc ^= p[i];
        crc = (crc >> 4) ^ nibble[crc & 15];
        crc = (crc >> 4) ^ nibble[crc & 15];
    }
    return ~crc;
}

/* ---- writing ---- */

typedef struct wbuf {
    unsigned char *p;
    size_t len, cap;
    int oom;
} wbuf;

static unsigned char *wb_grow(wbuf *b, size_t n)
{
    if (b->oom)
        return NULL;
    if (b->cap - b->len < n) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap - b->len < n)
            cap *= 2;
        unsigned char *p = realloc(b->p, cap);
        if (!p) {
            b->oom = 1;
            return NULL;
        }
        b->p = p;
        b->cap = cap;
    }
    unsigned char *at = b->p + b->len;
    b->len += n;
    return at;
}

static void wb_bytes(wbuf *b, const void *src, size_t n)
{
    unsigned char *at = wb_grow(b, n);
    if (at && n)
        memcpy(at, src, n);
}

static void wb_u8(wbuf *b, unsigned v)
{
    unsigned char c = (unsigned char)v;
    wb_bytes(b, &c, 1);
}

static void wb_u32(wbuf *b, uint32_t v)
{
    unsigned char *at = wb_grow(b, 4);
    if (at)
        put_u32(at, v);
}

static void wb_u64(wbuf *b, uint64_t v)
{
    unsigned char *at = wb_grow(b, 8);
    if (at)
        put_u64(at, v);
}

/* A constant's bytes and where they go in the weights section. Packed weights a node
 * has not prepared (data NULL) are packed by fmt while they are written (writer_emit). */
typedef struct blob {
    const void *data;
    uint64_t off, size;
    const eg_node *node;
    const eg_graph *g;
    const eg_kdata_format *fmt;
} blob;

typedef struct writer {
    wbuf strs;     /* the string table */
    uint32_t *map; /* open-addressing set of string offsets, for sharing equal strings */
    size_t nmap, nused;
    wbuf tabs; /* the graph section */
    const eg_graph **graphs;
    int ngraphs, capgraphs;
    blob *blobs;
    size_t nblobs, capblobs;
    uint64_t wsize;
    int compact; /* no packed weights (ember_model_save_mem_compact) */
    /* Constants only packed nodes read, placed after everything else (writer_build). */
    struct later {
        size_t at; /* where the record's data_offset is in tabs */
        const void *data;
        uint64_t size;
    } *later;
    size_t nlater, caplater;
    ember_err *err;
} writer;

static uint64_t str_hash(const char *s)
{
    uint64_t h = 14695981039346656037ull;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

/* Offset of s in the string table, adding it if new; 0 (the empty string) on out of memory,
 * which the caller notices through strs.oom. */
static uint32_t str_ref(writer *w, const char *s)
{
    if (!s || !*s)
        return 0;
    if (w->nused * 2 >= w->nmap) {
        size_t n = w->nmap ? w->nmap * 2 : 1024;
        uint32_t *map = calloc(n, sizeof *map);
        if (!map) {
            w->strs.oom = 1;
            return 0;
        }
        for (size_t i = 0; i < w->nmap; i++) {
            if (!w->map[i])
                continue;
            size_t j = str_hash((const char *)w->strs.p + w->map[i]) & (n - 1);
            while (map[j])
                j = (j + 1) & (n - 1);
            map[j] = w->map[i];
        }
        free(w->map);
        w->map = map;
        w->nmap = n;
    }
    size_t j = str_hash(s) & (w->nmap - 1);
    for (; w->map[j]; j = (j + 1) & (w->nmap - 1))
        if (strcmp((const char *)w->strs.p + w->map[j], s) == 0)
            return w->map[j];
    size_t len = strlen(s) + 1;
    if (w->strs.len + len > UINT32_MAX) {
        w->strs.oom = 1;
        return 0;
    }
    uint32_t off = (uint32_t)w->strs.len;
    wb_bytes(&w->strs, s, len);
    if (w->strs.oom)
        return 0;
    w->map[j] = off;
    w->nused++;
    return off;
}

/* Reserve room for a constant in the weights section; its offset, or UINT64_MAX when out of
 * memory. */
static uint64_t weight_add(writer *w, const void *data, uint64_t size)
{
    if (w->nblobs == w->capblobs) {
        size_t cap = w->capblobs ? w->capblobs * 2 : 64;
        blob *b = realloc(w->blobs, cap * sizeof *b);
        if (!b)
            return UINT64_MAX;
        w->blobs = b;
        w->capblobs = cap;
    }
    uint64_t off = align_up(w->wsize);
    w->blobs[w->nblobs++] = (blob){.data = data, .off = off, .size = size, .g = NULL};
    w->wsize = off + size;
    return off;
}

static int collect_graphs(writer *w, const eg_graph *g)
{
    if (w->ngraphs == w->capgraphs) {
        int cap = w->capgraphs ? w->capgraphs * 2 : 8;
        const eg_graph **p = realloc(w->graphs, (size_t)cap * sizeof *p);
        if (!p)
            return ember_err_set(w->err, EMBER_ENOMEM, "out of memory");
        w->graphs = p;
        w->capgraphs = cap;
    }
    if (w->ngraphs >= MAX_GRAPHS)
        return ember_err_set(w->err, EMBER_EUNSUPPORTED, "more than %d graphs", MAX_GRAPHS);
    w->graphs[w->ngraphs++] = g;
    for (int i = 0; i < g->nnode; i++)
        for (int j = 0; j < g->node[i].nattr; j++)
            if (g->node[i].attr[j].kind == EG_ATTR_GRAPH && g->node[i].attr[j].g) {
                int rc = collect_graphs(w, g->node[i].attr[j].g);
                if (rc)
                    return rc;
            }
    return 0;
}

static uint32_t graph_index(const writer *w, const eg_graph *g)
{
    for (int i = 0; i < w->ngraphs; i++)
        if (w->graphs[i] == g)
            return (uint32_t)i;
    return NO_PARENT;
}

/* dtype, rank, dims[8], then the weights offset and size of data (a tensor record without
 * its leading name/kind fields is the same for values and tensor attributes). later: place
 * the data after everything else (its offset is filled in by writer_build). */
static int write_tensor(writer *w, ember_dtype dt, int rank, const int64_t *dims, const void *data,
                        const char *what, int later)
{
    int64_t bytes = eg_tensor_bytes(dt, rank, dims);
    if (bytes < 0)
        return ember_err_set(w->err, EMBER_EINVAL, "constant '%s' has an invalid shape", what);
    if (later && w->nlater == w->caplater) {
        size_t cap = w->caplater ? 2 * w->caplater : 64;
        struct later *l = realloc(w->later, cap * sizeof *l);
        if (!l)
            return ember_err_set(w->err, EMBER_ENOMEM, "out of memory");
        w->later = l;
        w->caplater = cap;
    }
    uint64_t off = later ? 0 : weight_add(w, data, (uint64_t)bytes);
    if (off == UINT64_MAX)
        return ember_err_set(w->err, EMBER_ENOMEM, "out of memory");
    for (int d = 0; d < EMBER_MAX_RANK; d++)
        wb_u64(&w->tabs, d < rank ? (uint64_t)dims[d] : 0);
    if (later)
        w->later[w->nlater++] = (struct later){w->tabs.len, data, (uint64_t)bytes};
    wb_u64(&w->tabs, off);
    wb_u64(&w->tabs, (uint64_t)bytes);
    return 0;
}

/* Per value of g, 1 when it is a constant that only nodes storing packed weights read, as
 * the weights they pack (a malloc'd array, NULL when out of memory). A load on a machine of
 * that layout never touches such a constant, so it goes to the end of the weights section,
 * away from the constants kernels do read (a page fault maps the pages around the one
 * touched, and those would then count as resident). */
static unsigned char *superseded(const writer *w, const eg_graph *g)
{
    enum { UNREAD, PACKED, READ };
    unsigned char *s = calloc((size_t)g->nval + 1, 1);
    for (int i = 0; s && i < g->nnode; i++) {
        const eg_node *n = &g->node[i];
        const eg_kdata_format *f = w->compact ? NULL : eg_kdata_format_best(n->domain, n->op);
        int packs = f && f->bytes(n, g) > 0;
        for (int j = 0; j < n->nattr; j++)
            if (n->attr[j].g) /* subgraphs read outer values too: keep every one in place */
                memset(s, READ, (size_t)g->nval);
        for (int j = 0; j < n->nin; j++)
            if (n->in[j] >= 0)
                s[n->in[j]] = j == 1 && packs && s[n->in[j]] != READ ? PACKED : READ;
    }
    for (int v = 0; s && v < g->nval; v++)
        s[v] = s[v] == PACKED && g->val[v].kind == EG_VAL_CONST && !g->val[v].is_output;
    return s;
}

static int write_attr(writer *w, const eg_node *n, const eg_attr *a)
{
    wbuf *b = &w->tabs;
    wb_u32(b, str_ref(w, a->name));
    wb_u32(b, (uint32_t)a->kind);
    int list = a->kind == EG_ATTR_FLOATS || a->kind == EG_ATTR_INTS || a->kind == EG_ATTR_STRINGS;
    wb_u32(b, list ? (uint32_t)a->n : 0);
    wb_u32(b, 0);
    switch (a->kind) {
    case EG_ATTR_FLOAT: {
        uint32_t bits;
        memcpy(&bits, &a->f, 4);
        wb_u64(b, bits);
        return 0;
    }
    case EG_ATTR_INT: wb_u64(b, (uint64_t)a->i); return 0;
    case EG_ATTR_STRING: wb_u64(b, str_ref(w, a->s)); return 0;
    case EG_ATTR_GRAPH: wb_u64(b, graph_index(w, a->g)); return 0;
    case EG_ATTR_FLOATS:
        wb_u64(b, 0);
        for (int i = 0; i < a->n; i++) {
            uint32_t bits;
            memcpy(&bits, &a->floats[i], 4);
            wb_u32(b, bits);
        }
        return 0;
    case EG_ATTR_INTS:
        wb_u64(b, 0);
        for (int i = 0; i < a->n; i++)
            wb_u64(b, (uint64_t)a->ints[i]);
        return 0;
    case EG_ATTR_STRINGS:
        wb_u64(b, 0);
        for (int i = 0; i < a->n; i++)
            wb_u32(b, str_ref(w, a->strings[i]));
        return 0;
    case EG_ATTR_TENSOR:
        wb_u64(b, 0);
        wb_u8(b, (unsigned)a->t.dtype);
        wb_u8(b, (unsigned)a->t.rank);
        wb_u8(b, 0);
        wb_u8(b, 0);
        wb_u32(b, 0);
        return write_tensor(w, a->t.dtype, a->t.rank, a->t.dims, a->t.data, a->name, 0);
    default:
        return ember_err_set(w->err, EMBER_EUNSUPPORTED,
                             "node '%s' (%s): attribute '%s' has kind %d, which the compiled "
                             "format does not hold",
                             n->name, n->op, a->name, a->kind);
    }
}

/* The kdata fields of a node record: the packed weights of the fastest kernel this build
 * has for n (what its prepare would leave), so a load on a machine running that layout
 * uses them in place; format 0 when there are none. */
static int write_kdata(writer *w, const eg_graph *g, const eg_node *n)
{
    const eg_kdata_format *fmt = w->compact ? NULL : eg_kdata_format_best(n->domain, n->op);
    int64_t bytes = fmt ? fmt->bytes(n, g) : 0;
    if (bytes <= 0) {
        wb_u32(&w->tabs, 0);
        wb_u32(&w->tabs, 0);
        wb_u64(&w->tabs, 0);
        wb_u64(&w->tabs, 0);
        return 0;
    }
    const eg_kdata_format *have = eg_kdata_format_of(n->impl);
    const void *data = n->kdata && have && have->id == fmt->id ? n->kdata : NULL;
    uint64_t off = weight_add(w, data, (uint64_t)bytes);
    if (off == UINT64_MAX)
        return ember_err_set(w->err, EMBER_ENOMEM, "out of memory");
    blob *b = &w->blobs[w->nblobs - 1];
    b->node = n;
    b->g = g;
    b->fmt = fmt;
    wb_u32(&w->tabs, fmt->id);
    wb_u32(&w->tabs, 0);
    wb_u64(&w->tabs, off);
    wb_u64(&w->tabs, (uint64_t)bytes);
    return 0;
}

static int write_graph(writer *w, const eg_graph *g)
{
    wbuf *b = &w->tabs;
    wb_u32(b, str_ref(w, g->name));
    wb_u32(b, g->parent ? graph_index(w, g->parent) : NO_PARENT);
    wb_u32(b, (uint32_t)g->opset);
    wb_u32(b, (uint32_t)g->nval);
    wb_u32(b, (uint32_t)g->nin);
    wb_u32(b, (uint32_t)g->nout);
    wb_u32(b, (uint32_t)g->nnode);
    wb_u32(b, 0);
    unsigned char *last = superseded(w, g);
    if (!last)
        return ember_err_set(w->err, EMBER_ENOMEM, "out of memory");
    int rc = 0;
    for (int i = 0; rc == 0 && i < g->nval; i++) {
        const eg_value *v = &g->val[i];
        wb_u32(b, str_ref(w, v->name));
        wb_u8(b, (unsigned)v->kind);
        wb_u8(b, (unsigned)v->dtype);
        wb_u8(b, (unsigned)(v->rank & 0xff));
        wb_u8(b, 0);
        wb_u32(b, v->kind == EG_VAL_OUTER ? (uint32_t)v->outer : 0xffffffffu);
        wb_u32(b, 0);
        if (v->kind == EG_VAL_CONST) {
            rc = write_tensor(w, v->dtype, v->rank, v->dims, v->data, v->name, last[i]);
        } else {
            for (int d = 0; d < EMBER_MAX_RANK; d++)
                wb_u64(b, d < v->rank ? (uint64_t)v->dims[d] : 0);
            wb_u64(b, 0);
            wb_u64(b, 0);
        }
    }
    free(last);
    if (rc)
        return rc;
    for (int i = 0; i < g->nin; i++)
        wb_u32(b, (uint32_t)g->in[i]);
    for (int i = 0; i < g->nout; i++)
        wb_u32(b, (uint32_t)g->out[i]);
    for (int i = 0; rc == 0 && i < g->nnode; i++) {
        const eg_node *n = &g->node[i];
        wb_u32(b, str_ref(w, n->op));
        wb_u32(b, str_ref(w, n->domain));
        wb_u32(b, str_ref(w, n->name));
        wb_u32(b, (uint32_t)n->nin);
        wb_u32(b, (uint32_t)n->nout);
        wb_u32(b, (uint32_t)n->nattr);
        rc = write_kdata(w, g, n);
        for (int j = 0; rc == 0 && j < n->nin; j++)
            wb_u32(b, (uint32_t)n->in[j]);
        for (int j = 0; rc == 0 && j < n->nout; j++)
            wb_u32(b, (uint32_t)n->out[j]);
        for (int j = 0; rc == 0 && j < n->nattr; j++)
            rc = write_attr(w, n, &n->attr[j]);
    }
    return rc;
}

static void writer_free(writer *w)
{
    free(w->strs.p);
    free(w->map);
    free(w->tabs.p);
    free(w->graphs);
    free(w->blobs);
    free(w->later);
}

/* Builds string table, graph tables and the weight list, then the header (hdr). */
static int writer_build(writer *w, const eg_graph *g, unsigned char hdr[EG_COMPILED_HEADER_SIZE],
                        uint64_t *file_size)
{
    wb_u8(&w->strs, 0); /* offset 0 is the empty string */
    int rc = collect_graphs(w, g);
    for (int i = 0; rc == 0 && i < w->ngraphs; i++)
        rc = write_graph(w, w->graphs[i]);
    for (size_t i = 0; rc == 0 && i < w->nlater; i++) {
        uint64_t off = weight_add(w, w->later[i].data, w->later[i].size);
        if (off == UINT64_MAX)
            rc = ember_err_set(w->err, EMBER_ENOMEM, "out of memory");
        else if (!w->tabs.oom)
            put_u64(w->tabs.p + w->later[i].at, off);
    }
    if (rc)
        return rc;
    if (w->strs.oom || w->tabs.oom)
        return ember_err_set(w->err, EMBER_ENOMEM, "out of memory writing the model tables");

    uint64_t strs_off = EG_COMPILED_HEADER_SIZE;
    uint64_t tabs_off = strs_off + w->strs.len;
    uint64_t weights_off = align_up(tabs_off + w->tabs.len);
    memset(hdr, 0, EG_COMPILED_HEADER_SIZE);
    memcpy(hdr, EG_COMPILED_MAGIC, EG_COMPILED_MAGIC_LEN);
    put_u32(hdr + 8, EG_COMPILED_VERSION);
    put_u32(hdr + 12, EG_COMPILED_HEADER_SIZE);
    put_u32(hdr + 16, 0);
    put_u64(hdr + 24, weights_off + w->wsize);
    put_u64(hdr + 32, strs_off);
    put_u64(hdr + 40, w->strs.len);
    put_u64(hdr + 48, tabs_off);
    put_u64(hdr + 56, w->tabs.len);
    put_u64(hdr + 64, weights_off);
    put_u64(hdr + 72, w->wsize);
    put_u32(hdr + 80, (uint32_t)w->ngraphs);
    put_u32(hdr + 84, (uint32_t)g->opset);

    static const unsigned char zeros[EG_COMPILED_ALIGN];
    uint32_t crc = eg_crc32(0, hdr, EG_COMPILED_HEADER_SIZE);
    crc = eg_crc32(crc, w->strs.p, w->strs.len);
    crc = eg_crc32(crc, w->tabs.p, w->tabs.len);
    crc = eg_crc32(crc, zeros, (size_t)(weights_off - tabs_off - w->tabs.len));
    put_u32(hdr + EG_COMPILED_CRC_OFFSET, crc);
    *file_size = weights_off + w->wsize;
    return 0;
}

/* Where the bytes go: a buffer (mem) or a file descriptor. */
typedef struct sink {
    unsigned char *mem;
    int fd;
    uint64_t pos;
} sink;

static int sink_put(sink *s, const void *p, size_t n)
{
    if (s->mem) {
        if (n)
            memcpy(s->mem + s->pos, p, n);
        s->pos += n;
        return 0;
    }
    const unsigned char *c = p;
    while (n) {
        ssize_t k = write(s->fd, c, n);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            return -1;
        c += k;
        n -= (size_t)k;
        s->pos += (uint64_t)k;
    }
    return 0;
}

static int sink_pad(sink *s, uint64_t to)
{
    static const unsigned char zeros[EG_COMPILED_ALIGN];
    while (s->pos < to) {
        size_t n = to - s->pos < sizeof zeros ? (size_t)(to - s->pos) : sizeof zeros;
        if (sink_put(s, zeros, n))
            return -1;
    }
    return 0;
}

/* 0, EMBER_EIO when the sink fails (errno tells why), or another error set in err. Packed
 * weights a node has not prepared are packed as its prepare would, into one scratch buffer
 * sized for the largest: the packed copies of a model being compiled are never all in memory
 * at once, and the scratch pages are faulted in once. */
static int writer_emit(const writer *w, const unsigned char *hdr, sink *s, ember_err *err)
{
    if (sink_put(s, hdr, EG_COMPILED_HEADER_SIZE) || sink_put(s, w->strs.p, w->strs.len) ||
        sink_put(s, w->tabs.p, w->tabs.len))
        return EMBER_EIO;
    uint64_t weights_off = get_u64(hdr + 64), most = 0;
    for (size_t i = 0; i < w->nblobs; i++)
        if (!w->blobs[i].data && w->blobs[i].node && w->blobs[i].size > most)
            most = w->blobs[i].size;
    eg_wmem *arena = most ? eg_wmem_new_arena((size_t)most) : NULL;
    void *scratch = arena ? eg_wmem_alloc(arena, (size_t)most) : NULL;
    if (most && !scratch) {
        eg_wmem_free(arena);
        return ember_err_set(err, EMBER_ENOMEM, "out of memory for %llu bytes of packed weights",
                             (unsigned long long)most);
    }
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < w->nblobs; i++) {
        const blob *b = &w->blobs[i];
        const void *data = b->data;
        if (!data && b->node) {
            b->fmt->pack(b->node, b->g, scratch);
            data = scratch;
        }
        if (sink_pad(s, weights_off + b->off) || sink_put(s, data, (size_t)b->size))
            rc = EMBER_EIO;
    }
    eg_wmem_free(arena);
    return rc;
}

static int save_mem(const ember_model *m, int compact, void **buf, size_t *len, ember_err *err)
{
    writer w = {.compact = compact, .err = err};
    unsigned char hdr[EG_COMPILED_HEADER_SIZE];
    uint64_t size;
    int rc = writer_build(&w, m->g, hdr, &size);
#if SIZE_MAX < UINT64_MAX
    if (rc == 0 && size > SIZE_MAX)
        rc = ember_err_set(err, EMBER_ENOMEM, "the compiled model does not fit in memory");
#endif
    unsigned char *p = NULL;
    if (rc == 0 && !(p = malloc((size_t)size)))
        rc = ember_err_set(err, EMBER_ENOMEM, "out of memory for %llu bytes",
                           (unsigned long long)size);
    if (rc == 0) {
        sink s = {.mem = p};
        rc = writer_emit(&w, hdr, &s, err);
    }
    if (rc == 0) {
        *buf = p;
        *len = (size_t)size;
    } else {
        free(p);
    }
    writer_free(&w);
    return rc;
}

int ember_model_save_mem(const ember_model *m, void **buf, size_t *len, ember_err *err)
{
    return save_mem(m, 0, buf, len, err);
}

int ember_model_save_mem_compact(const ember_model *m, void **buf, size_t *len, ember_err *err)
{
    return save_mem(m, 1, buf, len, err);
}

/* Flush the directory entry of path's directory so the rename survives a power cut. */
static void sync_dir_of(const char *path)
{
    char dir[4096];
    const char *slash = strrchr(path, '/');
    if (!slash)
        snprintf(dir, sizeof dir, ".");
    else if (slash == path)
        snprintf(dir, sizeof dir, "/");
    else
        snprintf(dir, sizeof dir, "%.*s", (int)(slash - path), path);
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
}

int ember_model_save(const ember_model *m, const char *path, ember_err *err)
{
    writer w = {.err = err};
    unsigned char hdr[EG_COMPILED_HEADER_SIZE];
    uint64_t size;
    int rc = writer_build(&w, m->g, hdr, &size);
    if (rc) {
        writer_free(&w);
        return rc;
    }
    char tmp[4096];
    if ((size_t)snprintf(tmp, sizeof tmp, "%s.tmp.XXXXXX", path) >= sizeof tmp) {
        writer_free(&w);
        return ember_err_set(err, EMBER_EINVAL, "path too long: %s", path);
    }
    int fd = mkstemp(tmp);
    if (fd < 0) {
        rc = ember_err_set(err, EMBER_EIO, "cannot create a temporary file next to %s: %s", path,
                           strerror(errno));
        writer_free(&w);
        return rc;
    }
    sink s = {.fd = fd};
    if (fchmod(fd, 0644) != 0 || (rc = writer_emit(&w, hdr, &s, err)) == EMBER_EIO ||
        (rc == 0 && fsync(fd) != 0))
        rc = ember_err_set(err, EMBER_EIO, "cannot write %s: %s", tmp, strerror(errno));
    if (close(fd) != 0 && rc == 0)
        rc = ember_err_set(err, EMBER_EIO, "cannot write %s: %s", tmp, strerror(errno));
    if (rc == 0 && rename(tmp, path) != 0)
        rc = ember_err_set(err, EMBER_EIO, "cannot rename %s to %s: %s", tmp, path,
                           strerror(errno));
    if (rc)
        unlink(tmp);
    else
        sync_dir_of(path);
    writer_free(&w);
    return rc;
}

/* ---- reading ---- */

typedef struct loader {
    const char *strs;
    uint64_t nstrs;
    const unsigned char *weights;
    uint64_t wsize;
    const unsigned char *p; /* the graph section, read front to back */
    size_t len, pos;
    int short_read; /* a read ran past the end of the graph section */
    eg_graph **graphs;
    int *claimed_by; /* per graph: the graph whose node holds it as an attribute, or -1 */
    uint32_t ngraphs;
    int opset;
    eg_wmem *wmem; /* where attribute tensors go (NULL: the heap) */
    ember_err *err;
} loader;

#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
static int corrupt(ember_err *err, const char *fmt, ...)
{
    if (err) {
        char msg[200];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, sizeof msg, fmt, ap);
        va_end(ap);
        ember_err_set(err, EMBER_EFORMAT, "corrupt compiled model: %s", msg);
    }
    return EMBER_EFORMAT;
}

static size_t left(const loader *ld)
{
    return ld->len - ld->pos;
}

static const unsigned char *take(loader *ld, size_t n)
{
    if (ld->short_read || left(ld) < n) {
        ld->short_read = 1;
        return NULL;
    }
    const unsigned char *p = ld->p + ld->pos;
    ld->pos += n;
    return p;
}

static uint32_t rd_u32(loader *ld)
{
    const unsigned char *p = take(ld, 4);
    return p ? get_u32(p) : 0;
}

static uint64_t rd_u64(loader *ld)
{
    const unsigned char *p = take(ld, 8);
    return p ? get_u64(p) : 0;
}

static unsigned rd_u8(loader *ld)
{
    const unsigned char *p = take(ld, 1);
    return p ? p[0] : 0;
}

/* A copy of the string at offset ref of the string table, or NULL (error set). */
static char *rd_str(loader *ld, uint64_t ref, const char *what)
{
    if (ref >= ld->nstrs) {
        corrupt(ld->err, "%s names string %llu of a %llu-byte string table", what,
                (unsigned long long)ref, (unsigned long long)ld->nstrs);
        return NULL;
    }
    char *s = strdup(ld->strs + ref);
    if (!s)
        ember_err_set(ld->err, EMBER_ENOMEM, "out of memory");
    return s;
}

/* Reads dims[8], offset and size of a tensor record and checks them against dtype and rank
 * and the weights section; *data points into the weights. */
static int rd_tensor(loader *ld, unsigned dtype, int rank, int64_t *dims, const void **data,
                     const char *what)
{
    for (int d = 0; d < EMBER_MAX_RANK; d++)
        dims[d] = (int64_t)rd_u64(ld);
    uint64_t off = rd_u64(ld), size = rd_u64(ld);
    if (ld->short_read)
        return corrupt(ld->err, "the graph section ends inside constant '%s'", what);
    if (ember_dtype_size((ember_dtype)dtype) == 0)
        return corrupt(ld->err, "constant '%s' has data type %u", what, dtype);
    if (rank < 0 || rank > EMBER_MAX_RANK)
        return corrupt(ld->err, "constant '%s' has rank %d", what, rank);
    int64_t bytes = eg_tensor_bytes((ember_dtype)dtype, rank, dims);
    if (bytes < 0 || (uint64_t)bytes != size)
        return corrupt(ld->err, "constant '%s' holds %llu bytes, its shape needs %lld", what,
                       (unsigned long long)size, (long long)bytes);
    if (off % EG_COMPILED_ALIGN || off > ld->wsize || size > ld->wsize - off)
        return corrupt(ld->err,
                       "constant '%s' lies at %llu+%llu, outside the %llu-byte weights section "
                       "or not 64-byte aligned",
                       what, (unsigned long long)off, (unsigned long long)size,
                       (unsigned long long)ld->wsize);
    *data = ld->weights + off;
    return 0;
}

/* A value index read from the tables: -1 (when allowed) or one of g's values. */
static int rd_index(loader *ld, const eg_graph *g, int allow_none, int *out, const char *what)
{
    uint32_t v = rd_u32(ld);
    if (ld->short_read)
        return corrupt(ld->err, "the graph section ends inside %s", what);
    if (allow_none && v == 0xffffffffu) {
        *out = -1;
        return 0;
    }
    if (v >= (uint32_t)g->nval)
        return corrupt(ld->err, "%s refers to value %u of %d", what, v, g->nval);
    *out = (int)v;
    return 0;
}

static int rd_attr(loader *ld, int gi, const eg_node *n, eg_attr *a)
{
    uint32_t name = rd_u32(ld), kind = rd_u32(ld), count = rd_u32(ld);
    rd_u32(ld);
    uint64_t value = rd_u64(ld);
    if (ld->short_read)
        return corrupt(ld->err, "the graph section ends inside node '%s'", n->name);
    if (!(a->name = rd_str(ld, name, "an attribute")))
        return EMBER_EFORMAT;
    a->kind = (int)kind;
    size_t width = kind == EG_ATTR_INTS ? 8 : 4;
    if ((kind == EG_ATTR_FLOATS || kind == EG_ATTR_INTS || kind == EG_ATTR_STRINGS) &&
        (count > INT_MAX || count > left(ld) / width))
        return corrupt(ld->err, "node '%s': attribute '%s' claims %u elements", n->name, a->name,
                       count);
    switch (kind) {
    case EG_ATTR_FLOAT: {
        uint32_t bits = (uint32_t)value;
        memcpy(&a->f, &bits, 4);
        return 0;
    }
    case EG_ATTR_INT: a->i = (int64_t)value; return 0;
    case EG_ATTR_STRING: return (a->s = rd_str(ld, value, "an attribute")) ? 0 : EMBER_EFORMAT;
    case EG_ATTR_GRAPH:
        /* Subgraphs come after their parent and each belongs to exactly one attribute, so
         * the graphs form a tree and every graph is freed exactly once. */
        if (value >= ld->ngraphs || value <= (uint64_t)gi || ld->claimed_by[value] >= 0)
            return corrupt(ld->err, "node '%s': attribute '%s' refers to graph %llu", n->name,
                           a->name, (unsigned long long)value);
        ld->claimed_by[value] = gi;
        a->g = ld->graphs[value];
        return 0;
    case EG_ATTR_FLOATS:
        if (!(a->floats = malloc(((size_t)count + 1) * sizeof *a->floats)))
            return ember_err_set(ld->err, EMBER_ENOMEM, "out of memory");
        a->n = (int)count;
        for (uint32_t i = 0; i < count; i++) {
            uint32_t bits = rd_u32(ld);
            memcpy(&a->floats[i], &bits, 4);
        }
        return 0;
    case EG_ATTR_INTS:
        if (!(a->ints = malloc(((size_t)count + 1) * sizeof *a->ints)))
            return ember_err_set(ld->err, EMBER_ENOMEM, "out of memory");
        a->n = (int)count;
        for (uint32_t i = 0; i < count; i++)
            a->ints[i] = (int64_t)rd_u64(ld);
        return 0;
    case EG_ATTR_STRINGS:
        if (!(a->strings = calloc((size_t)count + 1, sizeof *a->strings)))
            return ember_err_set(ld->err, EMBER_ENOMEM, "out of memory");
        for (uint32_t i = 0; i < count; i++) {
            if (!(a->strings[i] = rd_str(ld, rd_u32(ld), "an attribute")))
                return EMBER_EFORMAT;
            a->n = (int)i + 1;
        }
        return 0;
    case EG_ATTR_TENSOR: {
        unsigned dtype = rd_u8(ld);
        int rank = (signed char)rd_u8(ld);
        rd_u8(ld);
        rd_u8(ld);
        rd_u32(ld);
        const void *data;
        int rc = rd_tensor(ld, dtype, rank, a->t.dims, &data, a->name);
        if (rc)
            return rc;
        a->t.dtype = (ember_dtype)dtype;
        a->t.rank = rank;
        /* Attribute tensors own their data in the IR; they are small (Constant values). */
        size_t bytes = (size_t)eg_tensor_bytes(a->t.dtype, rank, a->t.dims);
        a->t.data = ld->wmem ? eg_wmem_alloc(ld->wmem, bytes) : malloc(bytes ? bytes : 1);
        if (!a->t.data && ld->wmem)
            return eg_wmem_explain(ld->wmem, ld->err);
        if (!a->t.data)
            return ember_err_set(ld->err, EMBER_ENOMEM, "out of memory");
        memcpy(a->t.data, data, bytes);
        return 0;
    }
    default:
        return corrupt(ld->err, "node '%s': attribute '%s' has kind %u", n->name, a->name, kind);
    }
}

/* A node's stored packed weights: checked against the weights section always, and used in
 * place (n->kdata, no prepare at load) when n's kernel packs in that format and needs
 * exactly that many bytes; otherwise ignored, and prepare packs at load as for ONNX. */
static int rd_kdata(loader *ld, const eg_graph *g, eg_node *n, uint32_t fmt, uint32_t reserved,
                    uint64_t off, uint64_t size)
{
    if (fmt == 0 && (reserved || off || size))
        return corrupt(ld->err, "node '%s' has packed weights of no format", n->name);
    if (fmt == 0)
        return 0;
    if (reserved || size == 0 || off % EG_COMPILED_ALIGN || off > ld->wsize ||
        size > ld->wsize - off)
        return corrupt(ld->err,
                       "node '%s': packed weights at %llu+%llu, outside the %llu-byte weights "
                       "section or not 64-byte aligned",
                       n->name, (unsigned long long)off, (unsigned long long)size,
                       (unsigned long long)ld->wsize);
    const eg_kdata_format *have = eg_kdata_format_of(n->impl);
    if (!have || have->id != fmt)
        return 0;
    int64_t need = have->bytes(n, g);
    if (need < 0 || (uint64_t)need != size)
        return corrupt(ld->err, "node '%s' carries %llu bytes of packed weights, its kernel "
                       "packs %lld", n->name, (unsigned long long)size, (long long)need);
    n->kdata = (void *)(uintptr_t)(ld->weights + off); /* read-only, as constants (rd_value) */
    n->kdata_borrowed = 1;
    return 0;
}

static int rd_node(loader *ld, int gi, eg_graph *g, eg_node *n)
{
    uint32_t op = rd_u32(ld), domain = rd_u32(ld), name = rd_u32(ld);
    uint32_t nin = rd_u32(ld), nout = rd_u32(ld), nattr = rd_u32(ld);
    uint32_t kfmt = rd_u32(ld), kres = rd_u32(ld);
    uint64_t koff = rd_u64(ld), ksize = rd_u64(ld);
    if (ld->short_read)
        return corrupt(ld->err, "the graph section ends inside a node of graph %d", gi);
    if (!(n->op = rd_str(ld, op, "a node")) || !(n->domain = rd_str(ld, domain, "a node")) ||
        !(n->name = rd_str(ld, name, "a node")))
        return EMBER_EFORMAT;
    if (nin > left(ld) / 4 || nout > (left(ld) - 4 * (size_t)nin) / 4 ||
        nattr > left(ld) / ATTR_REC)
        return corrupt(ld->err, "node '%s' claims %u inputs, %u outputs and %u attributes",
                       n->name, nin, nout, nattr);
    n->in = calloc((size_t)nin + 1, sizeof *n->in);
    n->out = calloc((size_t)nout + 1, sizeof *n->out);
    n->attr = calloc((size_t)nattr + 1, sizeof *n->attr);
    if (!n->in || !n->out || !n->attr)
        return ember_err_set(ld->err, EMBER_ENOMEM, "out of memory");
    n->impl = eg_op_find(n->domain, n->op);
    if (!n->impl)
        return ember_err_set(ld->err, EMBER_EUNSUPPORTED,
                             "unsupported operator '%s%s%s' in node '%s' (opset %d)",
                             n->domain[0] ? n->domain : "", n->domain[0] ? "." : "", n->op,
                             n->name, ld->opset);
    int rc = 0;
    n->nin = (int)nin;
    for (uint32_t i = 0; rc == 0 && i < nin; i++)
        rc = rd_index(ld, g, 1, &n->in[i], "a node input");
    n->nout = (int)nout;
    for (uint32_t i = 0; rc == 0 && i < nout; i++)
        rc = rd_index(ld, g, 1, &n->out[i], "a node output");
    for (uint32_t i = 0; rc == 0 && i < nattr; i++) {
        n->nattr = (int)i + 1;
        rc = rd_attr(ld, gi, n, &n->attr[i]);
    }
    if (rc == 0 && ld->short_read)
        rc = corrupt(ld->err, "the graph section ends inside node '%s'", n->name);
    return rc ? rc : rd_kdata(ld, g, n, kfmt, kres, koff, ksize);
}

static int rd_value(loader *ld, int gi, eg_graph *g)
{
    uint32_t name = rd_u32(ld);
    unsigned kind = rd_u8(ld), dtype = rd_u8(ld);
    int rank = (signed char)rd_u8(ld);
    rd_u8(ld);
    uint32_t outer = rd_u32(ld);
    rd_u32(ld);
    if (ld->short_read)
        return corrupt(ld->err, "the graph section ends inside a value of graph %d", gi);
    char *s = rd_str(ld, name, "a value");
    if (!s)
        return EMBER_EFORMAT;
    int i = eg_graph_add_value(g, s);
    free(s);
    if (i < 0)
        return ember_err_set(ld->err, EMBER_ENOMEM, "out of memory");
    eg_value *v = &g->val[i];
    if (kind > EG_VAL_OUTER || rank < -1 || rank > EMBER_MAX_RANK ||
        (dtype != EMBER_DT_UNDEFINED && ember_dtype_size((ember_dtype)dtype) == 0))
        return corrupt(ld->err, "value '%s' has kind %u, data type %u, rank %d", v->name, kind,
                       dtype, rank);
    v->kind = (int)kind;
    v->dtype = (ember_dtype)dtype;
    v->rank = rank;
    if (kind == EG_VAL_CONST) {
        const void *data;
        int rc = rd_tensor(ld, dtype, rank, v->dims, &data, v->name);
        if (rc)
            return rc;
        /* The one cast from const: constants are read-only to every kernel, and the file
         * mapping behind them is read-only too. */
        v->data = (void *)(uintptr_t)data;
        v->borrowed = 1;
        return 0;
    }
    for (int d = 0; d < EMBER_MAX_RANK; d++)
        v->dims[d] = (int64_t)rd_u64(ld);
    rd_u64(ld);
    rd_u64(ld);
    if (ld->short_read)
        return corrupt(ld->err, "the graph section ends inside value '%s'", v->name);
    if (kind == EG_VAL_OUTER) {
        if (!g->parent || outer >= (uint32_t)g->parent->nval)
            return corrupt(ld->err, "value '%s' refers to value %u of an enclosing graph",
                           v->name, outer);
        v->outer = (int)outer;
    }
    return 0;
}

static int rd_graph(loader *ld, int gi)
{
    eg_graph *g = ld->graphs[gi];
    uint32_t name = rd_u32(ld), parent = rd_u32(ld), opset = rd_u32(ld);
    uint32_t nval = rd_u32(ld), nin = rd_u32(ld), nout = rd_u32(ld), nnode = rd_u32(ld);
    rd_u32(ld);
    if (ld->short_read)
        return corrupt(ld->err, "the graph section ends inside graph %d", gi);
    if (gi > 0 && ld->claimed_by[gi] < 0)
        return corrupt(ld->err, "graph %d is no node's attribute", gi);
    if (gi == 0 ? parent != NO_PARENT : parent != (uint32_t)ld->claimed_by[gi])
        return corrupt(ld->err, "graph %d names graph %d as its parent but belongs to %d", gi,
                       (int)parent, gi ? ld->claimed_by[gi] : -1);
    g->parent = gi ? ld->graphs[parent] : NULL;
    g->opset = (int)(opset > INT_MAX ? INT_MAX : opset);
    if (!(g->name = rd_str(ld, name, "a graph")))
        return EMBER_EFORMAT;
    if (nval > left(ld) / VALUE_REC || nin > nval || nout > left(ld) / 4 ||
        nnode > left(ld) / NODE_REC)
        return corrupt(ld->err, "graph %d claims %u values, %u inputs, %u outputs, %u nodes", gi,
                       nval, nin, nout, nnode);
    g->in = calloc((size_t)nin + 1, sizeof *g->in);
    g->out = calloc((size_t)nout + 1, sizeof *g->out);
    g->node = calloc((size_t)nnode + 1, sizeof *g->node);
    if (!g->in || !g->out || !g->node)
        return ember_err_set(ld->err, EMBER_ENOMEM, "out of memory");
    int rc = 0;
    for (uint32_t i = 0; rc == 0 && i < nval; i++)
        rc = rd_value(ld, gi, g);
    for (uint32_t i = 0; rc == 0 && i < nin; i++) {
        g->nin = (int)i + 1;
        rc = rd_index(ld, g, 0, &g->in[i], "a graph input");
        if (rc == 0 && g->val[g->in[i]].kind != EG_VAL_INPUT)
            rc = corrupt(ld->err, "graph input '%s' is not an input value",
                         g->val[g->in[i]].name);
        if (rc == 0 && gi == 0 && ember_dtype_size(g->val[g->in[i]].dtype) == 0)
            rc = corrupt(ld->err, "model input '%s' has no data type", g->val[g->in[i]].name);
    }
    /* Every input value is listed exactly once, so none is left without data at run time. */
    if (rc == 0) {
        unsigned char *seen = calloc((size_t)g->nval + 1, 1);
        int ninput_vals = 0;
        if (!seen)
            return ember_err_set(ld->err, EMBER_ENOMEM, "out of memory");
        for (int i = 0; i < g->nval; i++)
            ninput_vals += g->val[i].kind == EG_VAL_INPUT;
        for (int i = 0; i < g->nin; i++)
            seen[g->in[i]] += seen[g->in[i]] < 2;
        for (int i = 0; rc == 0 && i < g->nin; i++)
            if (seen[g->in[i]] != 1)
                rc = corrupt(ld->err, "graph %d lists %d inputs of its %d input values", gi,
                             g->nin, ninput_vals);
        if (rc == 0 && ninput_vals != g->nin)
            rc = corrupt(ld->err, "graph %d lists %d inputs of its %d input values", gi, g->nin,
                         ninput_vals);
        free(seen);
    }
    for (uint32_t i = 0; rc == 0 && i < nout; i++) {
        g->nout = (int)i + 1;
        rc = rd_index(ld, g, 0, &g->out[i], "a graph output");
    }
    for (uint32_t i = 0; rc == 0 && i < nnode; i++) {
        g->nnode = (int)i + 1;
        rc = rd_node(ld, gi, g, &g->node[i]);
    }
    return rc;
}

int eg_compiled_is(const void *buf, size_t len)
{
    return len >= EG_COMPILED_MAGIC_LEN && memcmp(buf, EG_COMPILED_MAGIC, EG_COMPILED_MAGIC_LEN) == 0;
}

/* Section [off, off+size) lies within [lo, hi). */
static int within(uint64_t off, uint64_t size, uint64_t lo, uint64_t hi)
{
    return off >= lo && off <= hi && size <= hi - off;
}

int eg_compiled_check(const void *buf, size_t len, uint64_t *weights_off, uint64_t *weights_size,
                      ember_err *err)
{
    const unsigned char *p = buf;
    if (!eg_compiled_is(buf, len))
        return ember_err_set(err, EMBER_EFORMAT, "not a compiled ember model (no EMBERMDL magic)");
    if (len < EG_COMPILED_HEADER_SIZE)
        return corrupt(err, "%zu bytes is shorter than the %d-byte header", len,
                       EG_COMPILED_HEADER_SIZE);
    uint32_t version = get_u32(p + 8), hsize = get_u32(p + 12), flags = get_u32(p + 16);
    if (version > EG_COMPILED_VERSION)
        return ember_err_set(err, EMBER_EUNSUPPORTED,
                             "compiled model format version %u, this ember reads version %d",
                             version, EG_COMPILED_VERSION);
    if (version != EG_COMPILED_VERSION)
        return ember_err_set(err, EMBER_EFORMAT,
                             "compiled model format version %u is older than the version %d "
                             "this ember reads: compile the model again ('emberctl compile')",
                             version, EG_COMPILED_VERSION);
    if (hsize != EG_COMPILED_HEADER_SIZE || flags != 0)
        return corrupt(err, "header size %u and flags %#x (want %d and 0)", hsize, flags,
                       EG_COMPILED_HEADER_SIZE);
    uint64_t file_size = get_u64(p + 24);
    uint64_t soff = get_u64(p + 32), ssize = get_u64(p + 40);
    uint64_t toff = get_u64(p + 48), tsize = get_u64(p + 56);
    uint64_t woff = get_u64(p + 64), wsize = get_u64(p + 72);
    if (file_size != len)
        return corrupt(err, "the header says %llu bytes, there are %zu (truncated or padded)",
                       (unsigned long long)file_size, len);
    if (!within(soff, ssize, hsize, file_size) || !within(toff, tsize, soff + ssize, file_size) ||
        !within(woff, wsize, toff + tsize, file_size) || woff % EG_COMPILED_ALIGN)
        return corrupt(err, "sections out of order or out of bounds");
    uint32_t crc = eg_crc32(0, p, EG_COMPILED_CRC_OFFSET);
    crc = eg_crc32(crc, "\0\0\0\0", 4);
    crc = eg_crc32(crc, p + EG_COMPILED_CRC_OFFSET + 4, (size_t)woff - EG_COMPILED_CRC_OFFSET - 4);
    if (crc != get_u32(p + EG_COMPILED_CRC_OFFSET))
        return corrupt(err, "checksum mismatch in the header or tables");
    if (ssize == 0 || p[soff] != 0 || p[soff + ssize - 1] != 0)
        return corrupt(err, "the string table does not start and end with a NUL byte");
    *weights_off = woff;
    *weights_size = wsize;
    return 0;
}

int eg_compiled_load(const void *buf, size_t len, const unsigned char *weights, eg_wmem *wmem,
                     eg_graph **out, ember_err *err)
{
    int rc = 0;
    const unsigned char *p = buf;
    uint64_t wsize = get_u64(p + 72);
    loader ld = {
        .strs = (const char *)p + get_u64(p + 32),
        .nstrs = get_u64(p + 40),
        .weights = weights,
        .wsize = wsize,
        .p = p + get_u64(p + 48),
        .len = (size_t)get_u64(p + 56),
        .ngraphs = get_u32(p + 80),
        .opset = (int)(get_u32(p + 84) > INT_MAX ? INT_MAX : get_u32(p + 84)),
        .wmem = wmem,
        .err = err,
    };
    if (ld.ngraphs == 0 || ld.ngraphs > MAX_GRAPHS || ld.ngraphs > ld.len / GRAPH_REC)
        return corrupt(err, "%u graphs", ld.ngraphs);
    ld.graphs = calloc(ld.ngraphs, sizeof *ld.graphs);
    ld.claimed_by = malloc(ld.ngraphs * sizeof *ld.claimed_by);
    if (!ld.graphs || !ld.claimed_by) {
        rc = ember_err_set(err, EMBER_ENOMEM, "out of memory");
        goto done;
    }
    for (uint32_t i = 0; i < ld.ngraphs; i++) {
        ld.claimed_by[i] = -1;
        if (!(ld.graphs[i] = eg_graph_new(NULL, 0))) {
            rc = ember_err_set(err, EMBER_ENOMEM, "out of memory");
            goto done;
        }
        ld.graphs[i]->wmem = wmem;
    }
    for (uint32_t i = 0; rc == 0 && i < ld.ngraphs; i++)
        rc = rd_graph(&ld, (int)i);
    if (rc == 0 && ld.pos != ld.len)
        rc = corrupt(err, "%zu bytes left over after the last graph", ld.len - ld.pos);
    for (uint32_t i = 0; rc == 0 && i < ld.ngraphs; i++)
        rc = eg_graph_link(ld.graphs[i], err);
done:
    if (ld.graphs && ld.claimed_by) {
        if (rc == 0) {
            *out = ld.graphs[0];
        } else {
            /* Subgraphs already handed to an attribute go with their owner. */
            for (uint32_t i = 0; i < ld.ngraphs; i++)
                if (ld.claimed_by[i] < 0)
                    eg_graph_free(ld.graphs[i]);
        }
    }
    free(ld.graphs);
    free(ld.claimed_by);
    return rc;
}
