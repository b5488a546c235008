/* Process trees: forks N children (argv[1]) that wait on one pipe, then all
 * exec the program argv[2] at once (each reports one data race); waits for
 * them all and exits 0 (the children's 66 is theirs). */
#include "common.h"
#include <sys/wait.h>

int main(int argc, char **argv)
{
    started();
    if (argc < 3) {
        fprintf(stderr, "usage: tree_burst N PROGRAM\n");
        return 2;
    }
    int n = atoi(argv[1]);
    int go[2];
    CHECK(pipe(go) == 0 ? 0 : errno);
    for (int i = 0; i < n; i++) {
        pid_t pid = fork();
        if (pid < 0) {
            perror("fork");
            return 1;
        }
        if (pid == 0) {
            char c;
            close(go[1]);
            /* Blocks until the parent closes its end: all start together. */
            while (read(go[0], &c, 1) < 0 && errno == EINTR) {
            }
            execv(argv[2], &argv[2]);
            _exit(127);
        }
    }
    close(go[0]);
    close(go[1]);
    int reported = 0;
    for (int i = 0; i < n; i++) {
        int st;
        if (wait(&st) > 0 && WIFEXITED(st) && WEXITSTATUS(st) == 66)
            reported++;
    }
    printf("result=%d\n", reported);
    return 0;
}
