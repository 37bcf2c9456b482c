/* hio-fs's held names: which paths wait for a rename (the tools' temporary files). */
#include "check.h"
#include "fs.h"

#include <string.h>

int main(void)
{
	static struct fs fs;

	CHECK(fs_ignore_parse(&fs, FS_DEFAULT_IGNORE) == 0);
	CHECK(fs.nignore == 8);
	/* final names */
	CHECK(!fs_ignored(&fs, "."));
	CHECK(!fs_ignored(&fs, "a.tif"));
	CHECK(!fs_ignored(&fs, "plate1/A01/t003.tif"));
	CHECK(!fs_ignored(&fs, "report.tmpl"));
	CHECK(!fs_ignored(&fs, "a.partial"));
	CHECK(!fs_ignored(&fs, "a~b"));
	/* rsync, editors, browsers, instruments */
	CHECK(fs_ignored(&fs, ".a.tif.Xy12Zq"));
	CHECK(fs_ignored(&fs, "plate1/.t003.tif.abc"));
	CHECK(fs_ignored(&fs, "x.tmp"));
	CHECK(fs_ignored(&fs, "dir/x.part"));
	CHECK(fs_ignored(&fs, "notes.txt~"));
	CHECK(fs_ignored(&fs, ".notes.txt.swp"));
	CHECK(fs_ignored(&fs, "a.swp"));
	/* sqlite's rollback journal and WAL files beside a database */
	CHECK(fs_ignored(&fs, "db/x.db-journal"));
	CHECK(fs_ignored(&fs, "x.db-wal"));
	CHECK(fs_ignored(&fs, "x.db-shm"));
	CHECK(!fs_ignored(&fs, "x.db"));
	CHECK(!fs_ignored(&fs, "4913")); /* vim's probe goes within the settle time */
	/* a held directory holds what is inside it */
	CHECK(fs_ignored(&fs, ".staging/plate1/t.tif"));
	CHECK(fs_ignored(&fs, "run.tmp/a.tif"));
	CHECK(!fs_ignored(&fs, "run/a.tif"));
	/* a component longer than any disk allows is still judged, not overflowed */
	char longname[600];
	memset(longname, 'a', sizeof(longname) - 5);
	strcpy(longname + sizeof(longname) - 5, ".tmp");
	CHECK(!fs_ignored(&fs, longname)); /* cut at 255 bytes: no .tmp left */
	longname[0] = '.';
	CHECK(fs_ignored(&fs, longname));

	/* --ignore replaces the list; '' holds nothing */
	CHECK(fs_ignore_parse(&fs, "*.raw,,scratch*") == 0);
	CHECK(fs.nignore == 2);
	CHECK(fs_ignored(&fs, "img.raw"));
	CHECK(fs_ignored(&fs, "scratch1/img.tif"));
	CHECK(!fs_ignored(&fs, ".a.tif"));
	CHECK(fs_ignore_parse(&fs, "") == 0);
	CHECK(fs.nignore == 0);
	CHECK(!fs_ignored(&fs, ".a.tif"));
	/* too many patterns is refused */
	char many[FS_IGNORE_MAX * 3 + 8];
	size_t n = 0;
	for (int i = 0; i < FS_IGNORE_MAX + 1; i++)
		n += (size_t)snprintf(many + n, sizeof(many) - n, "a,");
	CHECK(fs_ignore_parse(&fs, many) < 0);
	fs_ignore_free(&fs);
	return check_result("test_fs_ignore");
}
