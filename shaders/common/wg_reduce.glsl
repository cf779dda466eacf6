// Workgroup reductions through shared memory. Define WG_SIZE (the local size, a power of
// two) before including. Call from workgroup-uniform control flow (they contain
// barriers).
//   wg_sum / wg_max: over the whole workgroup; every invocation gets the result.
//   seg_sum / seg_max: over each segment of `lanes` consecutive invocations (lanes a power
//     of two <= WG_SIZE), for shaders that give a workgroup several short rows; every
//     invocation gets its own segment's result. lanes = 1 returns v itself.
// Tree order: log2(lanes) levels of pairwise operations, so the rounding error of
// combining partial sums grows with log2(lanes), not lanes.
#ifndef VKD_WG_REDUCE_GLSL
#define VKD_WG_REDUCE_GLSL

shared float wg_red[WG_SIZE];

float seg_sum(float v, uint lanes) {
    uint lid = gl_LocalInvocationID.x;
    uint lane = lid & (lanes - 1u);
    wg_red[lid] = v;
    barrier();
    for (uint s = lanes / 2u; s > 0u; s >>= 1) {
        if (lane < s) wg_red[lid] += wg_red[lid + s];
        barrier();
    }
    float r = wg_red[lid - lane];
    barrier(); // wg_red is reused by the next call
    return r;
}

float seg_max(float v, uint lanes) {
    uint lid = gl_LocalInvocationID.x;
    uint lane = lid & (lanes - 1u);
    wg_red[lid] = v;
    barrier();
    for (uint s = lanes / 2u; s > 0u; s >>= 1) {
        if (lane < s) wg_red[lid] = max(wg_red[lid], wg_red[lid + s]);
        barrier();
    }
    float r = wg_red[lid - lane];
    barrier();
    return r;
}

float wg_sum(float v) { return seg_sum(v, WG_SIZE); }
float wg_max(float v) { return seg_max(v, WG_SIZE); }

#endif
