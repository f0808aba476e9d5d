/*
 * Sessions: running a graph, and the memory plan that lets a run allocate nothing.
 *
 * The first run for a given set of input shapes is a recording run: every node output is
 * malloc'd as the kernel asks for it and freed after its last reader, and its size is noted.
 * The planner (planner.c) then packs those buffers into one arena by their lifetimes. Later
 * runs with the same input shapes hand kernels arena slots; a kernel that asks for more than
 * its slot (a data-dependent shape grew) gets a heap buffer for that run and the next run
 * records again. Subgraphs (the branches of If) run in their own frames on the heap.
 * A session may own a small group of helper threads (ember_session_set_threads, tgroup.c)
 * that kernels split one node's work across (eg_parallel); during a run they spin between
 * nodes, between runs they sleep.
 */
#include <stdarg.h>
#include <stdlib.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "model.h"
#include "op.h"
#include "passes.h"
#include "planner.h"
#include "tgroup.h"

#define ARENA_ALIGN 64

typedef struct frame {
    const eg_graph *g;
    struct frame *parent;
    ember_tensor *t;
    unsigned char *owned; /* 1 when t[i].data was malloc'd for this frame and must be freed */
    int arena;            /* node outputs come from the session's arena */
    /* A subgraph frame kept by its session between runs: node outputs go to buffers that
     * stay allocated (buf[i] of cap[i] bytes) and are reused while they are big enough. */
    void **buf;
    size_t *cap;
    int busy;
} frame;

/* The profile: one slot per node of the model's graph and of every subgraph in it, listed
 * depth first (a node, then the nodes of its subgraphs, then the next node). A slot holds
 * the node's own time: a node that runs subgraphs (If) gets its total minus the time of the
 * nodes they ran, which their own slots hold. */
typedef struct prof_slot {
    const eg_node *n;
    const eg_node *parent; /* the node whose subgraph holds n; NULL at the top */
    int depth;
    int64_t ns, calls;
} prof_slot;

typedef struct prof_graph {
    const eg_graph *g;
    int *slot; /* slot of node i of g */
} prof_graph;

/* One kept frame per subgraph, so running an If costs no allocation after the first run. */
typedef struct subframe {
    const eg_graph *g;
    frame f;
} subframe;

struct ember_session {
    const ember_model *m;
    frame top;
    /* The plan: per value, its arena offset and size (-1 when not planned). */
    int planned, replan;
    int64_t *off, *size;
    int64_t *rec; /* bytes asked for per value in the recording run */
    int64_t *sig; /* input dims the plan was made for */
    unsigned char *arena;
    size_t arena_bytes;
    /* Scratch for the kernel currently running. */
    unsigned char *scratch;
    size_t scratch_cap, scratch_used, scratch_need;
    void **extra;
    int nextra, capextra;
    subframe **subs; /* each allocated on its own: frames in use must never move */
    int nsubs;
    int count_macs; /* ember_session_count_macs: add each node's MACs to macs */
    int64_t macs;
    int profile;        /* ember_session_profile: add each node's own time to its slot */
    prof_slot *prof;    /* every node of every graph, in profile order (prof_order) */
    int nprof;          /* slots: nodes in the model's graph and all its subgraphs */
    prof_graph *prof_g; /* per graph, where its nodes' slots are */
    int nprof_g;
    int64_t prof_inner; /* ns spent in nodes that finished, for the enclosing node's self */
    int64_t prof_runs;  /* runs profiled since it was turned on */
    eg_tgroup *tg;      /* helper threads, NULL when the session runs on one */
};

struct eg_kctx {
    ember_session *s;
    frame *f;
    const eg_node *n;
    ember_err *err;
    frame *sub;  /* frame of the last eg_subgraph_run, until released */
    int sub_kept; /* sub belongs to the session's kept frames (else it is freed on release) */
};

static void prof_free(ember_session *s);

static void *aligned_alloc64(size_t bytes)
{
    void *p = NULL;
    if (posix_memalign(&p, ARENA_ALIGN, bytes ? bytes : 1) != 0)
        return NULL;
    return p;
}

/* ---- frames ---- */

static int frame_init(frame *f, const eg_graph *g, frame *parent)
{
    memset(f, 0, sizeof *f);
    f->g = g;
    f->parent = parent;
    f->t = calloc((size_t)g->nval + 1, sizeof *f->t);
    f->owned = calloc((size_t)g->nval + 1, 1);
    if (!f->t || !f->owned) {
        free(f->t);
        free(f->owned);
        return EMBER_ENOMEM;
    }
    for (int i = 0; i < g->nval; i++) {
        const eg_value *v = &g->val[i];
        if (v->kind == EG_VAL_CONST) {
            f->t[i].dtype = v->dtype;
            f->t[i].rank = v->rank;
            memcpy(f->t[i].dims, v->dims, sizeof v->dims);
            f->t[i].data = v->data;
        }
    }
    return 0;
}

