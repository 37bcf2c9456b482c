/* progress.h: one status line on a terminal for commands that take a while (hio send,
 * hio wait): done of total, failed, rate and ETA. Drawn on stderr only when stderr is a
 * terminal (never into a log or a pipe), at most every PROGRESS_EVERY_MS, and cleared
 * before any other line goes to that terminal, so output lines never mix with it.
 * Not thread-safe: the caller serialises calls (hio send holds its ack mutex). */
#ifndef HIO_PROGRESS_H
#define HIO_PROGRESS_H
#include <stdint.h>

#define PROGRESS_EVERY_MS 200

struct cli_progress {
	int on;		  /* drawing at all */
	int drawn;	  /* a line is on the screen now */
	int out_tty;	  /* stdout is a terminal too: clear before each stdout line */
	uint64_t t0_ms;	  /* first update: the rate counts from there */
	uint64_t last_ms; /* last drawing */
	long long done0;  /* done at the first update */
	const char *what; /* "send", "wait" */
	const char *verb; /* "sent", "done" */
};

/* wanted: 0 when the user said --no-progress. */
void cli_progress_init(struct cli_progress *p, const char *what, const char *verb, int wanted);
/* Draws "hio WHAT: D of T VERB[, F failed], R/s, ETA ..." when due (or always when
 * final; a final line stays, followed by a newline). total < 0: not known yet. */
void cli_progress_show(struct cli_progress *p, long long done, long long total, long long failed,
		       int final);
/* Before printing a line on stdout: takes the status line off a shared terminal. */
void cli_progress_clear_for_stdout(struct cli_progress *p);
/* Takes the status line off the terminal (before an error message, at the end). */
void cli_progress_clear(struct cli_progress *p);
/* cli_fail calls this: takes the line of the command's progress off, if any. */
void cli_progress_clear_active(void);
#endif
