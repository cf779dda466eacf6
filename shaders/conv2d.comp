#version 450
// 2-D convolution (NCHW) as an implicit GEMM, per image z:
//   out (Cout, Ho*Wo) = weight (Cout, K) . col (K, Ho*Wo) + bias (Cout, over columns),
//   K = Cin*KH*KW, col[(ci, kh, kw)][(oh, ow)] = inp[ci][oh*s - pad_t + kh][ow*s - pad_l + kw]
// where col is never stored: its elements are gathered from the input as the GEMM needs
// them (0 in the padding), so there is no scratch buffer and no im2col pass.
//
// This is the GPU shader; shaders/conv2d_direct.comp is its twin for CPU devices
// (lavapipe), picked by src/ops/conv2d_vk.c exactly like the GEMM pair (see the header of
// shaders/gemm.comp for why there are two). Tiling as in shaders/gemm.comp: 8x8
// invocations, an 8x8 register micro-tile each at rows ty + 8i (output channels) and
// columns tx + 8j (output pixels), operands staged in shared memory per BK = 8 slice of K.
// Neighbouring invocations stage neighbouring output pixels, so input reads are
// coalesced (stride-s apart) and output writes contiguous. Tiles are walked grid-stride
// on x/y (any grid is valid); z is the image (pc.batch0 offsets chunks of > 65535 images).
// A dispatch sums k in [k_begin, k_end) only: on drivers that bound an invocation's loop
// iterations (llvmpipe silently ends all of them after 65535, see src/vk.h) the host
// splits a long K into slices; the first writes out (with the bias), the later ones add
// to it in order (accumulate = 1), so the result stays deterministic.
layout(local_size_x = 8, local_size_y = 8, local_size_z = 1) in;

layout(set = 0, binding = 0, std430) buffer Out { float y[]; };              // (B, Cout, Ho, Wo)
layout(set = 0, binding = 1, std430) readonly buffer Inp { float x[]; };     // (B, Cin, H, W)
layout(set = 0, binding = 2, std430) readonly buffer Wt { float w[]; };      // (Cout, Cin, KH, KW)
layout(set = 0, binding = 3, std430) readonly buffer Bias { float bias[]; }; // (Cout)

layout(push_constant) uniform PC {
    int Cin, H, W;
    int Cout, KH, KW;
    int stride, pad_t, pad_l;
    int Ho, Wo;
    int has_bias;
    int batch0;     // image of workgroup z = 0
    int k_begin, k_end; // the slice of K = Cin*KH*KW this dispatch sums
    int accumulate;     // 1: add to out (a later slice); 0: overwrite it
} pc;

#define TM 8
#define TN 8
#define BM (8 * TM)
#define BN (8 * TN)
#define BK 8
#define NT 64 // invocations per workgroup

// Rows padded by 4 (68 = 4 mod 32 banks): the k-fastest weight staging stores of 32
// consecutive invocations (8 k-rows x 4 channels) land in 32 distinct banks.
shared float As[BK][BM + 4];
shared float Bs[BK][BN + 4];

void main() {
    const int tx = int(gl_LocalInvocationID.x), ty = int(gl_LocalInvocationID.y);
    const int tid = ty * 8 + tx;
    const int KK = pc.KH * pc.KW, K = pc.Cin * KK, M = pc.Cout, N = pc.Ho * pc.Wo;
    const int HW = pc.H * pc.W;
    const int zb = pc.batch0 + int(gl_WorkGroupID.z);
    const int xoff = zb * pc.Cin * HW, yoff = zb * M * N;
    const int nbm = (M + BM - 1) / BM, nbn = (N + BN - 1) / BN;

    for (int bm = int(gl_WorkGroupID.y); bm < nbm; bm += int(gl_NumWorkGroups.y)) {
        for (int bn = int(gl_WorkGroupID.x); bn < nbn; bn += int(gl_NumWorkGroups.x)) {
            const int row0 = bm * BM, col0 = bn * BN;
            float acc[TM][TN];
            for (int i = 0; i < TM; ++i)
                for (int j = 0; j < TN; ++j) acc[i][j] = 0.0;

            for (int k0 = pc.k_begin; k0 < pc.k_end; k0 += BK) {
                for (int e = tid; e < BM * BK; e += NT) { // weight rows: k fastest
                    const int mm = e / BK, kk = e % BK;
                    const int row = row0 + mm, k = k0 + kk;
                    const bool ok = row < M && k < pc.k_end; // index 0: in bounds
                    const float v = w[ok ? row * K + k : 0];
                    As[kk][mm] = ok ? v : 0.0;
                }
                for (int e = tid; e < BK * BN; e += NT) { // pixels fastest
                    const int nn = e % BN, kk = e / BN;
                    const int n = col0 + nn, k = k0 + kk;
                    const int ci = k / KK, r = k % KK;
                    const int ih = (n / pc.Wo) * pc.stride - pc.pad_t + r / pc.KW;
                    const int iw = (n % pc.Wo) * pc.stride - pc.pad_l + r % pc.KW;
                    const bool ok = n < N && k < pc.k_end && uint(ih) < uint(pc.H) &&
                                    uint(iw) < uint(pc.W);
                    const float v = x[ok ? xoff + ci * HW + ih * pc.W + iw : 0];
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

            for (int i = 0; i < TM; ++i) {
                const int row = row0 + ty + 8 * i;
                if (row >= M) break;
                float b0 = 0.0;
                if (pc.has_bias != 0) b0 = bias[row];
                for (int j = 0; j < TN; ++j) {
                    const int n = col0 + tx + 8 * j;
                    if (n >= N) break;
                    const int idx = yoff + row * N + n;
                    y[idx] = acc[i][j] + (pc.accumulate != 0 ? y[idx] : b0);
                }
            }
        }
    }
}
