/* conf.h: defaults for hio's commands from config files (docs/operations.md "Config
 * file"). Each file is INI-like: "key = value" lines, a key being a command's long
 * option without "--"; keys before any "[command]" line apply to every command that
 * takes them. The settings go into the command's argv right after its name, so the
 * command line, parsed later by getopt (last wins), beats them. */
#ifndef HIO_CLICONF_H
#define HIO_CLICONF_H
#include "cli.h"
#include <stddef.h>

#define CLICONF_SYSTEM_FILE "/etc/hio/hio.conf"
#define CLICONF_USER_FILE "hio/hio.conf" /* under $XDG_CONFIG_HOME or ~/.config */
#define CLICONF_LINE_MAX 4096		 /* bytes in a line, without its newline */
#define CLICONF_LINES_MAX 1000		 /* lines in a file */
#define CLICONF_FILES_MAX 8		 /* files HIO_CONFIG may name */
#define CLICONF_EXIT_USAGE 2		 /* hio's exit status for usage errors */

/* Reads the files (those HIO_CONFIG names, else the system file then the user's) and
 * checks every line of them. 0, or CLICONF_EXIT_USAGE after printing "hio: FILE:LINE:
 * reason". A missing file is fine unless HIO_CONFIG named it. */
int cliconf_load(void);
/* The argv cmd runs with: argv (argv[0] the command's name) with the files' settings
 * for cmd inserted after cmd->words words. NULL when out of memory. Valid until
 * cliconf_free. */
char **cliconf_argv(const struct cli_cmd *cmd, int argc, char **argv, int *argc_out);
/* cli_getopt's note: option name was just parsed, with value arg (may be NULL). */
void cliconf_saw(const char *name, const char *arg);
/* When msg starts with "--NAME" and NAME's value came from a file: the length of
 * "--NAME", with "FILE:LINE" in from. Else 0. */
size_t cliconf_flag_from(const char *msg, char *from, size_t n);
/* After a usage error: one line on stderr with the settings the files added, if any
 * (a bad value there shows only as the command's usage). */
void cliconf_note_usage(void);
void cliconf_free(void);

#endif
