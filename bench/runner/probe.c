/* probe: tell which shared object the program's malloc, free and realloc come
 * from, so the runner can check that LD_PRELOAD really took effect (the
 * dynamic loader only warns about a preload it cannot load, and the run would
 * silently measure glibc). Prints "<symbol> <path>" lines, then does a few
 * allocations to check the allocator works at all. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int show(const char *name)
{
    void *sym = dlsym(RTLD_DEFAULT, name);
    Dl_info info;
    if (sym == NULL || dladdr(sym, &info) == 0 || info.dli_fname == NULL) {
        printf("%s ?\n", name);
        return 1;
    }
    printf("%s %s\n", name, info.dli_fname);
    return 0;
}

int main(void)
{
    int bad = show("malloc") | show("free") | show("realloc");
    void *p[64];
    for (int i = 0; i < 64; i++) {
        p[i] = malloc((size_t)1 << (i % 24));
        if (p[i] == NULL)
            return 1;
        memset(p[i], i, (size_t)1 << (i % 24));
    }
    for (int i = 0; i < 64; i++)
        p[i] = realloc(p[i], 100 + (size_t)i);
    for (int i = 0; i < 64; i++)
        free(p[i]);
    return bad;
}