static void frame_release_value(frame *f, int v)
{
    if (f->owned[v]) {
        free(f->t[v].data);
        f->owned[v] = 0;
    }
    f->t[v].data = NULL;
}

static void frame_clear(frame *f)
{
    for (int i = 0; i < f->g->nval; i++)
        if (f->g->val[i].kind != EG_VAL_CONST)
            frame_release_value(f, i);
}

static void frame_destroy(frame *f)
{
    if (!f->t)
        return;
    frame_clear(f);
    for (int i = 0; f->buf && i < f->g->nval; i++)
        free(f->buf[i]);
    free(f->buf);
    free(f->cap);
    free(f->t);
    free(f->owned);
    f->t = NULL;
}

/* ---- the kernel context ---- */

int eg_nin(const eg_kctx *k)
{
    return k->n->nin;
}

const ember_tensor *eg_in(const eg_kctx *k, int i)
{
    if (i < 0 || i >= k->n->nin || k->n->in[i] < 0)
        return NULL;
    return &k->f->t[k->n->in[i]];
}

int eg_nout(const eg_kctx *k)
{
    return k->n->nout;
}

int eg_out_wanted(const eg_kctx *k, int i)
{
    return i >= 0 && i < k->n->nout && k->n->out[i] >= 0;
}

int eg_fail(eg_kctx *k, int code, const char *fmt, ...)
{
    if (k->err) {
        char msg[200];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, sizeof msg, fmt, ap);
        va_end(ap);
        ember_err_set(k->err, code, "node '%s' (%s): %s", k->n->name, k->n->op, msg);
    }
    return code;
}

void *eg_out(eg_kctx *k, int i, ember_dtype dt, int rank, const int64_t *dims)
{
    if (!eg_out_wanted(k, i)) {
        eg_fail(k, EMBER_EINVAL, "output %d is not wanted", i);
        return NULL;
    }
    int64_t bytes = eg_tensor_bytes(dt, rank, dims);
    if (bytes < 0) {
        eg_fail(k, EMBER_ESHAPE, "output %d has an invalid or too large shape", i);
        return NULL;
    }
    int v = k->n->out[i];
    frame *f = k->f;
    ember_tensor *t = &f->t[v];
    frame_release_value(f, v);
    memmove(t->dims, dims, (size_t)rank * sizeof *dims);
    t->dtype = dt;
    t->rank = rank;

    ember_session *s = k->s;
    if (f->buf) {
        if (f->cap[v] < (size_t)bytes) {
            free(f->buf[v]);
            f->buf[v] = aligned_alloc64((size_t)bytes);
            f->cap[v] = f->buf[v] ? (size_t)bytes : 0;
            if (!f->buf[v]) {
                eg_fail(k, EMBER_ENOMEM, "out of memory for output %d", i);
                return NULL;
            }
        }
        t->data = f->buf[v];
        return t->data;
    }
    if (f->arena && s->planned && s->size[v] >= bytes) {
        t->data = s->arena + s->off[v];
        return t->data;
    }
    if (f->arena) {
        if (s->planned)
            s->replan = 1;
        if (bytes > s->rec[v])
            s->rec[v] = bytes;
    }
    t->data = aligned_alloc64((size_t)bytes);
    if (!t->data) {
        eg_fail(k, EMBER_ENOMEM, "out of memory for output %d (%lld bytes)", i, (long long)bytes);
        return NULL;
    }
    f->owned[v] = 1;
    return t->data;
}

void *eg_out_view(eg_kctx *k, int i, int j, int64_t off, int rank, const int64_t *dims)
{
    const ember_tensor *x = eg_in(k, j);
    int64_t xbytes = x ? eg_tensor_bytes(x->dtype, x->rank, x->dims) : -1;
    int64_t bytes = x ? eg_tensor_bytes(x->dtype, rank, dims) : -1;
    if (xbytes < 0 || bytes < 0 || off < 0 || off > xbytes - bytes) {
        eg_fail(k, EMBER_ESHAPE, "output %d cannot be a view of input %d", i, j);
        return NULL;
    }
    frame *f = k->f;
    int v = eg_out_wanted(k, i) ? k->n->out[i] : -1;
    /* Only the planned top frame shares: folding turns outputs into constants the graph
     * owns, and subgraph frames keep a buffer per value. */
    if (v >= 0 && f->arena && x->data && f->g->val[v].view_of == k->n->in[j]) {
        ember_tensor *t = &f->t[v];
        frame_release_value(f, v);
        memmove(t->dims, dims, (size_t)rank * sizeof *dims);
        t->dtype = x->dtype;
        t->rank = rank;
        t->data = (char *)x->data + off;
        return t->data;
    }
    void *y = eg_out(k, i, x->dtype, rank, dims);
    if (y && bytes)
        memcpy(y, (const char *)x->data + off, (size_t)bytes);
    return y;
}

