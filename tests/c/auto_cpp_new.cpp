// auto mode: a race in a C++ object allocated with `new`: two std::threads
// write the same member without a lock -> data race between the two writes.
#include "auto_common.h"

#include <thread>

namespace {

constexpr int kRounds = 2000;

struct Progress {
    int id = 3;
    volatile long last = 0;

    void forward()
    {
        for (int i = 0; i < kRounds; i++) {
            last = i; /* RACE:a */
            if (i % 8 == 0)
                usleep(20);
        }
    }

    void backward()
    {
        for (int i = 0; i < kRounds; i++) {
            last = -i; /* RACE:b */
            if (i % 8 == 0)
                usleep(20);
        }
    }
};

} // namespace

int main()
{
    started();
    Progress *p = new Progress; /* ALLOC */
    std::thread a(&Progress::forward, p);
    std::thread b(&Progress::backward, p);
    a.join();
    b.join();
    // Which write came last varies: print only the object's id.
    printf("result=progress %d\n", p->id);
    delete p;
    return 0;
}
