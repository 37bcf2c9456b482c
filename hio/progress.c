/* progress.c: see progress.h. */
#include "progress.h"

#include "hio_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The one progress line of this command, for cli_fail. */
static struct cli_progress *active;

void cli_progress_init(struct cli_progress *p, const char *what, const char *verb, int wanted)
{
	const char *term = getenv("TERM");

	memset(p, 0, sizeof(*p));
	p->what = what;
	p->verb = verb;
	/* A dumb terminal (an editor's shell buffer) cannot take the line back. */
	p->on = wanted && isatty(STDERR_FILENO) && !(term && !strcmp(term, "dumb"));
	p->out_tty = p->on && isatty(STDOUT_FILENO);
	if (p->on)
		active = p;
}

static void fmt_eta(char *out, size_t n, double s)
{
	long t = (long)(s + 0.5);

	if (t >= 3600)
		snprintf(out, n, "%ld:%02ld:%02ld", t / 3600, t / 60 % 60, t % 60);
	else
		snprintf(out, n, "%ld:%02ld", t / 60, t % 60);
}

void cli_progress_show(struct cli_progress *p, long long done, long long total, long long failed,
		       int final)
{
	uint64_t now = hio_mono_ms();
	char line[256], eta[32] = "";
	double rate = 0;
	int len;

	if (!p->on)
		return;
	if (!p->t0_ms) {
		p->t0_ms = now;
		p->done0 = done;
	}
	if (!final && p->drawn && now - p->last_ms < PROGRESS_EVERY_MS)
		return;
	p->last_ms = now;
	if (now > p->t0_ms)
		rate = (double)(done - p->done0) * 1000.0 / (double)(now - p->t0_ms);
	if (total >= 0 && done < total && rate > 0) {
		char t[24];

		fmt_eta(t, sizeof(t), (double)(total - done) / rate);
		snprintf(eta, sizeof(eta), ", ETA %s", t);
	}
	if (total >= 0)
		len = snprintf(line, sizeof(line), "hio %s: %lld of %lld %s", p->what, done, total,
			       p->verb);
	else
		len = snprintf(line, sizeof(line), "hio %s: %lld %s", p->what, done, p->verb);
	if (failed > 0 && len < (int)sizeof(line))
		len += snprintf(line + len, sizeof(line) - (size_t)len, ", %lld failed", failed);
	if (len < (int)sizeof(line))
		snprintf(line + len, sizeof(line) - (size_t)len, ", %.1f/s%s", rate, eta);
	/* \r and erase-to-end: the line overwrites itself in place. */
	fprintf(stderr, "\r\033[K%s%s", line, final ? "\n" : "");
	fflush(stderr);
	p->drawn = !final;
}

void cli_progress_clear(struct cli_progress *p)
{
	if (!p->on || !p->drawn)
		return;
	fputs("\r\033[K", stderr);
	fflush(stderr);
	p->drawn = 0;
}

void cli_progress_clear_for_stdout(struct cli_progress *p)
{
	if (p->out_tty)
		cli_progress_clear(p);
}

void cli_progress_clear_active(void)
{
	if (active)
		cli_progress_clear(active);
}
