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
/* Open client connections; more are accepted and closed at once. */
#define EMBERD_MAX_CONNECTIONS 256
#define EMBERD_LISTEN_BACKLOG 128
/* Bytes asked of each socket read, and the most a busy connection reads ahead of the
 * request it is answering before it stops reading. */
#define EMBERD_READ_CHUNK (64 * 1024)
#define EMBERD_READ_AHEAD (64 * 1024)
/* After an error response the connection drains what the client still sends for at most
 * this long, so the client reads the error instead of failing its write. */
#define EMBERD_LINGER_MS 2000
/* On SIGTERM, connections still busy after this long are closed. */
#define EMBERD_SHUTDOWN_GRACE_MS 10000

#endif
