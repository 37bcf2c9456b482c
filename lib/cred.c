/* cred.c: SHA-256 (FIPS 180-4), HMAC-SHA256 (RFC 2104) and the credentials derived
 * with them. Small and self-contained: the stack has no crypto library, and hio needs
 * only a keyed hash. */
#include <stdio.h>
#include <string.h>

#include "hio_cred.h"

static const uint32_t K256[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2};

struct sha256 {
	uint32_t h[8];
	uint8_t blk[64];
	size_t fill;
	uint64_t total;
};

static uint32_t ror(uint32_t x, int n)
{
	return (x >> n) | (x << (32 - n));
}

static void sha_block(struct sha256 *s, const uint8_t *b)
{
	uint32_t w[64], a, bb, c, d, e, f, g, h;

	for (int i = 0; i < 16; i++)
		w[i] = (uint32_t)b[4 * i] << 24 | (uint32_t)b[4 * i + 1] << 16 |
		       (uint32_t)b[4 * i + 2] << 8 | b[4 * i + 3];
	for (int i = 16; i < 64; i++) {
		uint32_t s0 = ror(w[i - 15], 7) ^ ror(w[i - 15], 18) ^ (w[i - 15] >> 3);
		uint32_t s1 = ror(w[i - 2], 17) ^ ror(w[i - 2], 19) ^ (w[i - 2] >> 10);

		w[i] = w[i - 16] + s0 + w[i - 7] + s1;
	}
	a = s->h[0], bb = s->h[1], c = s->h[2], d = s->h[3];
	e = s->h[4], f = s->h[5], g = s->h[6], h = s->h[7];
	for (int i = 0; i < 64; i++) {
		uint32_t t1 = h + (ror(e, 6) ^ ror(e, 11) ^ ror(e, 25)) + ((e & f) ^ (~e & g)) +
			      K256[i] + w[i];
		uint32_t t2 =
		    (ror(a, 2) ^ ror(a, 13) ^ ror(a, 22)) + ((a & bb) ^ (a & c) ^ (bb & c));

		h = g, g = f, f = e, e = d + t1;
		d = c, c = bb, bb = a, a = t1 + t2;
	}
	s->h[0] += a, s->h[1] += bb, s->h[2] += c, s->h[3] += d;
	s->h[4] += e, s->h[5] += f, s->h[6] += g, s->h[7] += h;
}

static void sha_init(struct sha256 *s)
{
	static const uint32_t iv[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
				       0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};

	memcpy(s->h, iv, sizeof(iv));
	s->fill = 0;
	s->total = 0;
}

static void sha_update(struct sha256 *s, const void *p, size_t n)
{
	const uint8_t *b = p;

	s->total += n;
	while (n) {
		size_t k = 64 - s->fill < n ? 64 - s->fill : n;

		memcpy(s->blk + s->fill, b, k);
		s->fill += k, b += k, n -= k;
		if (s->fill == 64) {
			sha_block(s, s->blk);
			s->fill = 0;
		}
	}
}

static void sha_final(struct sha256 *s, uint8_t out[32])
{
	uint64_t bits = s->total * 8;
	uint8_t pad = 0x80, len[8];

	sha_update(s, &pad, 1);
	pad = 0;
	while (s->fill != 56)
		sha_update(s, &pad, 1);
	for (int i = 0; i < 8; i++)
		len[i] = (uint8_t)(bits >> (56 - 8 * i));
	sha_update(s, len, 8);
	for (int i = 0; i < 8; i++) {
		out[4 * i] = (uint8_t)(s->h[i] >> 24);
		out[4 * i + 1] = (uint8_t)(s->h[i] >> 16);
		out[4 * i + 2] = (uint8_t)(s->h[i] >> 8);
		out[4 * i + 3] = (uint8_t)s->h[i];
	}
}

void hio_sha256(const void *p, size_t n, uint8_t out[32])
{
	struct sha256 s;

	sha_init(&s);
	sha_update(&s, p, n);
	sha_final(&s, out);
}