ember_tensor *eg_out_tensor(eg_kctx *k, int i)
{
    if (!eg_out_wanted(k, i))
        return NULL;
    return &k->f->t[k->n->out[i]];
}

static const eg_attr *attr(const eg_kctx *k, const char *name, int kind)
{
    const eg_attr *a = eg_node_attr(k->n, name);
    return a && a->kind == kind ? a : NULL;
}

int eg_has_attr(const eg_kctx *k, const char *name)
{
    return eg_node_attr(k->n, name) != NULL;
}

int64_t eg_attr_int(const eg_kctx *k, const char *name, int64_t dflt)
{
    const eg_attr *a = attr(k, name, EG_ATTR_INT);
    return a ? a->i : dflt;
}

float eg_attr_float(const eg_kctx *k, const char *name, float dflt)
{
    const eg_attr *a = attr(k, name, EG_ATTR_FLOAT);
    return a ? a->f : dflt;
}

const char *eg_attr_str(const eg_kctx *k, const char *name, const char *dflt)
{
    const eg_attr *a = attr(k, name, EG_ATTR_STRING);
    return a ? a->s : dflt;
}

int eg_attr_ints(const eg_kctx *k, const char *name, const int64_t **v)
{
    const eg_attr *a = attr(k, name, EG_ATTR_INTS);
    *v = a ? a->ints : NULL;
    return a ? a->n : -1;
}

int eg_attr_floats(const eg_kctx *k, const char *name, const float **v)
{
    const eg_attr *a = attr(k, name, EG_ATTR_FLOATS);
    *v = a ? a->floats : NULL;
    return a ? a->n : -1;
}

const ember_tensor *eg_attr_tensor(const eg_kctx *k, const char *name)
{
    const eg_attr *a = attr(k, name, EG_ATTR_TENSOR);
    return a ? &a->t : NULL;
}

const eg_graph *eg_attr_graph(const eg_kctx *k, const char *name)
{
    const eg_attr *a = attr(k, name, EG_ATTR_GRAPH);
    return a ? a->g : NULL;
}

int eg_opset(const eg_kctx *k)
{
    return k->f->g->opset;
}

const eg_node *eg_node_of(const eg_kctx *k)
{
    return k->n;
}

void *eg_scratch(eg_kctx *k, size_t bytes)
{
    ember_session *s = k->s;
    bytes = (bytes + ARENA_ALIGN - 1) / ARENA_ALIGN * ARENA_ALIGN;
    s->scratch_need += bytes;
    if (s->scratch_used + bytes <= s->scratch_cap) {
        void *p = s->scratch + s->scratch_used;
        s->scratch_used += bytes;
        return p;
    }
    if (s->nextra == s->capextra) {
        int cap = s->capextra ? s->capextra * 2 : 8;
        void **e = realloc(s->extra, (size_t)cap * sizeof *e);
        if (!e) {
            eg_fail(k, EMBER_ENOMEM, "out of memory for scratch");
            return NULL;
        }
        s->extra = e;
        s->capextra = cap;
    }
    void *p = aligned_alloc64(bytes);
    if (!p) {
        eg_fail(k, EMBER_ENOMEM, "out of memory for %zu bytes of scratch", bytes);
        return NULL;
    }
    s->extra[s->nextra++] = p;
    return p;
}

/* After each node: drop overflow scratch blocks and grow the main one to what was needed. */
static void scratch_reset(ember_session *s)
{
    for (int i = 0; i < s->nextra; i++)
        free(s->extra[i]);
    s->nextra = 0;
    s->scratch_used = 0;
    if (s->scratch_need > s->scratch_cap) {
        unsigned char *p = aligned_alloc64(s->scratch_need);
        if (p) {
            free(s->scratch);
            s->scratch = p;
            s->scratch_cap = s->scratch_need;
        }
    }
    s->scratch_need = 0;
}

/* ---- helper threads ---- */

int eg_threads(const eg_kctx *k)
{
    return k->s->tg ? eg_tgroup_threads(k->s->tg) : 1;
}

void eg_parallel(eg_kctx *k, eg_part_fn fn, void *arg, int nparts)
{
    if (k->s->tg && nparts > 1) {
        eg_tgroup_run(k->s->tg, fn, arg, nparts);
        return;
    }
    for (int part = 0; part < nparts; part++)
        fn(arg, part, nparts, 0);
}

/* ---- running a graph ---- */

static int run_graph(ember_session *s, frame *f, ember_err *err);

