/* Header of the unannotated programs of auto mode (auto_*.c, auto_*.cpp):
 * common.h's helpers (CHECK, CHECK_ALLOC, started) without push.h. These
 * programs use no annotation at all: `push run --auto` (or
 * PUSH_OPTIONS=auto=1) watches their heap objects as they are.
 *
 * Racy programs mark both racing accesses with RACE markers (two tags, one
 * per side; the report may name either as the access and the other as the
 * "Previous" one) and the allocation of the racy object with an ALLOC
 * marker. They repeat the race many times, so that both sides are observed
 * whichever thread runs first, and print only what does not depend on the
 * race's outcome.
 */
#ifndef PUSH_TESTS_AUTO_COMMON_H
#define PUSH_TESTS_AUTO_COMMON_H

#define PUSH_TESTS_UNANNOTATED 1
#include "common.h"

#endif
