#version 450
// 2-D convolution (NCHW) for CPU devices (lavapipe): the implicit GEMM, tiles and push
// constants of shaders/conv2d.comp, but each invocation reads its operands straight from
// the buffers, with no shared memory and no barrier (see shaders/gemm.comp for why).
//   out (Cout, Ho*Wo) = weight (Cout, K) . col (K, Ho*Wo) + bias, K = Cin*KH*KW,
//   col[(ci, kh, kw)][(oh, ow)] = inp[ci][oh*s - pad_t + kh][ow*s - pad_l + kw] (0 outside)
// Each invocation decodes its 8 output pixels once (input origin per pixel); k advances
// (ci, kh, kw) incrementally, so the inner loop has no divisions. K is unrolled by 4 as in
// shaders/gemm_direct.comp (lavapipe is bound by the loads). Only k in [k_begin, k_end)
// is summed, added to out when accumulate = 1 (see shaders/conv2d.comp for why).
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
#define FAR (-(1 << 24)) // input row of a pixel past the end: every tap is outside

void main() {
    const int tx = int(gl_LocalInvocationID.x), ty = int(gl_LocalInvocationID.y);
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

            int wr[TM], ih0[TN], iw0[TN]; // weight row start; input origin of each pixel
            for (int i = 0; i < TM; ++i) wr[i] = min(row0 + ty + 8 * i, M - 1) * K;
            for (int j = 0; j < TN; ++j) {
                const int n = col0 + tx + 8 * j;
                ih0[j] = n < N ? (n / pc.Wo) * pc.stride - pc.pad_t : FAR;
                iw0[j] = n < N ? (n % pc.Wo) * pc.stride - pc.pad_l : FAR;
            }
            int k = pc.k_begin; // k = (ci * KH + kh) * KW + kw
            int ci = k / KK, kh = (k % KK) / pc.KW, kw = k % pc.KW;
            for (; k + 4 <= pc.k_end; k += 4) {
                int chan[4], khq[4], kwq[4];
                for (int q = 0; q < 4; ++q) {
                    chan[q] = xoff + ci * HW, khq[q] = kh, kwq[q] = kw;
                    if (++kw == pc.KW) {
                        kw = 0;
                        if (++kh == pc.KH) kh = 0, ++ci;
                    }
                }
                vec4 av[TM], bv[TN];
                for (int i = 0; i < TM; ++i) {
                    const int p = wr[i] + k;
                    av[i] = vec4(w[p], w[p + 1], w[p + 2], w[p + 3]);
                }
                for (int j = 0; j < TN; ++j)
                    for (int q = 0; q < 4; ++q) {
                        const int ih = ih0[j] + khq[q], iw = iw0[j] + kwq[q];
                        const bool ok = uint(ih) < uint(pc.H) && uint(iw) < uint(pc.W);
                        const float v = x[ok ? chan[q] + ih * pc.W + iw : 0]; // 0: in bounds
                        bv[j][q] = ok ? v : 0.0;
                    }
                for (int i = 0; i < TM; ++i)
                    for (int j = 0; j < TN; ++j) acc[i][j] += dot(av[i], bv[j]);
            }
            for (; k < pc.k_end; ++k) {
                float av[TM], bv[TN];
                for (int i = 0; i < TM; ++i) av[i] = w[wr[i] + k];
                for (int j = 0; j < TN; ++j) {
                    const int ih = ih0[j] + kh, iw = iw0[j] + kw;
                    const bool ok = uint(ih) < uint(pc.H) && uint(iw) < uint(pc.W);
                    const float v = x[ok ? xoff + ci * HW + ih * pc.W + iw : 0];
                    bv[j] = ok ? v : 0.0;
                }
                for (int i = 0; i < TM; ++i)
                    for (int j = 0; j < TN; ++j) acc[i][j] += av[i] * bv[j];
                if (++kw == pc.KW) {
                    kw = 0;
                    if (++kh == pc.KH) kh = 0, ++ci;
                }
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