static int64_t tensor_count_or0(const ember_tensor *t)
{
    int64_t n = t ? ember_tensor_count(t) : 0;
    return n > 0 ? n : 0;
}

/* Multiply-accumulates node n just did, from the shapes it ran with: every output element of
 * a convolution or matrix product costs its reduction length (for ConvTranspose, every input
 * element costs the kernel's output footprint). Counted only when asked for. */
static int64_t node_macs(const eg_node *n, const frame *f)
{
    const ember_tensor *in[4] = {NULL, NULL, NULL, NULL};
    for (int j = 0; j < n->nin && j < 4; j++)
        in[j] = n->in[j] >= 0 ? &f->t[n->in[j]] : NULL;
    const ember_tensor *y = n->nout > 0 && n->out[0] >= 0 ? &f->t[n->out[0]] : NULL;
    const char *op = n->op;
    if (n->domain[0] || !y)
        return 0;
    int conv = strcmp(op, "Conv") == 0 || strcmp(op, "ConvInteger") == 0;
    int qconv = strcmp(op, "QLinearConv") == 0;
    if (conv || qconv || strcmp(op, "ConvTranspose") == 0) {
        const ember_tensor *w = qconv ? in[3] : in[1];
        if (!w || w->rank < 2)
            return 0;
        int64_t per = 1;
        for (int d = 1; d < w->rank; d++)
            per *= w->dims[d];
        return (conv || qconv ? tensor_count_or0(y) : tensor_count_or0(in[0])) * per;
    }
    int gemm = strcmp(op, "Gemm") == 0;
    if (gemm || strcmp(op, "MatMul") == 0 || strcmp(op, "MatMulInteger") == 0 ||
        strcmp(op, "QLinearMatMul") == 0) {
        const ember_tensor *a = in[0];
        if (!a || a->rank < 1)
            return 0;
        int64_t k = a->dims[a->rank - 1];
        if (gemm && a->rank == 2 && eg_node_attr(n, "transA") && eg_node_attr(n, "transA")->i)
            k = a->dims[0];
        return tensor_count_or0(y) * k;
    }
    return 0;
}

/* The session's kept frame for g (made on first use), or NULL when it is in use already or
 * memory ran out; the caller then runs g in a throwaway frame. */
static frame *kept_frame(ember_session *s, const eg_graph *g, frame *parent)
{
    for (int i = 0; i < s->nsubs; i++)
        if (s->subs[i]->g == g)
            return s->subs[i]->f.busy ? NULL : &s->subs[i]->f;
    subframe **subs = realloc(s->subs, (size_t)(s->nsubs + 1) * sizeof *subs);
    if (!subs)
        return NULL;
    s->subs = subs;
    subframe *sf = calloc(1, sizeof *sf);
    if (!sf || frame_init(&sf->f, g, parent) != 0) {
        free(sf);
        return NULL;
    }
    sf->f.buf = calloc((size_t)g->nval + 1, sizeof *sf->f.buf);
    sf->f.cap = calloc((size_t)g->nval + 1, sizeof *sf->f.cap);
    if (!sf->f.buf || !sf->f.cap) {
        frame_destroy(&sf->f);
        free(sf);
        return NULL;
    }
    sf->g = g;
    s->subs[s->nsubs++] = sf;
    return &sf->f;
}

static void kept_frames_free(ember_session *s)
{
    for (int i = 0; i < s->nsubs; i++) {
        frame_destroy(&s->subs[i]->f);
        free(s->subs[i]);
    }
    free(s->subs);
    s->subs = NULL;
    s->nsubs = 0;
}

int eg_subgraph_run(eg_kctx *k, const eg_graph *g, const ember_tensor *ins, ember_tensor *outs)
{
    eg_subgraph_release(k);
    frame *sub = kept_frame(k->s, g, k->f);
    k->sub_kept = sub != NULL;
    if (!sub) {
        sub = malloc(sizeof *sub);
        if (!sub || frame_init(sub, g, k->f) != 0) {
            free(sub);
            return eg_fail(k, EMBER_ENOMEM, "out of memory for a subgraph");
        }
    }
    sub->parent = k->f;
    sub->busy = 1;
    for (int i = 0; i < g->nval; i++)
        if (g->val[i].kind == EG_VAL_OUTER)
            sub->t[i] = k->f->t[g->val[i].outer];
    for (int i = 0; i < g->nin; i++)
        sub->t[g->in[i]] = ins[i];
    k->sub = sub;
    int rc = run_graph(k->s, sub, k->err);
    if (rc)
        return rc;
    for (int i = 0; i < g->nout; i++)
        outs[i] = sub->t[g->out[i]];
    return 0;
}

