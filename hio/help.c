/* help.c: `hio CMD --help` (exit 0, the command's usage on stdout, as every Unix tool;
 * SPEC "The command line"). One text per command; errors print the one-line usage. */
#include "cli.h"

#include <stdio.h>
#include <string.h>

static const struct {
	const char *cmd, *text;
} helps[] = {
    {"up", "usage: hio up [--pes N] [--exec CMD | --serve CMD] [--runtime process|docker|slurm]\n"
	   "              [--image IMG] [--mount DIR] [--state-dir DIR] [--port P]\n"
	   "              [--min-pes N] [--max-pes N] [--timeout-ms MS] [--pipeline P]\n"
	   "              [--spool-max SIZE] [--slurm-* ...]\n"
	   "Starts a master, one worker and N PEs (and the mount with --mount) in the\n"
	   "background; returns once N PEs are idle and the mount answers, and prints the\n"
	   "master URL. On any failure it stops what it started. Without --exec or --serve a\n"
	   "pipeline the state dir holds keeps its analysis.\n"},
    {"down", "usage: hio down [--state-dir DIR]\n"
	     "Stops everything hio up, join, master or mount started with DIR; unmounts\n"
	     "(lazily while a shell still sits inside).\n"},
    {"status", "usage: hio status [--json] [--state-dir DIR]\n"
	       "Workers, PEs and their states, queue length per pipeline, messages in, done\n"
	       "and failed, mounts and their spools.\n"},
    {"send", "usage: hio send [--pipeline P] [--compress auto|on|off] [--timeout SEC]\n"
	     "                [--no-progress] [--state-dir DIR] FILE|DIR...\n"
	     "Streams files (every regular file below a DIR) without a mount; prints one\n"
	     "line per acknowledged file: NAME done|queued ID via pe|backlog. On a terminal,\n"
	     "a progress line on stderr (--no-progress: none).\n"},
    {"results", "usage: hio results [--failed] [--json] [--state-dir DIR]\n"
		"       hio results show NAME\n"
		"       hio results get NAME DIR\n"
		"       hio results rm NAME | --older-than AGE\n"
		"Lists result entries (name, state, files; paged, so any number lists), shows\n"
		"one with its provenance, copies one input's result files into DIR, or deletes\n"
		"entries for good (AGE: 90s, 15m, 12h, 30d, 2w).\n"},
    {"retry", "usage: hio retry [--from DIR] NAME... | --failed\n"
	      "Sends inputs again, read from DIR/NAME (default .): the master keeps no input\n"
	      "once its result is stored. The new result replaces the entry.\n"},
    {"scale", "usage: hio scale [--pipeline P] [--min-pes N] [--max-pes N] [--idle-ms MS] "
	      "N|auto\n"
	      "N sets the PE count by hand (the autoscaler stops for the pipeline); auto\n"
	      "hands it back to the autoscaler, within min..max.\n"},
    {"wait", "usage: hio wait [--pipeline P] [--timeout SEC] [--no-progress] [--state-dir DIR]\n"
	     "Returns 0 once every input the master, its backlog and every mount hold has a\n"
	     "result; otherwise, at the timeout (default 600 s), says what it still waits for.\n"
	     "On a terminal, a progress line on stderr.\n"},
    {"master", "usage: hio master [--listen ADDR:PORT] [--token-file F] [--state-dir DIR]\n"
	       "Starts a master alone, reachable from other hosts (default 0.0.0.0:7700);\n"
	       "prints its URL and the exact hio join and hio mount lines (docs/deploy.md).\n"},
    {"join", "usage: hio join MASTER_URL --token-file F [--max-pes N] [--runtime R]\n"
	     "                [--advertise HOST] [--state-dir DIR]\n"
	     "Starts a worker on this compute host; its PEs advertise the address this host\n"
	     "reaches the master from (or HOST).\n"},
    {"mount", "usage: hio mount MASTER_URL DIR --token-file F [--pipeline P] [--spool-max SIZE]\n"
	      "                 [--state-dir DIR]\n"
	      "Starts hio-fs on DIR against a remote master, in the background; returns once\n"
	      "the mount answers.\n"},
    {"pipeline", "usage: hio pipeline set P [--exec CMD | --serve CMD] [--image IMG] [--pes N]\n"
		 "                         [--min-pes N] [--max-pes N] [--timeout-ms MS]\n"
		 "       hio pipeline show P [--json]\n"
		 "       hio pipeline list [--json]\n"
		 "Creates or changes a pipeline on a running master; a change of the analysis\n"
		 "rolls its PEs, and each result records the version that made it.\n"},
    {"config", "usage: hio config [COMMAND]\n"
	       "Prints the settings COMMAND (or each command) takes from the config files, one a\n"
	       "line, '[command] key = value', with where it comes from: FILE:LINE, or the\n"
	       "variable that beats it. Files, lowest precedence first: /etc/hio/hio.conf, then\n"
	       "$XDG_CONFIG_HOME/hio/hio.conf (default ~/.config/hio/hio.conf);\n"
	       "HIO_CONFIG=FILE[:FILE...] reads those instead, HIO_CONFIG=none none. A key is a\n"
	       "long option without its dashes; keys before any [command] line apply to every\n"
	       "command that takes them. Flags beat HIO_STATE_DIR and HIO_MASTER, which beat the\n"
	       "files (docs/operations.md).\n"},
};

int cli_help(const char *cmd)
{
	for (size_t i = 0; i < sizeof(helps) / sizeof(helps[0]); i++)
		if (!strcmp(helps[i].cmd, cmd)) {
			fputs(helps[i].text, stdout);
			if (!strcmp(cmd, "config"))
				return 1;
			fputs(
			    "Every command takes --state-dir DIR (default $HIO_STATE_DIR or "
			    "~/.hio).\n"
			    "Defaults for its options may come from /etc/hio/hio.conf and\n"
			    "~/.config/hio/hio.conf; hio config shows them (docs/operations.md).\n",
			    stdout);
			return 1;
		}
	return 0;
}
