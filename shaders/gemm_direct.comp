#version 450
// Batched GEMM for CPU devices (lavapipe): the contract, tiles and push constants of
// shaders/gemm.comp (read its header for the timings and why there are two shaders), but
// each invocation reads its operands straight from the buffers: no shared memory and no
// barrier, which lavapipe would run as coroutines.
//
// An 8x8 workgroup computes a 64x64 block of C; each invocation an 8x8 micro-tile at rows
// ty + 8i and columns tx + 8j. On lavapipe the 8 invocations of one SIMD vector are
// consecutive tx, so each B load is a gather of 8 consecutive addresses and each A load a
// broadcast. Loads dominate there, so K is unrolled by 4 (TM + TN groups of 4 loads per
// 4 * TM * TN FMAs): twice as fast as a plain k loop. Out-of-range rows and columns read
// a clamped neighbour and are never stored, so M, N, K are arbitrary.
// Only k in [k_begin, k_end) is summed: see shaders/gemm.comp for why K may be split.
layout(local_size_x = 8, local_size_y = 8, local_size_z = 1) in;

// a (batch, M, K), or (batch, K, M) when trans_a; b (batch, K, N), or (batch, N, K) when
// trans_b; batches stride_a / stride_b / stride_c elements apart.
layout(set = 0, binding = 0, std430) buffer CBuf { float c[]; };                // (batch, M, N)
layout(set = 0, binding = 1, std430) readonly buffer ABuf { float a[]; };       // see above
layout(set = 0, binding = 2, std430) readonly buffer BBuf { float b[]; };       // see above
layout(set = 0, binding = 3, std430) readonly buffer BiasBuf { float bias[]; }; // (N)

layout(push_constant) uniform PC {
    int M, N, K;
    int trans_a, trans_b;
    float alpha, beta;
    int has_bias;
    int stride_a, stride_b, stride_c; // batch strides in elements
    int batch0;                       // batch of workgroup z = 0
    int nsum;                         // batches summed into one C (1: none)
    int k_begin, k_end;               // the slice of K this dispatch sums
} pc;

#define TM 8
#define TN 8
#define BM (8 * TM)
#define BN (8 * TN)

void main() {
    const int tx = int(gl_LocalInvocationID.x), ty = int(gl_LocalInvocationID.y);
    const int M = pc.M, N = pc.N, K = pc.K;
    // Element (row, k) of op(A) is a[row * sam + k * sak]; (k, col) of op(B) is
    // b[k * sbk + col * sbn].
    const int sam = pc.trans_a != 0 ? 1 : K, sak = pc.trans_a != 0 ? M : 1;
    const int sbk = pc.trans_b != 0 ? 1 : N, sbn = pc.trans_b != 0 ? K : 1;
    const int zb = pc.batch0 + int(gl_WorkGroupID.z);
    const int nbm = (M + BM - 1) / BM, nbn = (N + BN - 1) / BN;

    for (int bm = int(gl_WorkGroupID.y); bm < nbm; bm += int(gl_NumWorkGroups.y)) {
        for (int bn = int(gl_WorkGroupID.x); bn < nbn; bn += int(gl_NumWorkGroups.x)) {
            const int row0 = bm * BM, col0 = bn * BN;
            float acc[TM][TN];
            for (int i = 0; i < TM; ++i)
                for (int j = 0; j < TN; ++j) acc[i][j] = 0.0;

            for (int s = 0; s < pc.nsum; ++s) {
                const int offa = (zb + s) * pc.stride_a, offb = (zb + s) * pc.stride_b;
                int ra[TM], cb[TN]; // start of each row of op(A) / column of op(B)
                for (int i = 0; i < TM; ++i) ra[i] = offa + min(row0 + ty + 8 * i, M - 1) * sam;
                for (int j = 0; j < TN; ++j) cb[j] = offb + min(col0 + tx + 8 * j, N - 1) * sbn;
                int k = pc.k_begin;
                for (; k + 4 <= pc.k_end; k += 4) {
                    vec4 av[TM], bv[TN];
                    for (int i = 0; i < TM; ++i) {
                        const int p = ra[i] + k * sak;
                        av[i] = vec4(a[p], a[p + sak], a[p + 2 * sak], a[p + 3 * sak]);
                    }
                    for (int j = 0; j < TN; ++j) {
                        const int p = cb[j] + k * sbk;
                        bv[j] = vec4(b[p], b[p + sbk], b[p + 2 * sbk], b[p + 3 * sbk]);
                    }
                    for (int i = 0; i < TM; ++i)
                        for (int j = 0; j < TN; ++j) acc[i][j] += dot(av[i], bv[j]);
                }
                for (; k < pc.k_end; ++k) {
                    float av[TM], bv[TN];
                    for (int i = 0; i < TM; ++i) av[i] = a[ra[i] + k * sak];
                    for (int j = 0; j < TN; ++j) bv[j] = b[cb[j] + k * sbk];
                    for (int i = 0; i < TM; ++i)
                        for (int j = 0; j < TN; ++j) acc[i][j] += av[i] * bv[j];
                }
            }

            for (int i = 0; i < TM; ++i) {
                const int row = row0 + ty + 8 * i;
                if (row >= M) break;
                for (int j = 0; j < TN; ++j) {
                    const int col = col0 + tx + 8 * j;
                    if (col >= N) break;
                    const int idx = zb * pc.stride_c + row * N + col;
                    float v = pc.alpha * acc[i][j];
                    if (pc.beta != 0.0) v += pc.beta * c[idx]; // beta == 0: C is not read
                    if (pc.has_bias != 0) v += bias[col];
                    c[idx] = v;
                }
            }
        }
    }
}