void eg_subgraph_release(eg_kctx *k)
{
    if (!k->sub)
        return;
    if (k->sub_kept) {
        frame_clear(k->sub);
        k->sub->busy = 0;
    } else {
        frame_destroy(k->sub);
        free(k->sub);
    }
    k->sub = NULL;
}

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static const int *prof_slots_of(const ember_session *s, const eg_graph *g)
{
    for (int i = 0; i < s->nprof_g; i++)
        if (s->prof_g[i].g == g)
            return s->prof_g[i].slot;
    return NULL;
}

/* Releases node output v if node i was its last reader, and then what v was a view of
 * (eg_out_view), whose lifetime ends with its views'. */
static void release_after(frame *f, int v, int i)
{
    const eg_graph *g = f->g;
    while (v >= 0 && g->val[v].last_use == i && !g->val[v].is_output &&
           g->val[v].kind == EG_VAL_NODE) {
        frame_release_value(f, v);
        v = g->val[v].view_of;
    }
}

static int run_graph(ember_session *s, frame *f, ember_err *err)
{
    const eg_graph *g = f->g;
    const int *slots = s->profile ? prof_slots_of(s, g) : NULL;
    int timed = slots != NULL;
    for (int i = 0; i < g->nnode; i++) {
        const eg_node *n = &g->node[i];
        eg_kctx k = {.s = s, .f = f, .n = n, .err = err};
        int64_t t0 = timed ? now_ns() : 0;
        int64_t inner0 = s->prof_inner;
        for (int j = 0; j < n->nin; j++) {
            if (n->in[j] >= 0 && !f->t[n->in[j]].data && g->val[n->in[j]].kind != EG_VAL_CONST)
                return ember_err_set(err, EMBER_ESTATE, "node '%s' (%s): input '%s' has no data",
                                     n->name, n->op, g->val[n->in[j]].name);
        }
        int rc = n->impl->run(&k);
        eg_subgraph_release(&k);
        /* Scratch of nodes inside a subgraph stacks on top of the enclosing kernel's, which
         * may still hold its own; only the outermost node's end releases it all. */
        if (!f->parent)
            scratch_reset(s);
        if (rc) {
            if (err && !err->msg[0])
                ember_err_set(err, rc, "node '%s' (%s) failed: %s", n->name, n->op,
                              ember_strerror(rc));
            return rc;
        }
        if (n->act && !eg_op_fuses_act(n->impl) &&
            (rc = eg_apply_activation(n, &f->t[n->out[0]], err)))
            return rc;
        if (s->count_macs)
            s->macs += node_macs(n, f);
        if (timed) {
            /* Nodes this one ran in its subgraphs added their time to prof_inner; only the
             * rest is this node's own. The enclosing node then sees all of it as inner. */
            int64_t spent = now_ns() - t0;
            prof_slot *ps = &s->prof[slots[i]];
            ps->ns += spent - (s->prof_inner - inner0);
            ps->calls++;
            s->prof_inner = inner0 + spent;
        }
        for (int j = 0; j < n->nout; j++) {
            int v = n->out[j];
            if (v < 0)
                continue;
            if (!f->t[v].data)
                return ember_err_set(err, EMBER_ESTATE, "node '%s' (%s) left output %d empty",
                                     n->name, n->op, j);
            if (g->val[v].last_use < 0 && !g->val[v].is_output)
                frame_release_value(f, v);
        }
        for (int j = 0; j < n->nin; j++)
            if (n->in[j] >= 0)
                release_after(f, n->in[j], i);
        /* Values read only by this node's subgraphs are released here too. */
        if (n->nattr) {
            for (int v = 0; v < g->nval; v++)
                if (g->val[v].last_use == i && g->val[v].kind == EG_VAL_NODE &&
                    !g->val[v].is_output)
                    frame_release_value(f, v);
        }
    }
    return 0;
}

/* ---- the public session API ---- */

int ember_session_create(const ember_model *m, ember_session **out, ember_err *err)
{
    const eg_graph *g = m->g;
    ember_session *s = calloc(1, sizeof *s);
    if (!s)
        return ember_err_set(err, EMBER_ENOMEM, "out of memory");
    s->m = m;
    size_t nv = (size_t)g->nval + 1;
    s->off = calloc(nv, sizeof *s->off);
    s->size = calloc(nv, sizeof *s->size);
    s->rec = calloc(nv, sizeof *s->rec);
    s->sig = calloc((size_t)g->nin * EMBER_MAX_RANK + 1, sizeof *s->sig);
    if (!s->off || !s->size || !s->rec || !s->sig || frame_init(&s->top, g, NULL) != 0) {
        ember_session_free(s);
        return ember_err_set(err, EMBER_ENOMEM, "out of memory");
    }
    s->top.arena = 1;
    *out = s;
    return 0;
}

