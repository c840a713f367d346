/*
 * conf.h — run-time options, read once at start.
 *
 * Sources, later ones overriding earlier: the program's malloc_conf symbol,
 * the MALLOC_CONF environment variable, then INGOT_CONF. Syntax is jemalloc's:
 * "name:value,name:value". Malformed pairs and unknown names get one warning
 * line each and are skipped (with abort_conf:true the process aborts).
 */
#ifndef INGOT_CONF_H
#define INGOT_CONF_H

#include "common.h"

#define CONF_STR_MAX 64

#define OPT_DECL_BOOL(name) bool name;
#define OPT_DECL_SIZE(name) size_t name;
#define OPT_DECL_SSIZE(name) int64_t name;
#define OPT_DECL_STR(name) char name[CONF_STR_MAX];

struct conf {
#define OPT(kind, name, def, help) OPT_DECL_##kind(name)
#include "conf_options.inc"
#undef OPT
};

extern struct conf opt;

/* Describes one option for mallctl and the docs. */
enum conf_kind { CONF_BOOL, CONF_SIZE, CONF_SSIZE, CONF_STR };
struct conf_desc {
	const char *name;
	enum conf_kind kind;
	void *value;
	const char *help;
};
extern const struct conf_desc conf_descs[];
extern const size_t conf_ndescs;

/* Sets every option to its default, then applies each string in order
 * (NULLs are skipped). */
void conf_read(const char *const *sources, const char *const *source_names, size_t n);

/* Applies one string; returns the number of bad pairs (each was warned). */
size_t conf_apply(const char *conf, const char *source_name);

#endif
