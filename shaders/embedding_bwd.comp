#version 450
// Token-embedding backward for one chunk of tokens: for t < count,
//   dweight (V, D) row ids[t] += dout (N, D) row row0 + t.
// The ids live on the host (buffers hold floats only), so the host sends them in chunks
// of up to 29 through the push constants (128 bytes, the minimum every device offers),
// one dispatch per chunk; the dispatch barrier orders the chunks.
// Invocations own columns j of D (grid-stride) and walk the chunk's tokens in order, so
// repeated ids add into a row one after another: no atomics, no races, and the same
// order as the CPU body (deterministic, identical sums). Neighbouring invocations touch
// neighbouring floats of one row (coalesced). The per-invocation loops are short
// (count <= 29 tokens per column), far inside llvmpipe's loop budget.
layout(local_size_x = 64) in;

layout(set = 0, binding = 0, std430) buffer DW { float dweight[]; };       // (V, D)
layout(set = 0, binding = 1, std430) readonly buffer DY { float dout[]; }; // (N, D)

layout(push_constant) uniform PC {
    int D;
    int row0;  // first token of this chunk
    int count; // tokens in this chunk, <= 29
    int ids[29];
} pc;

void main() {
    const uint step = gl_NumWorkGroups.x * gl_WorkGroupSize.x;
    for (uint j = gl_GlobalInvocationID.x; j < uint(pc.D); j += step) {
        for (int t = 0; t < pc.count; ++t)
            dweight[pc.ids[t] * pc.D + int(j)] += dout[(pc.row0 + t) * pc.D + int(j)];
    }
}
