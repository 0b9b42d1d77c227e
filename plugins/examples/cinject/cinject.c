/*
 * cinject: an injector written in C, to show that the flyte plugin ABI is
 * language-neutral and what a small guest costs. It does what the built-in
 * injectors do together: each secret routed to it goes to the environment
 * variable it was requested as (as_env_var), or to the file mount/KEY with
 * mode 0400. The host validates and applies the plan; the plugin never
 * sees a value.
 *
 * Build (make examples does, when clang-14 is installed):
 *
 *   clang-14 --target=wasm32-wasi --sysroot=/usr -mexec-model=reactor -Os \
 *     -Wl,--strip-all -o cinject.wasm cinject.c
 *
 * -mexec-model=reactor links wasi-libc's crt1-reactor.o, which exports
 * _initialize; wasm-ld exports memory by default.
 */
#include "flyte.h"

static const char name[] = "cinject";
static const char version[] = "1.0.0";
static const char summary[] = "secrets as variables or files, in C";

/* The ABI v1 marker: never called. */
FLYTE_EXPORT("flyte_abi_v1") void flyte_abi_v1(void) {}

/* Describe { 1 minor  2 kind  3 name  4 version  5 summary  6 ops } */
FLYTE_EXPORT("flyte_describe") uint32_t flyte_describe(void) {
	struct flyte_buf b;
	flyte_buf_init(&b);
	flyte_put_uint(&b, 1, FLYTE_MINOR);
	flyte_put_uint(&b, 2, FLYTE_KIND_INJECTOR);
	flyte_put_string(&b, 3, name);
	flyte_put_string(&b, 4, version);
	flyte_put_string(&b, 5, summary);
	flyte_put_uvarint(&b, 6 << 3); /* repeated ops: one field per op */
	flyte_put_uvarint(&b, FLYTE_OP_PLAN);
	uint32_t st = flyte_answer(&b);
	flyte_buf_free(&b);
	return st;
}

/* One SecretRequest { 1 ref  2 key  5 as_env_var  6 mount  7 scope ... };
 * strings point into the input. */
struct secret {
	uint32_t ref;
	const uint8_t *key, *env, *mount;
	size_t key_len, env_len, mount_len;
};

static int secret_request(const uint8_t *p, size_t n, struct secret *s) {
	struct flyte_dec d;
	memset(s, 0, sizeof *s);
	flyte_dec_init(&d, p, n);
	while (flyte_next(&d)) {
		switch (d.field) {
		case 1:
			s->ref = flyte_u32(&d);
			break;
		case 2:
			if (flyte_want(&d, 2))
				s->key = d.data, s->key_len = d.len;
			break;
		case 3: /* group */
			flyte_want(&d, 2);
			break;
		case 4: /* kind */
		case 8: /* size */
			flyte_u32(&d);
			break;
		case 5:
			if (flyte_want(&d, 2))
				s->env = d.data, s->env_len = d.len;
			break;
		case 6:
			if (flyte_want(&d, 2))
				s->mount = d.data, s->mount_len = d.len;
			break;
		case 7: /* scope */
			if (flyte_want(&d, 2) && !flyte_check_strings(d.data, d.len, 3))
				d.bad = 1;
			break;
		}
	}
	return !d.bad;
}

/* PLAN: PlanRequest { 1 task  2 secrets } -> Plan { 1 env  2 files }
 * EnvEntry { 1 name  2 ref }, FileEntry { 1 path  2 mode  3 ref } */
static uint32_t plan(const uint8_t *in, size_t n) {
	struct flyte_buf out, entry;
	struct flyte_dec d;
	uint32_t st = FLYTE_OK;

	flyte_buf_init(&out);
	flyte_buf_init(&entry);
	flyte_dec_init(&d, in, n);
	while (st == FLYTE_OK && flyte_next(&d)) {
		struct secret s;
		if (d.field == 1) {
			if (flyte_want(&d, 2) && !flyte_check_strings(d.data, d.len, 4))
				d.bad = 1;
			continue;
		}
		if (d.field != 2 || !flyte_want(&d, 2))
			continue;
		if (!secret_request(d.data, d.len, &s)) {
			d.bad = 1;
			break;
		}
		entry.len = 0;
		if (s.env_len) {
			flyte_put_bytes(&entry, 1, s.env, s.env_len, 0);
			flyte_put_uint(&entry, 2, s.ref);
			flyte_put_bytes(&out, 1, entry.p, entry.len, 1);
		} else if (s.mount_len) {
			flyte_put_uvarint(&entry, 1 << 3 | 2); /* path = mount "/" key */
			flyte_put_uvarint(&entry, s.mount_len + 1 + s.key_len);
			flyte_put(&entry, s.mount, s.mount_len);
			flyte_put(&entry, "/", 1);
			flyte_put(&entry, s.key, s.key_len);
			flyte_put_uint(&entry, 2, 0400);
			flyte_put_uint(&entry, 3, s.ref);
			flyte_put_bytes(&out, 2, entry.p, entry.len, 1);
		} else {
			st = flyte_fail(FLYTE_INVALID_ARGUMENT, "a secret was requested neither as a variable nor as a file");
		}
	}
	if (st == FLYTE_OK)
		st = d.bad ? flyte_fail(FLYTE_INVALID_ARGUMENT, "bad request: malformed message")
		           : entry.ok ? flyte_answer(&out) : flyte_fail(FLYTE_INTERNAL, "out of memory");
	flyte_buf_free(&entry);
	flyte_buf_free(&out);
	return st;
}

FLYTE_EXPORT("flyte_handle") uint32_t flyte_handle(uint32_t op, uint32_t in_len) {
	if (op != FLYTE_OP_PLAN)
		return flyte_fail(FLYTE_UNIMPLEMENTED, "unknown operation");
	uint8_t *in = malloc(in_len ? in_len : 1);
	if (!in)
		return flyte_fail(FLYTE_INTERNAL, "out of memory");
	uint32_t st;
	if (flyte_input_read(in, in_len) != in_len)
		st = flyte_fail(FLYTE_INTERNAL, "the host's input changed size");
	else
		st = plan(in, in_len);
	free(in);
	return st;
}
