/* A PE runtime: how a worker starts and stops PEs. "process" (fork/exec of hio-pe) is
 * built in; a docker runtime (Engine API over its unix socket) fits the same shape.
 * All calls come from the worker's main thread. */
#ifndef HIO_WORKER_RUNTIME_H
#define HIO_WORKER_RUNTIME_H
#include <stddef.h>

struct rt_spec {
	const char *pe_id;
	const char *pipeline;
	const char *exec;  /* the command per message; may be NULL when image holds it */
	int serve;	   /* 1: exec is run resident (hio-pe --serve) */
	const char *image; /* container runtimes only */
	long timeout_ms;   /* 0: the PE's default */
	int version;	   /* the pipeline's analysis version (hio-pe --pipeline-version) */
	/* The PE's credential file: its own (mode 0600), or the worker's token file when
	 * the master sent none; NULL: the PE inherits HIO_TOKEN. */
	const char *token_file;
};

/* What every PE of this worker shares. */
struct rt_conf {
	const char *master;
	const char *token_file; /* the worker's; NULL: it has HIO_TOKEN */
	const char *worker_id;
	const char *host;    /* PEs listen on and advertise host:0 */
	const char *workdir; /* each PE gets WORKDIR/<pe id>, removed when it ends */
};

struct rt_exit {
	void *h;
	int clean;     /* exited with status 0 */
	char why[128]; /* "exited with status N" / "killed by signal N" */
};

struct runtime {
	const char *name;
	/* Starts a PE. Returns a handle (owned by the runtime until release), or NULL with
	 * err. */
	void *(*start)(struct runtime *rt, const struct rt_spec *spec, char *err, size_t errlen);
	/* Asks a PE to stop: SIGTERM, or SIGKILL when force. */
	void (*stop)(struct runtime *rt, void *h, int force);
	/* One PE that ended since the last call: 1 and *ex, or 0 when none did. */
	int (*poll)(struct runtime *rt, struct rt_exit *ex);
	/* The process id to report, or 0. */
	long (*pid)(struct runtime *rt, void *h);
	/* Frees an ended PE's handle. */
	void (*release)(struct runtime *rt, void *h);
	/* May be NULL. One PE an earlier run of this worker left behind (and the runtime
	 * has removed since the last call): 1 and its id, or 0 when no more. The worker
	 * reports them gone. */
	int (*leftover)(struct runtime *rt, char *pe_id, size_t len);
	void (*free)(struct runtime *rt);
};

/* NULL with err when the hio-pe binary cannot be found. */
struct runtime *rt_process_new(const struct rt_conf *conf, char *err, size_t errlen);

/* Containers through the Docker Engine API on the unix socket sock. Removes the
 * containers an earlier run of this worker left (see leftover). NULL with err when the
 * daemon does not answer. */
struct runtime *rt_docker_new(const struct rt_conf *conf, const char *sock, char *err,
			      size_t errlen);

/* PEs as SLURM batch jobs (rt_slurm.c), from --slurm-* options. */
#define RT_SLURM_PENDING_WARN_S 20 /* before the master's 30 s start timeout */
struct rt_slurm_opts {
	const char *partition, *account, *time, *mem; /* NULL: the site's default */
	const char *pe_bin;  /* hio-pe as the compute nodes see it; NULL: the local one */
	const char *log_dir; /* job output, readable here on a shared FS; NULL: workdir */
	long cpus;	     /* per PE; 0: 1 */
	long pending_warn_s; /* a job pending longer is logged; 0: RT_SLURM_PENDING_WARN_S */
};

/* Takes one --slurm-NAME option (name without the dashes). 0, or -1 with err. */
int rt_slurm_opt(struct rt_slurm_opts *o, const char *name, const char *val, char *err,
		 size_t errlen);
/* Cancels the jobs an earlier run of this worker left (see leftover). NULL with err
 * when squeue does not answer or hio-pe is not found. */
struct runtime *rt_slurm_new(const struct rt_conf *conf, const struct rt_slurm_opts *o, char *err,
			     size_t errlen);

#endif