void ember_session_free(ember_session *s)
{
    if (!s)
        return;
    frame_destroy(&s->top);
    kept_frames_free(s);
    for (int i = 0; i < s->nextra; i++)
        free(s->extra[i]);
    free(s->extra);
    free(s->scratch);
    free(s->arena);
    free(s->off);
    free(s->size);
    free(s->rec);
    free(s->sig);
    prof_free(s);
    eg_tgroup_free(s->tg);
    free(s);
}

int ember_session_set_threads(ember_session *s, int n, ember_err *err)
{
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    if (cpus >= 1 && n > cpus)
        n = (int)cpus;
    return eg_session_set_threads_any(s, n, err);
}

int eg_session_set_threads_any(ember_session *s, int n, ember_err *err)
{
    n = n < 1 ? 1 : n > EMBER_SESSION_MAX_THREADS ? EMBER_SESSION_MAX_THREADS : n;
    if (n == ember_session_threads(s))
        return n;
    eg_tgroup_free(s->tg);
    s->tg = NULL;
    if (n == 1)
        return 1;
    int rc = eg_tgroup_new(n - 1, &s->tg, err);
    return rc ? rc : n;
}

int ember_session_threads(const ember_session *s)
{
    return s->tg ? eg_tgroup_threads(s->tg) : 1;
}

size_t ember_session_arena_bytes(const ember_session *s)
{
    return s->arena_bytes;
}

void ember_session_count_macs(ember_session *s, int on)
{
    s->count_macs = on != 0;
}

int64_t ember_session_macs(const ember_session *s)
{
    return s->macs;
}

static int prof_count(const eg_graph *g)
{
    int n = g->nnode;
    for (int i = 0; i < g->nnode; i++)
        for (int j = 0; j < g->node[i].nattr; j++)
            if (g->node[i].attr[j].g)
                n += prof_count(g->node[i].attr[j].g);
    return n;
}

static int prof_graphs(const eg_graph *g)
{
    int n = 1;
    for (int i = 0; i < g->nnode; i++)
        for (int j = 0; j < g->node[i].nattr; j++)
            if (g->node[i].attr[j].g)
                n += prof_graphs(g->node[i].attr[j].g);
    return n;
}

/* Lays out the slots of g's nodes from *next on, depth first. */
static int prof_order(ember_session *s, const eg_graph *g, const eg_node *parent, int depth,
                      int *next)
{
    prof_graph *pg = &s->prof_g[s->nprof_g];
    pg->g = g;
    if (!(pg->slot = calloc((size_t)g->nnode + 1, sizeof *pg->slot)))
        return EMBER_ENOMEM;
    s->nprof_g++;
    for (int i = 0; i < g->nnode; i++) {
        const eg_node *n = &g->node[i];
        pg->slot[i] = *next;
        s->prof[(*next)++] = (prof_slot){.n = n, .parent = parent, .depth = depth};
        for (int j = 0; j < n->nattr; j++)
            if (n->attr[j].g) {
                int rc = prof_order(s, n->attr[j].g, n, depth + 1, next);
                if (rc)
                    return rc;
            }
    }
    return 0;
}

static void prof_free(ember_session *s)
{
    for (int i = 0; i < s->nprof_g; i++)
        free(s->prof_g[i].slot);
    free(s->prof_g);
    free(s->prof);
    s->prof_g = NULL;
    s->prof = NULL;
    s->nprof_g = s->nprof = 0;
}

int ember_session_profile(ember_session *s, int on)
{
    s->profile = 0;
    if (!on)
        return 0;
    const eg_graph *g = s->m->g;
    if (!s->prof) {
        int nslots = prof_count(g), next = 0;
        s->prof = calloc((size_t)nslots + 1, sizeof *s->prof);
        s->prof_g = calloc((size_t)prof_graphs(g), sizeof *s->prof_g);
        if (!s->prof || !s->prof_g || prof_order(s, g, NULL, 0, &next) != 0) {
            prof_free(s);
            return EMBER_ENOMEM;
        }
        s->nprof = nslots;
    }
    for (int i = 0; i < s->nprof; i++)
        s->prof[i].ns = s->prof[i].calls = 0;
    s->prof_inner = 0;
    s->prof_runs = 0;
    s->profile = 1;
    return 0;
}

int ember_session_profile_nodes(const ember_session *s)
{
    return s->nprof;
}

int ember_session_profile_node(const ember_session *s, int i, ember_node_time *out)
{
    if (i < 0 || i >= s->nprof)
        return EMBER_EINVAL;
    const prof_slot *ps = &s->prof[i];
    *out = (ember_node_time){.name = ps->n->name,
                             .domain = ps->n->domain,
                             .op = ps->n->op,
                             .parent = ps->parent ? ps->parent->name : "",
                             .depth = ps->depth,
                             .ns = ps->ns,
                             .calls = ps->calls,
                             .runs = s->prof_runs};
    return 0;
}

