/* inproc: the C API end to end. Runs a PE with an in-process handler (no output,
 * nothing forked) in this process, registers it with a running master, and streams
 * COUNT buffers of SIZE bytes through hio_stream; every message's result entry is
 * stored by the master before it is acknowledged.
 *   HIO_MASTER=URL HIO_TOKEN=T inproc SIZE COUNT [lz4: auto|on|off] [random|text] [copy|ref]
 * (ref: hio_stream_send_ref, the buffer not copied)
 * Prints: size count seconds msgs/s MB/s via_pe via_backlog */
#include "hio_http.h"
#include "hio_log.h"
#include "hio_pe.h"
#include "hio_stream.h"
#include "hio_util.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int handler(void *ud, const struct hio_pe_msg *msg, hio_pe_out *out)
{
	(void)ud;
	(void)msg;
	(void)out;
	return 0;
}

static struct hio_pe_opts pe_opts;

static void *pe_main(void *arg)
{
	(void)arg;
	hio_pe_run(&pe_opts);
	return NULL;
}

/* Waits until the PE is idle in the master's registry. */
static int wait_pe_idle(const char *master, const char *token, const char *id)
{
	hio_http *h = hio_http_new(master, token);
	char err[256];
	int ok = 0;

	for (int i = 0; i < 500 && !ok; i++) {
		json_t *st = NULL, *pe;
		size_t k;
		if (hio_http_json(h, "GET", "/v1/status", NULL, &st, err, sizeof(err)) == 200)
			json_array_foreach(json_object_get(st, "pes"), k, pe)
			{
				const char *pid = json_string_value(json_object_get(pe, "id"));
				const char *s = json_string_value(json_object_get(pe, "state"));
				if (pid && s && !strcmp(pid, id) && !strcmp(s, "idle"))
					ok = 1;
			}
		json_decref(st);
		if (!ok)
			usleep(10000);
	}
	hio_http_free(h);
	return ok;
}

int main(int argc, char **argv)
{
	const char *master = getenv("HIO_MASTER"), *token = getenv("HIO_TOKEN");
	struct hio_stream_opts so = {0};
	struct hio_stream_stats st;
	char id[HIO_ID_LEN + 1], err[256], name[64];
	pthread_t th;
	hio_stream *s;
	size_t size;
	long count, n;
	char *buf;
	int ref = argc > 5 && !strcmp(argv[5], "ref");

	if (argc < 3 || !master || !token) {
		fprintf(stderr, "usage: HIO_MASTER=URL HIO_TOKEN=T inproc SIZE COUNT [auto|on|off] "
				"[random|text] [copy|ref]\n");
		return 2;
	}
	hio_log_init("inproc");
	hio_log_set_level(HIO_LOG_WARN);
	hio_http_global_init();
	if (hio_parse_long(argv[1], 0, 1L << 40, &n) < 0 ||
	    hio_parse_long(argv[2], 1, 1L << 40, &count) < 0) {
		fprintf(stderr, "%s: SIZE and COUNT are whole numbers\n", argv[0]);
		return 2;
	}
	size = (size_t)n;
	so.compress = argc > 3 && !strcmp(argv[3], "on")    ? HIO_COMPRESS_ON
		      : argc > 3 && !strcmp(argv[3], "off") ? HIO_COMPRESS_OFF
							    : HIO_COMPRESS_AUTO;
	buf = malloc(size ? size : 1);
	if (argc > 4 && !strcmp(argv[4], "text")) {
		/* Compressible, like a microscope image's dark background with some signal. */
		for (size_t i = 0; i < size; i++)
			buf[i] = (char)((i % 4096) < 3000 ? 0 : (i * 7) % 251);
	} else {
		FILE *r = fopen("/dev/urandom", "r");
		if (!r || fread(buf, 1, size, r) != size)
			return 1;
		fclose(r);
	}
	hio_id_new(id);
	pe_opts =
	    (struct hio_pe_opts){.master = master, .token = token, .pe_id = id, .handler = handler};
	pthread_create(&th, NULL, pe_main, NULL);
	if (!wait_pe_idle(master, token, id)) {
		fprintf(stderr, "inproc: the in-process PE did not become idle\n");
		return 1;
	}
	so.master = master;
	so.token = token;
	so.max_pes = 1;
	s = hio_stream_open(&so, err, sizeof(err));
	if (!s) {
		fprintf(stderr, "inproc: %s\n", err);
		return 1;
	}
	uint64_t t0 = hio_now_us();
	for (long i = 0; i < count; i++) {
		snprintf(name, sizeof(name), "bench/%zu/%ld", size, i);
		/* ref: the one buffer, never changed, is valid for every message. */
		if (ref)
			hio_stream_send_ref(s, buf, size, name, NULL, 0, NULL);
		else
			hio_stream_send_buf(s, buf, size, name, NULL, 0, NULL);
	}
	hio_stream_flush(s, -1);
	uint64_t t1 = hio_now_us();
	hio_stream_get_stats(s, &st);
	hio_stream_close(s);
	hio_pe_stop();
	pthread_join(th, NULL);
	double secs = (double)(t1 - t0) / 1e6;
	printf("%zu %ld %.3f %.0f %.1f %llu %llu\n", size, count, secs, count / secs,
	       size * count / secs / 1e6, (unsigned long long)st.via_pe,
	       (unsigned long long)st.via_backlog);
	free(buf);
	return st.acked == (uint64_t)count ? 0 : 1;
}
