/* The metrics text: families, escaped labels, cumulative histogram buckets, the
 * registry, the size limit and the bearer check. promtool checks the real daemons'
 * output in tests/e2e/metrics.sh. */
#include "check.h"
#include "hio_buf.h"
#include "hio_metrics.h"

#include <string.h>

static struct hio_hist h;

static void collect(struct hio_metrics_out *o, void *ud)
{
	hio_mo_counter(o, "t_things_total", "Things\\counted\nhere", *(uint64_t *)ud);
	hio_mo_family(o, "t_state", HIO_M_GAUGE, "By state");
	hio_mo_u64(o, "t_state", "name", "a\"b\\c\nd", "state", "up", 3);
	hio_mo_hist(o, "t_seconds", "Latency", &h);
}

static int has(const struct hio_buf *b, const char *s)
{
	return b->data && strstr(b->data, s) != NULL;
}

int main(void)
{
	uint64_t n = 7;
	struct hio_buf b;

	hio_hist_observe_us(&h, 200);	   /* <= 0.5 ms */
	hio_hist_observe_us(&h, 3000);	   /* <= 5 ms */
	hio_hist_observe_us(&h, 3000);	   /* <= 5 ms */
	hio_hist_observe_us(&h, 9000000);  /* <= 10 s */
	hio_hist_observe_us(&h, 99000000); /* +Inf only */
	CHECK(hio_metrics_add(collect, &n) == 0);
	hio_buf_init(&b, HIO_METRICS_TEXT_MAX);
	CHECK(hio_metrics_render(&b) == 0);
	CHECK(has(&b, "# HELP t_things_total Things\\\\counted\\nhere\n"));
	CHECK(has(&b, "# TYPE t_things_total counter\nt_things_total 7\n"));
	CHECK(has(&b, "# TYPE t_state gauge\n"));
	CHECK(has(&b, "t_state{name=\"a\\\"b\\\\c\\nd\",state=\"up\"} 3\n"));
	CHECK(has(&b, "# TYPE t_seconds histogram\n"));
	CHECK(has(&b, "t_seconds_bucket{le=\"0.0005\"} 1\n"));
	CHECK(has(&b, "t_seconds_bucket{le=\"0.001\"} 1\n"));
	CHECK(has(&b, "t_seconds_bucket{le=\"0.005\"} 3\n"));
	CHECK(has(&b, "t_seconds_bucket{le=\"10\"} 4\n"));
	CHECK(has(&b, "t_seconds_bucket{le=\"60\"} 4\n"));
	CHECK(has(&b, "t_seconds_bucket{le=\"+Inf\"} 5\n"));
	CHECK(has(&b, "t_seconds_sum 108.0062\n"));
	CHECK(has(&b, "t_seconds_count 5\n"));
	/* No stream was used: libhio's own histograms stay out. */
	CHECK(!has(&b, "hio_stream_"));

	/* Over the limit: an error, not a cut scrape. */
	hio_buf_free(&b);
	hio_buf_init(&b, 100);
	CHECK(hio_metrics_render(&b) < 0);
	hio_buf_free(&b);

	hio_metrics_remove(collect, &n);
	hio_buf_init(&b, HIO_METRICS_TEXT_MAX);
	CHECK(hio_metrics_render(&b) == 0 && !has(&b, "t_things_total"));
	hio_buf_free(&b);

	CHECK(hio_metrics_bearer_ok("Bearer sekrit", "sekrit"));
	CHECK(hio_metrics_bearer_ok("bearer   sekrit", "sekrit"));
	CHECK(!hio_metrics_bearer_ok("Bearer sekrit2", "sekrit"));
	CHECK(!hio_metrics_bearer_ok("sekrit", "sekrit"));
	CHECK(!hio_metrics_bearer_ok(NULL, "sekrit"));
	return check_result("test_metrics");
}
