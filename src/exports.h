/*
 * exports.h — the one list of symbol names a build exports.
 *
 * Every build exports the ingot_* names (include/ingot.h). Builds with
 * INGOT_OVERRIDE=1 (libingot.a, libingot.so, libjemalloc.so.2) also export
 * each name below as an alias of its ingot_* definition, in the same
 * translation unit as the definition (aliases must be).
 */
#ifndef INGOT_EXPORTS_H
#define INGOT_EXPORTS_H

#define INGOT_STD_NAMES(X) \
	X(malloc) X(free) X(calloc) X(realloc) X(reallocarray) X(aligned_alloc) \
	X(posix_memalign) X(memalign) X(valloc) X(pvalloc) X(malloc_usable_size) \
	X(free_sized) X(free_aligned_sized)

#define INGOT_XAPI_NAMES(X) \
	X(mallocx) X(rallocx) X(xallocx) X(sallocx) X(dallocx) X(sdallocx) X(nallocx)

#define INGOT_CTL_NAMES(X) \
	X(mallctl) X(mallctlnametomib) X(mallctlbymib) X(malloc_stats_print)

#if INGOT_OVERRIDE
#define INGOT_ALIAS(name) \
	extern __typeof__(ingot_##name) name \
	    __attribute__((alias("ingot_" #name), visibility("default")));
#else
#define INGOT_ALIAS(name)
#endif

#endif
