// libFuzzer's LLVMFuzzerRunDriver comes with -sanitize=fuzzer (linked whole,
// so its definition wins over this weak one). Without it, in a plain build
// (`swift test --package-path Fuzz` builds the fuzz executables too), this
// stand-in runs each file named on the command line through the target once.
#include "CFuzzerDriver.h"

#include <stdio.h>
#include <stdlib.h>

__attribute__((weak)) int LLVMFuzzerRunDriver(int *argc, char ***argv, int (*callback)(const uint8_t *data, size_t size)) {
    int replayed = 0;
    for (int i = 1; i < *argc; i++) {
        const char *path = (*argv)[i];
        if (path[0] == '-') continue;
        FILE *file = fopen(path, "rb");
        if (!file) { fprintf(stderr, "cannot open %s\n", path); return 1; }
        unsigned char *data = NULL;
        size_t size = 0, capacity = 0, got;
        do {
            if (size == capacity) {
                capacity = capacity ? capacity * 2 : 4096;
                data = realloc(data, capacity);
                if (!data) { fclose(file); return 1; }
            }
            got = fread(data + size, 1, capacity - size, file);
            size += got;
        } while (got > 0);
        fclose(file);
        callback(data, size);
        free(data);
        replayed++;
    }
    fprintf(stderr, "replayed %d inputs (a build without libFuzzer: no fuzzing)\n", replayed);
    return 0;
}