static int check_input(const eg_value *v, const ember_tensor *t, ember_err *err)
{
    if (t->dtype != v->dtype)
        return ember_err_set(err, EMBER_ESHAPE, "input '%s' must be %s, got %s", v->name,
                             ember_dtype_name(v->dtype), ember_dtype_name(t->dtype));
    if (t->rank < 0 || t->rank > EMBER_MAX_RANK)
        return ember_err_set(err, EMBER_ESHAPE, "input '%s' has rank %d", v->name, t->rank);
    if (v->rank >= 0) {
        if (t->rank != v->rank)
            return ember_err_set(err, EMBER_ESHAPE, "input '%s' must have rank %d, got %d",
                                 v->name, v->rank, t->rank);
        for (int d = 0; d < v->rank; d++)
            if (v->dims[d] >= 0 && t->dims[d] != v->dims[d])
                return ember_err_set(err, EMBER_ESHAPE,
                                     "input '%s' dimension %d must be %lld, got %lld", v->name, d,
                                     (long long)v->dims[d], (long long)t->dims[d]);
    }
    int64_t bytes = eg_tensor_bytes(t->dtype, t->rank, t->dims);
    if (bytes < 0)
        return ember_err_set(err, EMBER_ESHAPE, "input '%s' has an invalid shape", v->name);
    if (bytes > 0 && !t->data)
        return ember_err_set(err, EMBER_EINVAL, "input '%s' has no data", v->name);
    return 0;
}

/* Whether Concat output u holds its inputs in place for the shapes just recorded: every
 * input is a part of u (eg_value.part_of), and u is nothing but the inputs one after the other
 * (its dims before the axis are all 1, as in a channel Concat of one image). */
static int concat_in_place(const ember_session *s, int u)
{
    const eg_graph *g = s->m->g;
    const eg_value *val = &g->val[u];
    if (val->kind != EG_VAL_NODE || val->producer < 0 || s->rec[u] <= 0)
        return 0;
    const eg_node *c = &g->node[val->producer];
    const eg_attr *ax = eg_node_attr(c, "axis");
    const ember_tensor *t = &s->top.t[u];
    if (c->domain[0] || strcmp(c->op, "Concat") != 0 || !ax)
        return 0;
    int64_t axis = ax->i < 0 ? ax->i + t->rank : ax->i, sum = 0;
    if (axis < 0 || axis >= t->rank)
        return 0;
    for (int d = 0; d < axis; d++)
        if (t->dims[d] != 1)
            return 0;
    for (int j = 0; j < c->nin; j++) {
        int v = c->in[j];
        if (v < 0 || g->val[v].part_of != u || s->rec[v] <= 0)
            return 0;
        sum += s->rec[v];
    }
    return sum == s->rec[u];
}

static void make_plan(ember_session *s)
{
    const eg_graph *g = s->m->g;
    eg_plan_item *items = calloc((size_t)g->nval + 1, sizeof *items);
    unsigned char *in_place = calloc((size_t)g->nval + 1, 1);
    if (!items || !in_place) {
        free(items);
        free(in_place);
        return;
    }
    for (int v = 0; v < g->nval; v++)
        in_place[v] = concat_in_place(s, v);
    int n = 0;
    for (int v = 0; v < g->nval; v++) {
        const eg_value *val = &g->val[v];
        s->size[v] = -1;
        if (val->kind != EG_VAL_NODE || s->rec[v] <= 0 ||
            (val->part_of >= 0 && in_place[val->part_of]))
            continue;
        int start = val->producer, end = val->is_output ? g->nnode : val->last_use;
        /* A Concat holding its inputs is live from the first of their producers on. */
        const eg_node *c = in_place[v] ? &g->node[val->producer] : NULL;
        for (int j = 0; c && j < c->nin; j++)
            if (g->val[c->in[j]].producer < start)
                start = g->val[c->in[j]].producer;
        items[n++] = (eg_plan_item){.id = v,
                                    .start = start,
                                    .end = end < val->producer ? val->producer : end,
                                    .size = (s->rec[v] + ARENA_ALIGN - 1) / ARENA_ALIGN *
                                            ARENA_ALIGN};
    }
    int64_t total = eg_plan_offsets(items, n);
    unsigned char *arena = total > 0 ? aligned_alloc64((size_t)total) : NULL;
    if (total > 0 && !arena) {
        free(items);
        free(in_place);
        return;
    }
    free(s->arena);
    s->arena = arena;
    s->arena_bytes = (size_t)total;
    for (int i = 0; i < n; i++) {
        s->off[items[i].id] = items[i].offset;
        s->size[items[i].id] = items[i].size;
    }
    /* Each input of such a Concat gets its run of the output: its producer writes it there
     * and the Concat has nothing left to copy. */
    for (int u = 0; u < g->nval; u++) {
        const eg_node *c = in_place[u] ? &g->node[g->val[u].producer] : NULL;
        int64_t at = 0;
        for (int j = 0; c && j < c->nin; j++) {
            int v = c->in[j];
            s->off[v] = s->off[u] + at;
            s->size[v] = s->rec[v];
            at += s->rec[v];
        }
    }
    s->planned = 1;
    free(items);
    free(in_place);
#ifdef __GLIBC__
    /* The recording run's tensors, each malloc'd and freed, are not asked for again (the
     * arena holds them now), but glibc keeps freed heap pages resident: 7 MB for
     * mobilenet_v2, a quarter of its peak. Once per new input shape, never per run. */
    malloc_trim(0);
#endif
}

