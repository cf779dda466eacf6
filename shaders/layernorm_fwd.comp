#version 450
// LayerNorm forward over the last axis: inp (N, D) -> out (N, D), mean/rstd (N).
//
// Design: a workgroup of 128 invocations is split into 128/T teams of T lanes (T a power
// of two chosen by the host, about D/4, at most 128): each team normalises one row, so
// wide rows (UNet/text, D = 320..1280) get the whole workgroup and narrow ones (the
// field's D = 64, T = 16) don't leave most lanes idle. Within a team consecutive lanes
// read consecutive columns (coalesced); the two row sums go through a shared-memory
// tree of log2(T) steps per team. Workgroups walk row blocks grid-stride over the rows
// [row0, row1) of this dispatch, so N may exceed the 65535-group limit; the host splits
// very tall inputs into several dispatches to stay within lavapipe's loop limit (see
// src/ops/layernorm_vk.c).
// Numerics: statistics about the row's first element x0 (every lane of the team reads
// the same value): for inputs like 1000 + N(0,1) the sum of (x - x0) keeps its precision
// where a sum of x would lose the mean to float rounding. Variance is a second pass over
// ((x - x0) - (mean - x0))^2 (no E[x^2] - E[x]^2 cancellation). The row is re-read from
// global memory for each pass; it is small enough to come from cache.
// out may alias inp: a row is only written after both of its reductions are done.

layout(local_size_x = 128) in;

layout(set = 0, binding = 0, std430) buffer Out { float y[]; };       // (N, D)
layout(set = 0, binding = 1, std430) buffer Mean { float mean_[]; };  // (N)
layout(set = 0, binding = 2, std430) buffer Rstd { float rstd_[]; };  // (N)
layout(set = 0, binding = 3, std430) readonly buffer Inp { float x[]; };    // (N, D)
layout(set = 0, binding = 4, std430) readonly buffer Weight { float w[]; }; // (D) or dummy
layout(set = 0, binding = 5, std430) readonly buffer Bias { float bia[]; }; // (D) or dummy

layout(push_constant) uniform PC {
    uint row0; // rows [row0, row1) of (N, D) in this dispatch
    uint row1;
    uint D;
    uint T;    // lanes per row: a power of two dividing 128
    float eps;
    uint has_w; // 0: weight absent (= 1)
    uint has_b; // 0: bias absent (= 0)
} pc;

const uint WG = 128;
shared float red[WG];

// Sum of v over the calling invocation's team of T lanes; every lane gets the result.
float team_sum(float v) {
    uint lid = gl_LocalInvocationID.x;
    uint lane = lid & (pc.T - 1);
    red[lid] = v;
    barrier();
    for (uint s = pc.T / 2; s > 0; s >>= 1) {
        if (lane < s) red[lid] += red[lid + s];
        barrier();
    }
    float r = red[lid - lane];
    barrier(); // red is reused by the next call
    return r;
}

void main() {
    uint lid = gl_LocalInvocationID.x;
    // T is a power of two: mask and shift instead of integer division (scalarised on
    // lavapipe, slow on GPUs).
    uint T = pc.T, lane = lid & (T - 1), team = lid >> findLSB(T);
    uint rows_per_group = WG >> findLSB(T);
    float fd = float(pc.D);
    for (uint rb = pc.row0 + gl_WorkGroupID.x * rows_per_group; rb < pc.row1;
         rb += gl_NumWorkGroups.x * rows_per_group) {
        uint row = rb + team;
        bool live = row < pc.row1; // the last block may be partial; barriers stay uniform
        uint base = row * pc.D;
        float x0 = live ? x[base] : 0.0;
        float s = 0.0;
        if (live)
            for (uint j = lane; j < pc.D; j += T) s += x[base + j] - x0;
        float ms = team_sum(s) / fd; // mean - x0
        float v = 0.0;
        if (live)
            for (uint j = lane; j < pc.D; j += T) {
                float c = (x[base + j] - x0) - ms;
                v += c * c;
            }
        float r = 1.0 / sqrt(team_sum(v) / fd + pc.eps);
        if (live) {
            if (lane == 0) {
                mean_[row] = x0 + ms;
                rstd_[row] = r;
            }
            for (uint j = lane; j < pc.D; j += T) {
                float o = ((x[base + j] - x0) - ms) * r;
                if (pc.has_w != 0) o *= w[j];
                if (pc.has_b != 0) o += bia[j];
                y[base + j] = o;
            }
        }
    }
}