void hio_hmac_sha256(const void *key, size_t klen, const void *msg, size_t mlen, uint8_t out[32])
{
	uint8_t k[64] = {0}, pad[64], inner[32];
	struct sha256 s;

	if (klen > 64)
		hio_sha256(key, klen, k);
	else
		memcpy(k, key, klen);
	for (int i = 0; i < 64; i++)
		pad[i] = k[i] ^ 0x36;
	sha_init(&s);
	sha_update(&s, pad, 64);
	sha_update(&s, msg, mlen);
	sha_final(&s, inner);
	for (int i = 0; i < 64; i++)
		pad[i] = k[i] ^ 0x5c;
	sha_init(&s);
	sha_update(&s, pad, 64);
	sha_update(&s, inner, 32);
	sha_final(&s, out);
}

/* prefix + hex(HMAC(key, msg)) into out. */
static void mac_cred(const char *key, const char *msg, const char *prefix,
		     char out[HIO_TOKEN_MAX + 1])
{
	static const char hx[] = "0123456789abcdef";
	uint8_t mac[32];
	size_t n = strlen(prefix);

	hio_hmac_sha256(key, strlen(key), msg, strlen(msg), mac);
	memcpy(out, prefix, n);
	for (int i = 0; i < 32; i++) {
		out[n++] = hx[mac[i] >> 4];
		out[n++] = hx[mac[i] & 15];
	}
	out[n] = '\0';
}

void hio_cred_join(const char *token, char out[HIO_TOKEN_MAX + 1])
{
	mac_cred(token, "hio join", "hio-join.", out);
}

void hio_cred_metrics(const char *token, char out[HIO_TOKEN_MAX + 1])
{
	mac_cred(token, "hio metrics", "hio-metrics.", out);
}

int hio_cred_pe(const char *token, const char *id, char out[HIO_TOKEN_MAX + 1])
{
	char msg[16 + HIO_ID_LEN], prefix[16 + HIO_ID_LEN];

	if (!hio_id_valid(id))
		return -1;
	snprintf(msg, sizeof(msg), "hio pe %s", id);
	snprintf(prefix, sizeof(prefix), "hio-pe.%s.", id);
	mac_cred(token, msg, prefix, out);
	return 0;
}

void hio_cred_p2p(const char *pe_cred, char out[HIO_TOKEN_MAX + 1])
{
	mac_cred(pe_cred, "hio p2p", "hio-p2p.", out);
}

enum hio_role hio_cred_role(const char *token, const char *presented, char *id_out)
{
	char want[HIO_TOKEN_MAX + 1], id[HIO_ID_LEN + 1];

	if (!token || !*token || !presented)
		return HIO_ROLE_NONE;
	if (strncmp(presented, "hio-join.", 9) == 0) {
		hio_cred_join(token, want);
		return hio_token_eq(presented, want) ? HIO_ROLE_JOIN : HIO_ROLE_NONE;
	}
	if (strncmp(presented, "hio-metrics.", 12) == 0) {
		hio_cred_metrics(token, want);
		return hio_token_eq(presented, want) ? HIO_ROLE_METRICS : HIO_ROLE_NONE;
	}
	if (strncmp(presented, "hio-pe.", 7) == 0) {
		if (strlen(presented) < 7 + HIO_ID_LEN + 1 || presented[7 + HIO_ID_LEN] != '.')
			return HIO_ROLE_NONE;
		memcpy(id, presented + 7, HIO_ID_LEN);
		id[HIO_ID_LEN] = '\0';
		if (hio_cred_pe(token, id, want) < 0 || !hio_token_eq(presented, want))
			return HIO_ROLE_NONE;
		if (id_out)
			memcpy(id_out, id, HIO_ID_LEN + 1);
		return HIO_ROLE_PE;
	}
	return hio_token_eq(presented, token) ? HIO_ROLE_CLUSTER : HIO_ROLE_NONE;
}

const char *hio_role_name(enum hio_role r)
{
	switch (r) {
	case HIO_ROLE_CLUSTER:
		return "cluster";
	case HIO_ROLE_JOIN:
		return "join";
	case HIO_ROLE_PE:
		return "pe";
	case HIO_ROLE_METRICS:
		return "metrics";
	default:
		return "none";
	}
}
