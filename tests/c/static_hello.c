/* A statically linked program (built with -static): LD_PRELOAD cannot load
 * PUSh into it. */
#include <stdio.h>

int main(void)
{
    printf("static hello\n");
    return 0;
}
