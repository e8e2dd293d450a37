// A stand-in for libnccl.so.2 used by the tests: the ranks of a
// communicator are threads of one process and collectives run
// synchronously on float32 data in host memory. It checks that each call
// runs with the communicator's device current (cudaGetDevice from the fake
// runtime), appends "init", "abort", "finalize" and "destroy" events to
// the file named by FAKE_NCCL_LOG, reports FAKE_NCCL_ASYNC_ERROR as the
// asynchronous error and FAKE_NCCL_VERSION as the version, and corrupts
// the last element of every all-reduce when FAKE_NCCL_CORRUPT=1. Build with
// -DNO_LAST_ERROR to mimic NCCL before 2.13.4.
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int cudaGetDevice(int *d);

#define MAXRANKS 16

typedef struct { char internal[128]; } ncclUniqueId;

struct group {
	char id[128];
	int nranks, joined, arrived;
	unsigned gen;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	const void *send[MAXRANKS];
	int devices[MAXRANKS];
	struct group *next;
};

struct comm {
	struct group *g;
	int rank, device;
	volatile int aborted;
};

static pthread_mutex_t registry_mu = PTHREAD_MUTEX_INITIALIZER;
static struct group *groups;
static unsigned long id_counter;
static __thread int group_depth;
static char last_error[256];

static int env_int(const char *name, int def) {
	const char *v = getenv(name);
	return (v != NULL && *v != '\0') ? atoi(v) : def;
}

static void logf_event(const char *fmt, ...) {
	const char *path = getenv("FAKE_NCCL_LOG");
	if (path == NULL || *path == '\0') return;
	pthread_mutex_lock(&registry_mu);
	FILE *f = fopen(path, "a");
	if (f != NULL) {
		va_list ap;
		va_start(ap, fmt);
		vfprintf(f, fmt, ap);
		va_end(ap);
		fputc('\n', f);
		fclose(f);
	}
	pthread_mutex_unlock(&registry_mu);
}

static int fail(int code, const char *msg) {
	snprintf(last_error, sizeof last_error, "%s", msg);
	return code;
}

int ncclGetVersion(int *v) { *v = env_int("FAKE_NCCL_VERSION", 23007); return 0; }

int ncclGetUniqueId(ncclUniqueId *id) {
	memset(id, 0, sizeof *id);
	pthread_mutex_lock(&registry_mu);
	unsigned long n = ++id_counter;
	pthread_mutex_unlock(&registry_mu);
	snprintf(id->internal, sizeof id->internal, "fake-nccl-id pid=%d n=%lu", (int)getpid(), n);
	return 0;
}

// barrier waits for every rank of g; it gives up when c is aborted.
static int barrier(struct comm *c) {
	struct group *g = c->g;
	pthread_mutex_lock(&g->mu);
	unsigned gen = g->gen;
	if (++g->arrived == g->nranks) {
		g->arrived = 0;
		g->gen++;
		pthread_cond_broadcast(&g->cv);
	} else {
		while (gen == g->gen && !c->aborted) pthread_cond_wait(&g->cv, &g->mu);
	}
	int aborted = c->aborted;
	pthread_mutex_unlock(&g->mu);
	return aborted ? fail(6, "fake: communicator aborted while waiting for peers") : 0;
}

int ncclCommInitRank(struct comm **out, int nranks, ncclUniqueId id, int rank) {
	if (nranks < 1 || nranks > MAXRANKS || rank < 0 || rank >= nranks) return fail(4, "fake: bad rank or size");
	int dev = -1;
	cudaGetDevice(&dev);
	pthread_mutex_lock(&registry_mu);
	struct group *g = groups;
	while (g != NULL && memcmp(g->id, id.internal, sizeof g->id) != 0) g = g->next;
	if (g == NULL) {
		g = calloc(1, sizeof *g);
		memcpy(g->id, id.internal, sizeof g->id);
		g->nranks = nranks;
		pthread_mutex_init(&g->mu, NULL);
		pthread_cond_init(&g->cv, NULL);
		g->next = groups;
		groups = g;
	}
	pthread_mutex_unlock(&registry_mu);
	if (g->nranks != nranks) return fail(5, "fake: ranks disagree on the size");
	struct comm *c = calloc(1, sizeof *c);
	c->g = g;
	c->rank = rank;
	c->device = dev;
	pthread_mutex_lock(&g->mu);
	g->devices[rank] = dev;
	pthread_mutex_unlock(&g->mu);
	int r = barrier(c);
	if (r != 0) return r;
	for (int i = 0; i < nranks; i++) {
		if (i != rank && g->devices[i] == dev) {
			return fail(5, "fake: Duplicate GPU detected");
		}
	}
	logf_event("init rank=%d nranks=%d device=%d", rank, nranks, dev);
	*out = c;
	return 0;
}

static int check(struct comm *c) {
	if (c == NULL) return fail(4, "fake: NULL communicator");
	if (c->aborted) return fail(6, "fake: communicator aborted");
	int dev = -1;
	cudaGetDevice(&dev);
	if (dev != c->device) {
		static __thread char msg[128];
		snprintf(msg, sizeof msg, "fake: called with device %d current, communicator is on device %d", dev, c->device);
		return fail(5, msg);
	}
	return 0;
}

static float combine(float a, float b, int op) {
	switch (op) {
	case 1: return a * b;
	case 2: return a > b ? a : b;
	case 3: return a < b ? a : b;
	default: return a + b;
	}
}

static size_t type_size(int dt) {
	static const size_t sizes[] = {1, 1, 4, 4, 8, 8, 2, 4, 8, 2, 1, 1};
	return (dt >= 0 && dt < 12) ? sizes[dt] : 0;
}

