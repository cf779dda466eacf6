// The dweight/dbias reduction shared by the CPU LayerNorm and GroupNorm backwards (see
// norm_row.h).
#include "norm_row.h"

#include <stddef.h>

void vkd_norm_add_partials(const double *part, int parts, int n, float *dw, float *db) {
    for (int j = 0; j < n; j++) {
        double sw = 0.0, sb = 0.0;
        for (int p = 0; p < parts; p++) {
            sw += part[(size_t)p * 2 * n + j];
            sb += part[(size_t)p * 2 * n + n + j];
        }
        if (dw) dw[j] += (float)sw;
        if (db) db[j] += (float)sb;
    }
}
