// Finding the bundled models (models/shapeworld.json, ...) from any working directory.
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

// $VKDREAM_MODELS/, then models/ beside or above the executable (the build tree: build/ sits
// next to models/), then ../share/vkdream/models/ (an installed layout).
int cli_find_model(const char *file, char *path, size_t cap, char *tried, size_t tcap) {
    char exe[PATH_MAX] = "";
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n > 0) {
        exe[n] = 0;
        char *slash = strrchr(exe, '/');
        if (slash) *slash = 0;
    }
    const char *env = getenv("VKDREAM_MODELS");
    const char *dirs[4] = {env && *env ? env : NULL, exe[0] ? exe : NULL, exe[0] ? exe : NULL,
                           exe[0] ? exe : NULL};
    static const char *const rel[4] = {"", "/models", "/../models", "/../share/vkdream/models"};
    size_t used = 0;
    if (tcap) tried[0] = 0;
    for (int i = 0; i < 4; i++) {
        if (!dirs[i]) continue;
        int k = snprintf(path, cap, "%s%s/%s", dirs[i], rel[i], file);
        if (k <= 0 || (size_t)k >= cap) continue; // too long a path to exist
        if (access(path, R_OK) == 0) return 1;
        if (used < tcap) {
            k = snprintf(tried + used, tcap - used, "%s%s", used ? ", " : "", path);
            if (k > 0 && (size_t)k < tcap - used) used += (size_t)k;
        }
    }
    return 0;
}