// reduce writes into out[0..n) the reduction over ranks of the float32
// elements [off, off+n) of every rank's send buffer.
static void reduce(struct group *g, size_t off, size_t n, int op, float *out) {
	for (size_t i = 0; i < n; i++) {
		float acc = ((const float *)g->send[0])[off + i];
		for (int r = 1; r < g->nranks; r++) acc = combine(acc, ((const float *)g->send[r])[off + i], op);
		out[i] = op == 4 ? acc / (float)g->nranks : acc;
	}
}

int ncclAllReduce(const void *send, void *recv, size_t count, int dt, int op, struct comm *c, void *stream) {
	(void)stream;
	int r = check(c);
	if (r != 0) return r;
	if (dt != 7) return fail(4, "fake supports float32 only");
	if (op < 0 || op > 4) return fail(4, "fake: bad reduction");
	c->g->send[c->rank] = send;
	float *tmp = malloc(count * sizeof(float) + 1);
	if ((r = barrier(c)) == 0) {
		reduce(c->g, 0, count, op, tmp);
		if (count > 0 && env_int("FAKE_NCCL_CORRUPT", 0)) tmp[count - 1] += 1;
		if ((r = barrier(c)) == 0) memcpy(recv, tmp, count * sizeof(float));
	}
	free(tmp);
	return r;
}

int ncclReduceScatter(const void *send, void *recv, size_t recvcount, int dt, int op, struct comm *c, void *stream) {
	(void)stream;
	int r = check(c);
	if (r != 0) return r;
	if (dt != 7) return fail(4, "fake supports float32 only");
	c->g->send[c->rank] = send;
	float *tmp = malloc(recvcount * sizeof(float) + 1);
	if ((r = barrier(c)) == 0) {
		reduce(c->g, (size_t)c->rank * recvcount, recvcount, op, tmp);
		if ((r = barrier(c)) == 0) memcpy(recv, tmp, recvcount * sizeof(float));
	}
	free(tmp);
	return r;
}

int ncclBroadcast(const void *send, void *recv, size_t count, int dt, int root, struct comm *c, void *stream) {
	(void)stream;
	int r = check(c);
	if (r != 0) return r;
	size_t sz = type_size(dt);
	if (sz == 0 || root < 0 || root >= c->g->nranks) return fail(4, "fake: bad type or root");
	c->g->send[c->rank] = send;
	char *tmp = malloc(count * sz + 1);
	if ((r = barrier(c)) == 0) {
		memcpy(tmp, c->g->send[root], count * sz);
		if ((r = barrier(c)) == 0) memcpy(recv, tmp, count * sz);
	}
	free(tmp);
	return r;
}

int ncclAllGather(const void *send, void *recv, size_t sendcount, int dt, struct comm *c, void *stream) {
	(void)stream;
	int r = check(c);
	if (r != 0) return r;
	size_t sz = type_size(dt);
	if (sz == 0) return fail(4, "fake: bad type");
	c->g->send[c->rank] = send;
	size_t block = sendcount * sz;
	char *tmp = malloc(block * (size_t)c->g->nranks + 1);
	if ((r = barrier(c)) == 0) {
		for (int i = 0; i < c->g->nranks; i++) memcpy(tmp + (size_t)i * block, c->g->send[i], block);
		if ((r = barrier(c)) == 0) memcpy(recv, tmp, block * (size_t)c->g->nranks);
	}
	free(tmp);
	return r;
}

int ncclGroupStart(void) { group_depth++; return 0; }

int ncclGroupEnd(void) {
	if (group_depth == 0) return fail(5, "fake: ncclGroupEnd without ncclGroupStart on this thread");
	group_depth--;
	return 0;
}

int ncclCommFinalize(struct comm *c) { logf_event("finalize rank=%d", c->rank); return 0; }

int ncclCommDestroy(struct comm *c) {
	logf_event("destroy rank=%d", c->rank);
	free(c);
	return 0;
}

int ncclCommAbort(struct comm *c) {
	logf_event("abort rank=%d", c->rank);
	pthread_mutex_lock(&c->g->mu);
	c->aborted = 1;
	pthread_cond_broadcast(&c->g->cv);
	pthread_mutex_unlock(&c->g->mu);
	return 0; // the comm is leaked on purpose: a blocked caller may still read it
}

int ncclCommGetAsyncError(struct comm *c, int *result) {
	(void)c;
	*result = env_int("FAKE_NCCL_ASYNC_ERROR", 0);
	if (*result != 0) fail(*result, "fake: peer vanished");
	return 0;
}

int ncclCommCount(struct comm *c, int *n) { *n = c->g->nranks; return 0; }
int ncclCommCuDevice(struct comm *c, int *d) { *d = c->device; return 0; }
int ncclCommUserRank(struct comm *c, int *r) { *r = c->rank; return 0; }

const char *ncclGetErrorString(int r) {
	switch (r) {
	case 0: return "no error";
	case 1: return "unhandled cuda error (run with NCCL_DEBUG=INFO for details)";
	case 2: return "unhandled system error (run with NCCL_DEBUG=INFO for details)";
	case 3: return "internal error - please report this issue to the NCCL developers";
	case 4: return "invalid argument (run with NCCL_DEBUG=WARN for details)";
	case 5: return "invalid usage (run with NCCL_DEBUG=WARN for details)";
	case 6: return "remote process exited or there was a network error";
	case 7: return "NCCL operation in progress";
	}
	return "unknown result code";
}

#ifndef NO_LAST_ERROR
const char *ncclGetLastError(struct comm *c) { (void)c; return last_error; }
#endif
