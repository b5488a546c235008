/* Process trees: runs argv[1] with posix_spawn, then with fork + execv,
 * and waits for both; exits 0 whatever they returned. */
#include "common.h"
#include <spawn.h>
#include <sys/wait.h>

extern char **environ;

int main(int argc, char **argv)
{
    started();
    if (argc < 2) {
        fprintf(stderr, "usage: tree_spawn PROGRAM\n");
        return 2;
    }
    pid_t a;
    CHECK(posix_spawn(&a, argv[1], NULL, NULL, &argv[1], environ));
    pid_t b = fork();
    if (b == 0) {
        execv(argv[1], &argv[1]);
        _exit(127);
    }
    int sa, sb;
    waitpid(a, &sa, 0);
    waitpid(b, &sb, 0);
    printf("result=%d,%d\n", WEXITSTATUS(sa), WEXITSTATUS(sb));
    return 0;
}
