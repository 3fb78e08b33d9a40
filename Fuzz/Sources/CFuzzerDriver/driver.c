// Only the declaration in include/CFuzzerDriver.h matters: the function is
// libFuzzer's, linked by -sanitize=fuzzer.
#include "CFuzzerDriver.h"
