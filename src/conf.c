/*
 * conf.c — the option parser.
 */
#include "conf.h"

#include "arch.h"
#include "report.h"

struct conf opt;

const struct conf_desc conf_descs[] = {
#define OPT(kind, name, def, help) {#name, CONF_##kind, &opt.name, help},
#include "conf_options.inc"
#undef OPT
};
const size_t conf_ndescs = ARRAY_LEN(conf_descs);

static void conf_defaults(void)
{
#define OPT_SET_BOOL(name, def) opt.name = def;
#define OPT_SET_SIZE(name, def) opt.name = def;
#define OPT_SET_SSIZE(name, def) opt.name = def;
#define OPT_SET_STR(name, def) ingot_memcpy(opt.name, def, sizeof(def));
#define OPT(kind, name, def, help) OPT_SET_##kind(name, def)
#include "conf_options.inc"
#undef OPT
}

static bool parse_u64(const char *s, size_t len, uint64_t *out)
{
	uint64_t v = 0;
	if (len == 0)
		return false;
	for (size_t i = 0; i < len; i++) {
		uint64_t digit = (uint64_t)(s[i] - '0');
		if (s[i] < '0' || s[i] > '9' || v > (UINT64_MAX - digit) / 10)
			return false;
		v = v * 10 + digit;
	}
	*out = v;
	return true;
}

static bool set_value(const struct conf_desc *d, const char *v, size_t vlen)
{
	uint64_t u;
	switch (d->kind) {
	case CONF_BOOL:
		if (ingot_str_eq(v, vlen, "true"))
			*(bool *)d->value = true;
		else if (ingot_str_eq(v, vlen, "false"))
			*(bool *)d->value = false;
		else
			return false;
		return true;
	case CONF_SIZE:
		if (!parse_u64(v, vlen, &u) || u > SIZE_MAX)
			return false;
		*(size_t *)d->value = (size_t)u;
		return true;
	case CONF_SSIZE:
		if (vlen > 0 && v[0] == '-') {
			if (!parse_u64(v + 1, vlen - 1, &u) || u > 1)
				return false; /* -1 is the only negative value */
			*(int64_t *)d->value = -1;
			return true;
		}
		if (!parse_u64(v, vlen, &u) || u > INT64_MAX)
			return false;
		*(int64_t *)d->value = (int64_t)u;
		return true;
	case CONF_STR:
		if (vlen >= CONF_STR_MAX)
			return false;
		ingot_memcpy(d->value, v, vlen);
		((char *)d->value)[vlen] = '\0';
		return true;
	}
	return false;
}

static void warn_pair(const char *what, const char *pair, size_t len, const char *source)
{
	char buf[200];
	struct line l = {buf, sizeof(buf), 0};
	line_str(&l, "<ingot>: ");
	line_str(&l, what);
	line_str(&l, ": ");
	for (size_t i = 0; i < len && i < 80; i++)
		line_char(&l, pair[i]);
	line_str(&l, " (from ");
	line_str(&l, source);
	line_str(&l, ")\n");
	ingot_message(NULL, buf);
}

static bool apply_pair(const char *pair, size_t len, const char *source)
{
	size_t colon = 0;
	while (colon < len && pair[colon] != ':')
		colon++;
	if (colon == 0 || colon == len) {
		warn_pair("Malformed conf string", pair, len, source);
		return false;
	}
	for (size_t i = 0; i < conf_ndescs; i++) {
		if (!ingot_str_eq(pair, colon, conf_descs[i].name))
			continue;
		if (set_value(&conf_descs[i], pair + colon + 1, len - colon - 1))
			return true;
		warn_pair("Invalid conf value", pair, len, source);
		return false;
	}
	warn_pair("Invalid conf pair", pair, len, source);
	return false;
}

size_t conf_apply(const char *conf, const char *source_name)
{
	size_t bad = 0;
	while (conf && *conf) {
		size_t len = 0;
		while (conf[len] && conf[len] != ',')
			len++;
		if (len > 0 && !apply_pair(conf, len, source_name))
			bad++;
		conf += len + (conf[len] == ',');
	}
	return bad;
}

void conf_read(const char *const *sources, const char *const *source_names, size_t n)
{
	size_t bad = 0;
	conf_defaults();
	for (size_t i = 0; i < n; i++)
		bad += conf_apply(sources[i], source_names[i]);
	if (bad && opt.abort_conf) {
		ingot_warn("abort_conf:true and the options above are invalid; aborting");
		arch_abort();
	}
}
