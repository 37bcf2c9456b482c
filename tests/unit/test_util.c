/* Names, ids, tokens and the bounded buffer. */
#include "check.h"
#include "hio_buf.h"
#include "hio_util.h"

#include <stdlib.h>
#include <string.h>

static int valid(const char *s)
{
	return hio_name_valid(s, strlen(s), NULL);
}

int main(void)
{
	char id[HIO_ID_LEN + 1], id2[HIO_ID_LEN + 1], big[5000];
	const char *why = NULL;
	struct hio_buf b;

	CHECK(valid("a"));
	CHECK(valid("plate1/A01/t003.tif"));
	CHECK(valid(".hidden/x"));
	CHECK(valid("a..b/c"));
	CHECK(!valid(""));
	CHECK(!valid("/etc/passwd"));
	CHECK(!valid("../x"));
	CHECK(!valid("a/../../x"));
	CHECK(!valid("a/./b"));
	CHECK(!valid("a//b"));
	CHECK(!valid("a/"));
	CHECK(!valid(".."));
	CHECK(!hio_name_valid("a\0b", 3, &why));
	CHECK(why && strstr(why, "NUL"));
	memset(big, 'a', sizeof(big));
	for (int i = 100; i < 4096; i += 100)
		big[i] = '/';
	CHECK(hio_name_valid(big, 4096, NULL));
	CHECK(!hio_name_valid(big, 4097, &why));

	CHECK(strcmp(hio_name_strip("/data/x.tif"), "data/x.tif") == 0);
	CHECK(strcmp(hio_name_strip("./a/b"), "a/b") == 0);
	CHECK(strcmp(hio_name_strip("../../x"), "x") == 0);
	CHECK(strcmp(hio_name_strip(".//./x"), "x") == 0);

	hio_id_new(id);
	hio_id_new(id2);
	CHECK(hio_id_valid(id));
	CHECK(strcmp(id, id2) != 0);
	CHECK(!hio_id_valid("0123"));
	CHECK(!hio_id_valid("0123456789ABCDEF0123456789abcdef"));
	CHECK(!hio_id_valid(NULL));

	CHECK(hio_token_eq("secret", "secret"));
	CHECK(!hio_token_eq("secret", "secreT"));
	CHECK(!hio_token_eq("secret", "secret2"));
	CHECK(!hio_token_eq("secret", ""));
	CHECK(!hio_token_eq("", ""));
	CHECK(!hio_token_eq("secret", NULL));

	CHECK(hio_pipeline_valid("default"));
	CHECK(hio_pipeline_valid("gfp-2.0_x"));
	CHECK(!hio_pipeline_valid("a/b"));
	CHECK(!hio_pipeline_valid(".."));
	CHECK(!hio_pipeline_valid(""));

	hio_buf_init(&b, 10);
	CHECK(hio_buf_append(&b, "12345", 5) == 0);
	CHECK(hio_buf_printf(&b, "%d", 6789) == 0);
	CHECK(b.len == 9 && strcmp(b.data, "123456789") == 0);
	CHECK(hio_buf_append(&b, "ab", 2) == -1);
	CHECK(b.len == 9);
	CHECK(hio_buf_append(&b, "a", 1) == 0);
	hio_buf_free(&b);
	return check_result("test_util");
}
