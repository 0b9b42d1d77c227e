/*
 * flyte.h: the flyte plugin ABI v1 for C guests (abi/SPEC.md is the contract).
 *
 * The host functions a guest imports, the statuses and ops, and a small
 * codec for the wire format (section 5: protocol-buffers varint and
 * length-delimited fields only). Header-only; no libc beyond malloc,
 * realloc, free and memcpy.
 */
#ifndef FLYTE_H
#define FLYTE_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define FLYTE_IMPORT(name) __attribute__((import_module("flyte_v1"), import_name(name)))
#define FLYTE_EXPORT(name) __attribute__((export_name(name)))

/* flyte_v1, section 2.1. Pointers are offsets into this module's memory. */
FLYTE_IMPORT("input_read") uint32_t flyte_input_read(void *buf, uint32_t limit);
FLYTE_IMPORT("output_write") uint32_t flyte_output_write(const void *ptr, uint32_t len);
FLYTE_IMPORT("log") void flyte_log(uint32_t level, const void *ptr, uint32_t len);

enum {
	FLYTE_MINOR = 2, /* the ABI minor version this guest was written against */
	FLYTE_MAX_MESSAGE = 8 << 20,
};

enum flyte_status {
	FLYTE_OK = 0,
	FLYTE_NOT_FOUND = 1,
	FLYTE_INVALID_ARGUMENT = 2,
	FLYTE_ALREADY_EXISTS = 3,
	FLYTE_PERMISSION_DENIED = 4,
	FLYTE_CAPABILITY_DENIED = 5,
	FLYTE_UNAVAILABLE = 6,
	FLYTE_UNIMPLEMENTED = 7,
	FLYTE_INTERNAL = 8,
	FLYTE_CONFLICT = 9,
	FLYTE_TOO_LARGE = 10,
};

enum { FLYTE_KIND_STORE = 1, FLYTE_KIND_INJECTOR = 2 };
enum { FLYTE_OP_PLAN = 100, FLYTE_OP_RENDER = 101 };

/* ---- encoding ---------------------------------------------------------- */

/* A growable byte buffer. ok is 0 once an allocation failed. */
struct flyte_buf {
	uint8_t *p;
	size_t len, cap;
	int ok;
};

static inline void flyte_buf_init(struct flyte_buf *b) {
	b->p = NULL;
	b->len = b->cap = 0;
	b->ok = 1;
}

static inline void flyte_buf_free(struct flyte_buf *b) {
	free(b->p);
	flyte_buf_init(b);
}

static inline void flyte_put(struct flyte_buf *b, const void *p, size_t n) {
	if (!b->ok || n == 0)
		return;
	if (b->len + n > b->cap) {
		size_t cap = b->cap ? b->cap * 2 : 256;
		while (cap < b->len + n)
			cap *= 2;
		uint8_t *q = realloc(b->p, cap);
		if (!q) {
			b->ok = 0;
			return;
		}
		b->p = q;
		b->cap = cap;
	}
	memcpy(b->p + b->len, p, n);
	b->len += n;
}

static inline void flyte_put_uvarint(struct flyte_buf *b, uint64_t v) {
	uint8_t t[10];
	size_t n = 0;
	while (v >= 0x80) {
		t[n++] = (uint8_t)v | 0x80;
		v >>= 7;
	}
	t[n++] = (uint8_t)v;
	flyte_put(b, t, n);
}

/* A varint field; 0 is omitted, as the wire format says. */
static inline void flyte_put_uint(struct flyte_buf *b, int field, uint64_t v) {
	if (v == 0)
		return;
	flyte_put_uvarint(b, (uint64_t)field << 3);
	flyte_put_uvarint(b, v);
}

/* A length-delimited field (string, bytes, or an encoded message when
 * always is set: nested messages are written even when empty). */
static inline void flyte_put_bytes(struct flyte_buf *b, int field, const void *p, size_t n, int always) {
	if (n == 0 && !always)
		return;
	flyte_put_uvarint(b, (uint64_t)field << 3 | 2);
	flyte_put_uvarint(b, n);
	flyte_put(b, p, n);
}

