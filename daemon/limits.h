/*
 * emberd's own bounds and defaults, in one place (the protocol's limits on headers, URLs,
 * bodies and tensors live in <ember/proto.h>).
 */
#ifndef EMBERD_LIMITS_H
#define EMBERD_LIMITS_H

/* Socket used when neither --socket nor $EMBER_SOCKET says otherwise. */
#define EMBERD_DEFAULT_SOCKET "/run/emberd/emberd.sock"
/* Jobs that may wait for a worker before requests are refused with 503 (--queue). */
#define EMBERD_DEFAULT_QUEUE 64
#define EMBERD_MAX_QUEUE 65536
/* Upper bound of --workers (the default is the number of online CPUs). */
#define EMBERD_MAX_WORKERS 256
/* Open client connections (--max-connections); more are accepted and closed at once. Each
 * costs a file descriptor, so emberd raises its soft RLIMIT_NOFILE to fit at start. */
#define EMBERD_DEFAULT_MAX_CONNECTIONS 4096
#define EMBERD_MAX_MAX_CONNECTIONS 65536
/* Descriptors kept beside the connections: listener, loop, workers, model files, logs. */
#define EMBERD_RESERVED_FDS 64
#define EMBERD_LISTEN_BACKLOG 128
/* Bytes asked of each socket read, and the most a busy connection reads ahead of the
 * request it is answering before it stops reading. */
#define EMBERD_READ_CHUNK (64 * 1024)
#define EMBERD_READ_AHEAD (64 * 1024)
/* Plaintext bytes one TLS record holds at most: the room kept free in a connection's input
 * buffer while its session decrypts. */
#define EMBERD_TLS_RECORD (16 * 1024)
/* After an error response the connection drains what the client still sends for at most
 * this long, so the client reads the error instead of failing its write. */
#define EMBERD_LINGER_MS 2000
/* A request's header section must arrive within this long of its first byte, else 408
 * (config "header_timeout_ms"). */
#define EMBERD_DEFAULT_HEADER_TIMEOUT_MS 10000
/* A connection silent this long between requests is closed; a body that stalls this long
 * is answered 408 (config "idle_timeout_ms"). */
#define EMBERD_DEFAULT_IDLE_TIMEOUT_MS 60000
/* Upper bound of both timeouts. */
#define EMBERD_MAX_CLIENT_TIMEOUT_MS 3600000
/* On SIGTERM, connections still busy after this long are closed. */
#define EMBERD_SHUTDOWN_GRACE_MS 10000
/* Bytes of a model name (a path segment of the repository and of URLs). */
#define EMBERD_MAX_MODEL_NAME 64
/* Versions of one model served at once (config.json "versions"). */
#define EMBERD_MAX_MODEL_VERSIONS 16
/* Bytes of emberd's --config file. */
#define EMBERD_MAX_CONFIG_FILE (64 * 1024)
/* Bytes of a model's config.json. */
#define EMBERD_MAX_MODEL_CONFIG (64 * 1024)
/* Bytes and lines of a model's labels file (config.json "labels"). */
#define EMBERD_MAX_LABELS_FILE (1024 * 1024)
#define EMBERD_MAX_LABELS 65536
/* (model, version, status) series counted by /metrics; answers beyond are counted as
 * dropped. */
#define EMBERD_MAX_METRIC_SERIES 1024
/* Model loads running at once; more are answered 503. */
#define EMBERD_MAX_LOADS 8
/* Entries of the configuration's "acl" object. */
#define EMBERD_MAX_ACL_RULES 256
/* Bytes of a client certificate's subject or common name that "tls_roles" compares; an
 * entry longer than this is refused. */
#define EMBERD_MAX_TLS_SUBJECT 256
/* Supplementary groups of a peer looked at (SO_PEERGROUPS); a peer in more is matched on its
 * uid and primary group only. */
#define EMBERD_MAX_PEER_GROUPS 1024
/* The power governor's sample period (--power-sample-ms), in milliseconds. */
#define EMBERD_DEFAULT_POWER_SAMPLE_MS 10
#define EMBERD_MAX_POWER_SAMPLE_MS 10000
/* Models whose service time the governor remembers; the least recently used makes room. */
#define EMBERD_POWER_MAX_MODELS 64
/* Governor ticks the energy attribution remembers; a request running longer is priced
 * partly at the oldest remembered rate. */
#define EMBERD_POWER_HISTORY 4096
/* The sysfs root (--power-sysfs). */
#define EMBERD_DEFAULT_POWER_SYSFS "/sys"

/* A model's response cache (config.json "cache"): answers kept at most, and the default and
 * largest byte bounds of the whole cache and of one answer. */
#define EMBERD_MAX_CACHE_ENTRIES 65536
#define EMBERD_DEFAULT_CACHE_BYTES (16u * 1024 * 1024)
#define EMBERD_DEFAULT_CACHE_ANSWER_BYTES (1024u * 1024)
#define EMBERD_MAX_CACHE_BYTES (1024u * 1024 * 1024)
/* Dynamic batching (config.json "max_batch", "max_batch_delay_us"): rows one batch may hold
 * and the longest a request waits for company. */
#define EMBERD_MAX_BATCH 1024
#define EMBERD_MAX_BATCH_DELAY_US 1000000
/* Requests to a model with a cache or batching are decoded on the loop thread when queued
 * (the key and the shapes are needed there); a bigger body skips both and is decoded by its
 * worker as usual, so the loop never parses more than this at once. */
#define EMBERD_LOOP_DECODE_MAX (64 * 1024)
/* A request to a model whose runs take at most this long (config "inline_max_us") runs on the
 * loop thread itself when nothing waits and a worker is free (infer.h): the hand-off to a
 * worker and back costs more than such a run. 0 turns it off. */
#define EMBERD_DEFAULT_INLINE_MAX_US 100
#define EMBERD_MAX_INLINE_MAX_US 1000000
/* Inline runs take at most half of the loop's time in any window this long; past that,
 * requests go to the workers until the window ends, so the loop keeps serving sockets and
 * timers however busy it is. */
#define EMBERD_INLINE_WINDOW_NS 10000000u

#endif