int ember_session_run(ember_session *s, const ember_tensor *inputs, int ninputs,
                      ember_tensor *outputs, int noutputs, ember_err *err)
{
    const eg_graph *g = s->m->g;
    if (err)
        err->msg[0] = '\0';
    if (ninputs != g->nin || noutputs != g->nout)
        return ember_err_set(err, EMBER_EINVAL, "model takes %d inputs and %d outputs, got %d, %d",
                             g->nin, g->nout, ninputs, noutputs);
    for (int i = 0; i < g->nin; i++) {
        int rc = check_input(&g->val[g->in[i]], &inputs[i], err);
        if (rc)
            return rc;
    }

    /* Same input shapes as the plan was made for? */
    int same = s->planned && !s->replan;
    for (int i = 0; i < g->nin && same; i++) {
        const ember_tensor *t = &inputs[i];
        int64_t *sig = &s->sig[i * EMBER_MAX_RANK];
        for (int d = 0; d < t->rank; d++)
            if (sig[d] != t->dims[d])
                same = 0;
    }
    frame_clear(&s->top);
    if (!same) {
        s->planned = 0;
        s->replan = 0;
        memset(s->rec, 0, (size_t)g->nval * sizeof *s->rec);
        for (int i = 0; i < g->nin; i++)
            memcpy(&s->sig[i * EMBER_MAX_RANK], inputs[i].dims,
                   sizeof inputs[i].dims[0] * EMBER_MAX_RANK);
    }
    for (int i = 0; i < g->nin; i++)
        s->top.t[g->in[i]] = inputs[i];

    if (s->count_macs)
        s->macs = 0;
    if (s->tg)
        eg_tgroup_begin(s->tg);
    int rc = run_graph(s, &s->top, err);
    if (s->tg)
        eg_tgroup_end(s->tg);
    if (rc) {
        frame_clear(&s->top);
        return rc;
    }
    if (!s->planned)
        make_plan(s);
    if (s->profile)
        s->prof_runs++;
    for (int i = 0; i < g->nout; i++)
        outputs[i] = s->top.t[g->out[i]];
    return 0;
}

int eg_fold_nodes(eg_graph *g, const unsigned char *fold, ember_err *err)
{
    /* A session with nothing but scratch memory, and a frame on the heap. */
    ember_session tmp;
    frame f;
    memset(&tmp, 0, sizeof tmp);
    if (frame_init(&f, g, NULL) != 0)
        return ember_err_set(err, EMBER_ENOMEM, "out of memory");
    int rc = 0;
    for (int i = 0; i < g->nnode && rc == 0; i++) {
        if (!fold[i])
            continue;
        const eg_node *n = &g->node[i];
        eg_kctx k = {.s = &tmp, .f = &f, .n = n, .err = err};
        rc = n->impl->run(&k);
        eg_subgraph_release(&k);
        scratch_reset(&tmp);
        if (rc) {
            if (err && !err->msg[0])
                ember_err_set(err, rc, "node '%s' (%s) failed on constant inputs", n->name, n->op);
            break;
        }
        if (n->act && !eg_op_fuses_act(n->impl) &&
            (rc = eg_apply_activation(n, &f.t[n->out[0]], err)))
            break;
        for (int j = 0; j < n->nout; j++) {
            int v = n->out[j];
            if (v < 0)
                continue;
            eg_value *val = &g->val[v];
            val->kind = EG_VAL_CONST;
            val->dtype = f.t[v].dtype;
            val->rank = f.t[v].rank;
            memcpy(val->dims, f.t[v].dims, sizeof val->dims);
            val->data = f.t[v].data;
            f.owned[v] = 0; /* the graph owns it now */
        }
    }
    frame_destroy(&f);
    kept_frames_free(&tmp);
    for (int i = 0; i < tmp.nextra; i++)
        free(tmp.extra[i]);
    free(tmp.extra);
    free(tmp.scratch);
    return rc;
}
