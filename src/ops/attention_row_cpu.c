// Row kernels shared by the CPU attention forward and backward (see attention_row.h).
#include "attention_row.h"

#include "activation.h" // vkd_expf: plain arithmetic, so the loop vectorises

ATT_SIMD_CLONES
float vkd_att_softmax_row_unnormalised(float *s, int lim, int n) {
    float mx = s[0];
#pragma omp simd reduction(max : mx)
    for (int j = 0; j < lim; j++) mx = s[j] > mx ? s[j] : mx;
    float sum = 0.0f;
#pragma omp simd reduction(+ : sum)
    for (int j = 0; j < lim; j++) {
        float e = vkd_expf(s[j] - mx);
        s[j] = e;
        sum += e;
    }
    for (int j = lim; j < n; j++) s[j] = 0.0f;
    return sum;
}
