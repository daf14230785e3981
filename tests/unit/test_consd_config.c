// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * pvsplit-consoled's configuration (backends/console/config.c): the one
 * parser behind the file and the command line, key by key: defaults, what
 * each value sets, and the reason given for each refusal.
 */
#include <errno.h>
#include <string.h>

#include "console/consback.h"
#include "cunit_main.h"

static int parse(struct consd_config *c, const char *text, char *why, size_t len)
{
	consd_config_default(c);
	return consd_config_parse(c, text, strlen(text), why, len);
}

static void test_defaults(void)
{
	struct consd_config c;

	consd_config_default(&c);
	CU_ASSERT_STRING_EQUAL(c.log_dir, "");
	CU_ASSERT_STRING_EQUAL(c.ctl, "");
	CU_ASSERT_FALSE(c.timestamps);
	CU_ASSERT_EQUAL(c.rotate_size, 0);
	CU_ASSERT_EQUAL(c.rotate_keep, 5);
	CU_ASSERT_EQUAL(c.replay, 16384);
	CU_ASSERT_EQUAL(c.rate_events, 0);
	CU_ASSERT_EQUAL(c.rate_ms, 0);
	CU_ASSERT_EQUAL(c.default_limit, 1048576);
	CU_ASSERT_FALSE(c.serve_ioemu);
	CU_ASSERT_EQUAL(c.wait, PVB_WAIT_URING);
}

static void test_every_key(void)
{
	static const char text[] = "# pvsplit-consoled.conf\n"
				   "log-dir = /var/log/xen/console\n"
				   "  timestamps=yes  \n"
				   "\n"
				   "rotate-size = 10M # a comment after the value\n"
				   "rotate-keep = 3\n"
				   "replay = 64K\n"
				   "rate-limit = 30/200\n"
				   "buffer-limit = 2M\n"
				   "serve-ioemu = on\n"
				   "control-socket = /run/c.sock\n"
				   "wait = epoll";
	struct consd_config c;
	char why[256] = "";

	CU_ASSERT_EQUAL(parse(&c, text, why, sizeof(why)), 0);
	CU_ASSERT_STRING_EQUAL(why, "");
	CU_ASSERT_STRING_EQUAL(c.log_dir, "/var/log/xen/console");
	CU_ASSERT_TRUE(c.timestamps);
	CU_ASSERT_EQUAL(c.rotate_size, 10ull << 20);
	CU_ASSERT_EQUAL(c.rotate_keep, 3);
	CU_ASSERT_EQUAL(c.replay, 64u << 10);
	CU_ASSERT_EQUAL(c.rate_events, 30);
	CU_ASSERT_EQUAL(c.rate_ms, 200);
	CU_ASSERT_EQUAL(c.default_limit, 2u << 20);
	CU_ASSERT_TRUE(c.serve_ioemu);
	CU_ASSERT_STRING_EQUAL(c.ctl, "/run/c.sock");
	CU_ASSERT_EQUAL(c.wait, PVB_WAIT_EPOLL);
}

/* The command line's options over the file: the last word wins. */
static void test_later_wins(void)
{
	struct consd_config c;
	char why[256];

	CU_ASSERT_EQUAL(
		parse(&c, "wait = epoll\nlog-dir = /l\nrate-limit = 5/10\n", why, sizeof(why)), 0);
	CU_ASSERT_EQUAL(consd_config_set(&c, "wait", "io_uring", why, sizeof(why)), 0);
	CU_ASSERT_EQUAL(c.wait, PVB_WAIT_URING);
	CU_ASSERT_EQUAL(consd_config_set(&c, "log-dir", "none", why, sizeof(why)), 0);
	CU_ASSERT_STRING_EQUAL(c.log_dir, "");
	CU_ASSERT_EQUAL(consd_config_set(&c, "rate-limit", "off", why, sizeof(why)), 0);
	CU_ASSERT_EQUAL(c.rate_events, 0);
	CU_ASSERT_EQUAL(c.rate_ms, 0);
}

/* Each refusal: -EINVAL, the line, the key and the value in the reason, nothing else changed. */
static void test_refusals(void)
{
	static const struct {
		const char *text, *reason;
	} cases[] = {
		{ "bogus = 1\n", "line 1: unknown setting bogus" },
		{ "\n# x\nno equals sign\n", "line 3: expected key = value" },
		{ "wait = poll\n", "line 1: wait poll: expected io_uring or epoll" },
		{ "wait =\n", "line 1: wait : expected io_uring or epoll" },
		{ "log-dir = relative/dir\n", "line 1: log-dir relative/dir:" },
		{ "control-socket = x.sock\n", "line 1: control-socket x.sock:" },
		{ "timestamps = maybe\n", "line 1: timestamps maybe: expected yes or no" },
		{ "serve-ioemu = 2\n", "line 1: serve-ioemu 2:" },
		{ "rotate-size = 100\n", "line 1: rotate-size 100:" },
		{ "rotate-size = 5T\n", "line 1: rotate-size 5T:" },
		{ "rotate-keep = 1001\n", "line 1: rotate-keep 1001:" },
		{ "replay = 65M\n", "line 1: replay 65M:" },
		{ "buffer-limit = 1K\n", "line 1: buffer-limit 1K:" },
		{ "rate-limit = 30\n", "line 1: rate-limit 30:" },
		{ "rate-limit = 0/200\n", "line 1: rate-limit 0/200:" },
		{ "rate-limit = 30/200x\n", "line 1: rate-limit 30/200x:" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct consd_config c, d;
		char why[256] = "";
		int r = parse(&c, cases[i].text, why, sizeof(why));

		consd_config_default(&d);
		if (r != -EINVAL || strncmp(why, cases[i].reason, strlen(cases[i].reason)))
			fprintf(stderr, "case %zu (%s): %d, \"%s\"\n", i, cases[i].text, r, why);
		CU_ASSERT_EQUAL(r, -EINVAL);
		CU_ASSERT_EQUAL(strncmp(why, cases[i].reason, strlen(cases[i].reason)), 0);
		/* A refused value leaves its setting as it was. */
		CU_ASSERT_EQUAL(c.wait, d.wait);
		CU_ASSERT_EQUAL(c.rotate_size, d.rotate_size);
		CU_ASSERT_EQUAL(c.rate_events, d.rate_events);
		CU_ASSERT_STRING_EQUAL(c.log_dir, d.log_dir);
	}
}

static void test_not_text(void)
{
	static const char text[] = "wait = epoll\n\0wait = io_uring\n";
	struct consd_config c;
	char why[256] = "";

	consd_config_default(&c);
	CU_ASSERT_EQUAL(consd_config_parse(&c, text, sizeof(text) - 1, why, sizeof(why)), -EINVAL);
	CU_ASSERT_PTR_NOT_NULL(strstr(why, "NUL"));
	CU_ASSERT_EQUAL(c.wait, PVB_WAIT_URING);
}

int main(void)
{
	static const struct cunit_test tests[] = {
		{ "defaults", test_defaults },
		{ "every key from a file", test_every_key },
		{ "later settings win", test_later_wins },
		{ "each refusal names its line, key and value", test_refusals },
		{ "a file with a NUL byte is refused whole", test_not_text },
	};

	return CUNIT_MAIN("consd-config", NULL, NULL, tests);
}
