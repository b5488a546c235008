/* dlopen of a library whose code creates threads (hz_dlopen_lib.c): one
 * from its constructor, under the loader's lock, and four more that take
 * turns with a mutex and a condition variable and count in the library's
 * __thread storage; then dlclose, three times over (each load starts from
 * fresh state). The pthread calls come from code the runtime never saw at
 * start-up and that is unmapped afterwards, and the library's tracked
 * object is allocated and freed by its constructor and destructor. A
 * thread of the main program, started before the first dlopen, updates a
 * tracked object under its own mutex all along. Usage: hz_dlopen_threads LIB.so
 * Output: one line per load, then the main program's own count. */
#include "common.h"

#include <dlfcn.h>

#define LOADS 3

struct own {
    long count;
    int stop;
};

static pthread_mutex_t own_m = PTHREAD_MUTEX_INITIALIZER;
static struct own *own; /* tracked, protected by own_m */

static void *bystander(void *arg)
{
    (void)arg;
    for (;;) {
        CHECK(pthread_mutex_lock(&own_m));
        if (own->stop) {
            CHECK(pthread_mutex_unlock(&own_m));
            return NULL;
        }
        own->count++;
        CHECK(pthread_mutex_unlock(&own_m));
        sched_yield();
    }
}

int main(int argc, char **argv)
{
    started();
    if (argc < 2) {
        fprintf(stderr, "usage: %s LIB.so\n", argv[0]);
        return 2;
    }
    own = push_malloc(sizeof *own);
    CHECK_ALLOC(own);
    own->count = 0;
    own->stop = 0;
    CHECK(push_protected_by(own, &own_m));
    pthread_t b;
    CHECK(pthread_create(&b, NULL, bystander, NULL));
    for (int load = 1; load <= LOADS; load++) {
        void *lib = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
        if (!lib) {
            fprintf(stderr, "dlopen: %s\n", dlerror());
            return 1;
        }
        long (*run)(void) = (long (*)(void))dlsym(lib, "hz_run");
        int (*stop)(void) = (int (*)(void))dlsym(lib, "hz_stop");
        if (!run || !stop) {
            fprintf(stderr, "dlsym: %s\n", dlerror());
            return 1;
        }
        long n = run();
        int woke = stop();
        printf("load=%d counter=%ld helper_woke=%d\n", load, n, woke);
        if (dlclose(lib) != 0) {
            fprintf(stderr, "dlclose: %s\n", dlerror());
            return 1;
        }
    }
    CHECK(pthread_mutex_lock(&own_m));
    own->stop = 1;
    int counted = own->count > 0;
    CHECK(pthread_mutex_unlock(&own_m));
    CHECK(pthread_join(b, NULL));
    printf("bystander_counted=%d\n", counted);
    return 0;
}
