/* ignore.c: names held until renamed (tools' temporary files). A path is held when
 * any of its components matches a pattern, so a file inside a temporary directory is
 * held too. */
#include "fs.h"

#include <fnmatch.h>
#include <stdlib.h>
#include <string.h>

int fs_ignore_parse(struct fs *fs, const char *list)
{
	char *copy = strdup(list), *save = NULL, *tok;
	int rc = 0;

	if (!copy)
		return -1;
	fs_ignore_free(fs);
	for (tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		if (!*tok)
			continue;
		if (fs->nignore == FS_IGNORE_MAX || !(fs->ignore[fs->nignore] = strdup(tok))) {
			rc = -1;
			break;
		}
		fs->nignore++;
	}
	free(copy);
	return rc;
}

void fs_ignore_free(struct fs *fs)
{
	for (int i = 0; i < fs->nignore; i++)
		free(fs->ignore[i]);
	fs->nignore = 0;
}

static int component_ignored(const struct fs *fs, const char *c, size_t len)
{
	char buf[256];

	if (len >= sizeof(buf))
		len = sizeof(buf) - 1; /* names are at most 255 bytes on the spool's disk */
	memcpy(buf, c, len);
	buf[len] = 0;
	for (int i = 0; i < fs->nignore; i++)
		if (fnmatch(fs->ignore[i], buf, FNM_PERIOD) == 0)
			return 1;
	return 0;
}

int fs_ignored(const struct fs *fs, const char *path)
{
	const char *p = path, *slash;

	if (!strcmp(path, "."))
		return 0;
	for (;;) {
		slash = strchr(p, '/');
		if (component_ignored(fs, p, slash ? (size_t)(slash - p) : strlen(p)))
			return 1;
		if (!slash)
			return 0;
		p = slash + 1;
	}
}