static inline void flyte_put_string(struct flyte_buf *b, int field, const char *s) {
	flyte_put_bytes(b, field, s, strlen(s), 0);
}

/* ---- decoding ---------------------------------------------------------- */

/* A decoder over one message. After flyte_next returns 1, field and wt
 * say what was read: for wt 0 the value is in val, for wt 2 the bytes are
 * data/len. bad is set on malformed input (then flyte_next returns 0). */
struct flyte_dec {
	const uint8_t *p, *end;
	int field, wt;
	uint64_t val;
	const uint8_t *data;
	size_t len;
	int bad;
};

static inline void flyte_dec_init(struct flyte_dec *d, const void *p, size_t n) {
	memset(d, 0, sizeof *d);
	d->p = p;
	d->end = d->p + n;
}

static inline int flyte_uvarint(struct flyte_dec *d, uint64_t *v) {
	uint64_t x = 0;
	for (int i = 0; i < 10; i++) {
		if (d->p == d->end)
			return 0;
		uint8_t c = *d->p++;
		if (i == 9 && c > 1)
			return 0; /* over 64 bits */
		x |= (uint64_t)(c & 0x7f) << (7 * i);
		if (c < 0x80) {
			*v = x;
			return 1;
		}
	}
	return 0;
}

static inline int flyte_next(struct flyte_dec *d) {
	uint64_t k;
	if (d->bad || d->p == d->end)
		return 0;
	if (!flyte_uvarint(d, &k) || (k >> 3) == 0 || (k >> 3) > (1u << 29))
		goto bad;
	d->field = (int)(k >> 3);
	d->wt = (int)(k & 7);
	if (d->wt == 0) {
		if (!flyte_uvarint(d, &d->val))
			goto bad;
		return 1;
	}
	if (d->wt == 2) {
		uint64_t n;
		if (!flyte_uvarint(d, &n) || n > (uint64_t)(d->end - d->p))
			goto bad;
		d->data = d->p;
		d->len = (size_t)n;
		d->p += n;
		return 1;
	}
bad:
	d->bad = 1;
	return 0;
}

/* Checks the current field's wire type; a mismatch makes the message
 * malformed. */
static inline int flyte_want(struct flyte_dec *d, int wt) {
	if (d->wt != wt)
		d->bad = 1;
	return !d->bad;
}

/* The current field as a uint32 (malformed if wider). */
static inline uint32_t flyte_u32(struct flyte_dec *d) {
	if (!flyte_want(d, 0))
		return 0;
	if (d->val > 0xffffffffu) {
		d->bad = 1;
		return 0;
	}
	return (uint32_t)d->val;
}

/* Checks a nested message whose known fields (1..nstrings) are all
 * length-delimited, as Task and Scope are. */
static inline int flyte_check_strings(const uint8_t *p, size_t n, int nstrings) {
	struct flyte_dec d;
	flyte_dec_init(&d, p, n);
	while (flyte_next(&d))
		if (d.field <= nstrings)
			flyte_want(&d, 2);
	return !d.bad;
}

/* ---- answers ----------------------------------------------------------- */

/* Writes an ErrorMessage { 1 message } and returns status, for a call
 * that fails. The host shows the message to the user: never put a secret
 * value in it (an injector never has one anyway). */
static inline uint32_t flyte_fail(uint32_t status, const char *msg) {
	struct flyte_buf b;
	flyte_buf_init(&b);
	flyte_put_string(&b, 1, msg);
	uint32_t ws = b.ok ? flyte_output_write(b.p, (uint32_t)b.len) : FLYTE_INTERNAL;
	flyte_buf_free(&b);
	return ws != FLYTE_OK ? ws : status;
}

/* Writes an answer and returns its status. */
static inline uint32_t flyte_answer(struct flyte_buf *b) {
	if (!b->ok)
		return flyte_fail(FLYTE_INTERNAL, "out of memory");
	return b->len ? flyte_output_write(b->p, (uint32_t)b->len) : FLYTE_OK;
}

#endif
