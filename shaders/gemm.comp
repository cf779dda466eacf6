#version 450
// Batched GEMM for GPUs: C_b (M,N) = alpha op(A_b) op(B_b) + beta C_b + bias (N, over rows).
// Its twin shaders/gemm_direct.comp computes the same for CPU devices (lavapipe); the C
// side (src/ops/gemm_vk.c) picks by device type. Both share the push constants, the
// 64x64 block tile and the per-invocation 8x8 micro-tile layout.
//
// Design (the classic shared-memory tiling): an 8x8 workgroup computes a 64x64 block of
// C; each invocation holds an 8x8 micro-tile in registers at rows ty + 8i and columns
// tx + 8j (strided, so neighbouring invocations touch neighbouring columns: coalesced
// stores, conflict-free shared memory). Per BK = 8 slice of K the workgroup stages 64x8 of
// op(A) and 8x64 of op(B) in shared memory; the load order follows the stored layout
// (k fastest for a plain A, rows fastest for A^T; columns fastest for a plain B, k
// fastest for B^T), so transposed operands are also read along their contiguous axis.
// Then each invocation does 64 FMAs per 16 shared loads. Transposes are index math only.
// M, N, K need not be multiples of anything: staging zero-fills outside the matrices
// and stores are bounds-checked. Tiles are walked grid-stride on x/y (any grid <= 65535
// per axis is valid); z is the batch, pc.batch0 offsets chunks of > 65535 batches. With
// pc.nsum > 1 (stride_c == 0: a shared output) each tile sums all batches itself, which
// is how the backward sums the gradient of a shared operand without scratch memory.
// A dispatch sums k in [k_begin, k_end) only: on drivers that bound an invocation's loop
// iterations (llvmpipe silently ends all of them after 65535, see src/vk.h) the host
// splits a long K (a weight gradient over 262144 rows) and long batch sums into chunks,
// the first with the caller's beta and bias, the later ones with beta = 1 (adding to C)
// in a fixed order, so the result stays deterministic.
//
// Why two shaders: lavapipe runs any shader that contains a barrier() as coroutines, and
// that alone made the otherwise identical direct path 1.6x slower; shared memory itself
// buys nothing on a CPU, whose caches already stage the operands. Lavapipe (Mesa 22.3,
// llvmpipe 256-bit, 2 cores), Release build, best of 10 after a warm-up, GFLOPS (this
// machine is noisy: repeated runs vary by up to 2x; these are the best runs):
//                          this shader   gemm_direct   (OpenBLAS, same machine)
//   1024 x   64 x  576         6.1          13.5            156
//   4096 x  128 x  128         5.9          10.5            138-196
//    512 x  512 x  512         7.2          13.7            197-227
// (implicit-GEMM 3x3 convolutions behave alike: 6.6 vs 11.6-12.2 GFLOPS.) The direct
// path went from 5-8 to 10-14 GFLOPS by unrolling K by 4; 16x8 and 16x16 micro-tiles,
// vec4 loads along k and a layout with rows uniform per workgroup were no better or worse.
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
#define BK 8
#define NT 64 // invocations per workgroup

// Rows padded by 4: in the k-fastest staging order 32 consecutive invocations store 8
// k-rows x 4 columns, and a row stride of 68 = 4 (mod 32 banks) spreads them over all
// 32 banks. The compute loop reads 4 (A) or 8 (B) consecutive words: no conflicts.
shared float As[BK][BM + 4];
shared float Bs[BK][BN + 4];

void main() {
    const int tx = int(gl_LocalInvocationID.x), ty = int(gl_LocalInvocationID.y);
    const int tid = ty * 8 + tx;
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
                for (int k0 = pc.k_begin; k0 < pc.k_end; k0 += BK) {
                    for (int e = tid; e < BM * BK; e += NT) {
                        const int mm = pc.trans_a != 0 ? e % BM : e / BK;
                        const int kk = pc.trans_a != 0 ? e / BM : e % BK;
                        const int row = row0 + mm, k = k0 + kk;
                        const bool ok = row < M && k < pc.k_end; // index 0: in bounds
                        const float v = a[ok ? offa + row * sam + k * sak : 0];
                        As[kk][mm] = ok ? v : 0.0;
                    }
                    for (int e = tid; e < BK * BN; e += NT) {
                        const int nn = pc.trans_b != 0 ? e / BK : e % BN;
                        const int kk = pc.trans_b != 0 ? e % BK : e / BN;
                        const int col = col0 + nn, k = k0 + kk;
                        const bool ok = col < N && k < pc.k_end;
                        const float v = b[ok ? offb + k * sbk + col * sbn : 0];
                        Bs[kk][nn] = ok ? v : 0.0;
                    }
                    barrier();
                    for (int kk = 0; kk < BK; ++kk) {
                        float av[TM], bv[TN];
                        for (int i = 0; i < TM; ++i) av[i] = As[kk][ty + 8 * i];
                        for (int j = 0; j < TN; ++j) bv[j] = Bs[kk][tx + 8 * j];
                        for (int i = 0; i < TM; ++i)
                            for (int j = 0; j < TN; ++j) acc[i][j] += av[i] * bv[j];
                    }
                    barrier();
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
