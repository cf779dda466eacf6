#version 450
// Bias gradient: dbias (N) += column sums of dc (rows, N), over rows [row0, row1).
//
// A workgroup owns 32 adjacent columns and 8 row slices: invocation (x, y) sums column
// x over rows row0 + y, row0 + y + 8, ... (the 32 invocations of one row read one
// contiguous 128-byte run: coalesced), then the 8 partial sums meet in shared memory. No
// atomics and no scratch buffer, so each column is summed by one workgroup in a fixed
// order (deterministic). Workgroups walk column blocks grid-stride along x.
// The price of having no scratch memory: parallelism is capped at N/32 workgroups (2 for
// N = 64); 65536 x 64 takes 11-27 ms on lavapipe (the CPU body: 0.23 ms). A
// split over rows would need a second pass through a scratch buffer, or float atomics.
// The row range exists for drivers that bound an invocation's loops (llvmpipe silently
// ends them after 65535 iterations, i.e. beyond ~500k rows, see src/vk.h): the host then
// splits the rows into chunks whose dispatches add to dbias one after the other.
layout(local_size_x = 32, local_size_y = 8, local_size_z = 1) in;

layout(set = 0, binding = 0, std430) buffer DBias { float dbias[]; };      // (N)
layout(set = 0, binding = 1, std430) readonly buffer DC { float dc[]; };   // (rows, N)

layout(push_constant) uniform PC {
    int row0, row1; // the rows this dispatch sums
    int N;
} pc;

shared float part[8][32];

void main() {
    const int x = int(gl_LocalInvocationID.x), y = int(gl_LocalInvocationID.y);
    for (int c0 = int(gl_WorkGroupID.x) * 32; c0 < pc.N; c0 += int(gl_NumWorkGroups.x) * 32) {
        const int col = c0 + x;
        float s = 0.0;
        if (col < pc.N)
            for (int r = pc.row0 + y; r < pc.row1; r += 8) s += dc[r * pc.N + col];
        part[y][x] = s;
        barrier();
        if (y == 0 && col < pc.N) {
            float t = part[0][x];
            for (int i = 1; i < 8; ++i) t += part[i][x];
            dbias[col] += t;
        }
        barrier(); // part[] is reused by the next column block
    }
}
