/*
 * gen_manpage — writes the ingot(3) manual page from its template and the
 * option list, so the page documents exactly the options the parser knows.
 *
 * Usage: gen_manpage TEMPLATE > ingot.3
 *
 * Copies TEMPLATE (man/ingot.3.in), replacing
 *   a line "@OPTIONS@"   with one tagged paragraph per option of
 *                        src/conf_options.inc (name, type, default, help),
 *   "@VERSION@"          with INGOT_VERSION of include/ingot.h.
 * Fails when the template has no @OPTIONS@ line.
 *
 * Built and run on the build machine (mk/adopt.mk): cc -Iinclude -Isrc.
 */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "ingot.h"

struct option {
	const char *kind; /* BOOL, SIZE, SSIZE, STR */
	const char *name;
	const char *def; /* as written in the list; STR defaults keep their quotes */
	const char *help;
};

static const struct option options[] = {
#define OPT(kind, name, def, help) {#kind, #name, #def, help},
#include "conf_options.inc"
#undef OPT
};

/* Writes s as troff text: backslashes and minus signs escaped, and a line
 * that would start with a control character protected. */
static void put_text(const char *s, size_t len, bool line_start)
{
	for (size_t i = 0; i < len; i++) {
		char c = s[i];
		if (line_start && (c == '.' || c == '\''))
			fputs("\\&", stdout);
		line_start = false;
		if (c == '\\')
			fputs("\\e", stdout);
		else if (c == '-')
			fputs("\\-", stdout);
		else
			putchar(c);
	}
}

static const char *kind_text(const char *kind)
{
	if (strcmp(kind, "BOOL") == 0)
		return "true or false";
	if (strcmp(kind, "SIZE") == 0)
		return "unsigned integer";
	if (strcmp(kind, "SSIZE") == 0)
		return "integer, \\-1 for never";
	return "string";
}

static void put_option(const struct option *o)
{
	size_t deflen = strlen(o->def);
	const char *def = o->def;
	if (deflen >= 2 && def[0] == '"' && def[deflen - 1] == '"') {
		def++;
		deflen -= 2;
	}
	printf(".TP\n.B %s\n(%s; default ", o->name, kind_text(o->kind));
	if (deflen == 0) {
		fputs("empty", stdout);
	} else {
		fputs("\\fB", stdout);
		put_text(def, deflen, false);
		fputs("\\fR", stdout);
	}
	fputs(")\n", stdout);
	/* The help text as written (it may start with a name, so no capital),
	 * closed with a period. */
	size_t len = strlen(o->help);
	put_text(o->help, len, true);
	if (len > 0 && o->help[len - 1] != '.')
		putchar('.');
	putchar('\n');
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: gen_manpage TEMPLATE > ingot.3\n");
		return 2;
	}
	FILE *in = fopen(argv[1], "r");
	if (!in) {
		perror(argv[1]);
		return 1;
	}
	char line[4096];
	bool placed = false;
	while (fgets(line, sizeof(line), in)) {
		if (strcmp(line, "@OPTIONS@\n") == 0) {
			for (size_t i = 0; i < sizeof(options) / sizeof(options[0]); i++)
				put_option(&options[i]);
			placed = true;
			continue;
		}
		const char *at = strstr(line, "@VERSION@");
		if (at) {
			fwrite(line, 1, (size_t)(at - line), stdout);
			fputs(INGOT_VERSION, stdout);
			fputs(at + strlen("@VERSION@"), stdout);
		} else {
			fputs(line, stdout);
		}
	}
	fclose(in);
	if (!placed) {
		fprintf(stderr, "gen_manpage: %s has no @OPTIONS@ line\n", argv[1]);
		return 1;
	}
	return ferror(stdout) ? 1 : 0;
}
