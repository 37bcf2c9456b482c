/* SHA-256 and HMAC-SHA256 against the published vectors (FIPS 180-4 examples,
 * RFC 4231), and the credentials' roles: each is recognised, bound to its id, and
 * refused when one byte differs or it comes from another cluster token. */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "hio_cred.h"

static void hex(const uint8_t *b, size_t n, char *out)
{
	for (size_t i = 0; i < n; i++)
		sprintf(out + 2 * i, "%02x", b[i]);
}

static int sha_is(const void *p, size_t n, const char *want)
{
	uint8_t d[32];
	char h[65];

	hio_sha256(p, n, d);
	hex(d, 32, h);
	return strcmp(h, want) == 0;
}

static int hmac_is(const void *k, size_t kl, const char *msg, const char *want)
{
	uint8_t d[32];
	char h[65];

	hio_hmac_sha256(k, kl, msg, strlen(msg), d);
	hex(d, 32, h);
	return strcmp(h, want) == 0;
}

int main(void)
{
	char *million = malloc(1000000);
	uint8_t key[131];
	const char *tok = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
	const char *other = "fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210";
	const char *id = "00112233445566778899aabbccddeeff",
		   *id2 = "ffeeddccbbaa99887766554433221100";
	char join[HIO_TOKEN_MAX + 1], pe[HIO_TOKEN_MAX + 1], pe2[HIO_TOKEN_MAX + 1];
	char p2p[HIO_TOKEN_MAX + 1], p2p2[HIO_TOKEN_MAX + 1], got[HIO_ID_LEN + 1] = "";

	CHECK(sha_is("", 0, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"));
	CHECK(sha_is("abc", 3, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"));
	CHECK(sha_is("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", 56,
		     "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"));
	memset(million, 'a', 1000000);
	CHECK(sha_is(million, 1000000,
		     "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"));
	free(million);
	/* RFC 4231 cases 2 and 6 (a key longer than the block is hashed first). */
	CHECK(hmac_is("Jefe", 4, "what do ya want for nothing?",
		      "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"));
	memset(key, 0xaa, sizeof(key));
	CHECK(hmac_is(key, sizeof(key), "Test Using Larger Than Block-Size Key - Hash Key First",
		      "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"));

	hio_cred_join(tok, join);
	CHECK(strncmp(join, "hio-join.", 9) == 0 && strlen(join) == 9 + 64);
	CHECK(hio_cred_pe(tok, id, pe) == 0);
	CHECK(hio_cred_pe(tok, id2, pe2) == 0);
	CHECK(hio_cred_pe(tok, "not-an-id", pe2 + 0) == -1);
	CHECK(strncmp(pe, "hio-pe.00112233445566778899aabbccddeeff.", 40) == 0);
	CHECK(strcmp(pe, pe2) != 0);
	hio_cred_p2p(pe, p2p);
	hio_cred_p2p(pe2, p2p2);
	CHECK(strncmp(p2p, "hio-p2p.", 8) == 0 && strcmp(p2p, p2p2) != 0);

	CHECK(hio_cred_role(tok, tok, NULL) == HIO_ROLE_CLUSTER);
	CHECK(hio_cred_role(tok, join, NULL) == HIO_ROLE_JOIN);
	CHECK(hio_cred_role(tok, pe, got) == HIO_ROLE_PE && strcmp(got, id) == 0);
	CHECK(hio_cred_role(other, tok, NULL) == HIO_ROLE_NONE);
	CHECK(hio_cred_role(other, join, NULL) == HIO_ROLE_NONE);
	CHECK(hio_cred_role(other, pe, NULL) == HIO_ROLE_NONE);
	CHECK(hio_cred_role(tok, p2p, NULL) == HIO_ROLE_NONE);
	CHECK(hio_cred_role(tok, "", NULL) == HIO_ROLE_NONE);
	CHECK(hio_cred_role("", "", NULL) == HIO_ROLE_NONE);
	CHECK(hio_cred_role(tok, "hio-pe.0011", NULL) == HIO_ROLE_NONE);
	/* A PE credential with another PE's id spliced in is refused. */
	memcpy(pe2 + 7, id, HIO_ID_LEN);
	CHECK(hio_cred_role(tok, pe2, NULL) == HIO_ROLE_NONE);
	for (size_t i = 0; i < strlen(pe); i++) {
		char bad[HIO_TOKEN_MAX + 1];

		strcpy(bad, pe);
		bad[i] ^= 1;
		CHECK(hio_cred_role(tok, bad, NULL) == HIO_ROLE_NONE);
	}
	join[strlen(join) - 1] ^= 1;
	CHECK(hio_cred_role(tok, join, NULL) == HIO_ROLE_NONE);
	CHECK(strcmp(hio_role_name(HIO_ROLE_PE), "pe") == 0);
	{
		char met[HIO_TOKEN_MAX + 1];

		hio_cred_metrics(tok, met);
		CHECK(hio_cred_role(tok, met, NULL) == HIO_ROLE_METRICS);
		CHECK(hio_cred_role(other, met, NULL) == HIO_ROLE_NONE);
	}
	return check_result("test_cred");
}
