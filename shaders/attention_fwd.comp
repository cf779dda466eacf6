#version 450
// Scaled dot-product attention forward (flash-style online softmax):
//   out[b,h] (Lq, Dv) = softmax(scale * q[b,h] (Lq, D) k[b,h]^T) v[b,h] (Lk, Dv)
// Element (b, h, l, j) of q is q[b*sq_b + h*sq_h + l*sq_l + j] (likewise k, v, out).
//
// Design: workgroup (block of 64 queries, h, b), one query row per invocation. The
// workgroup walks the keys in tiles: K and V tiles are loaded cooperatively into shared
// memory (consecutive invocations read consecutive elements of a key row: coalesced),
// then every invocation scores its query against the tile (all lanes read the same
// shared vec4 at a time: a broadcast, no bank conflicts), updates its running max m and
// denominator l, rescales its output accumulator once per tile and adds p * v. No
// buffer grows with Lk: Lk = 4096 (64x64 self-attention) needs the same 16 KiB of
// shared memory (the minimum every Vulkan device has) as Lk = 7. A tile holds
// TILE / max(D, Dv) keys rounded down to a multiple of 4 (D = 40: 48 keys, D = 160: 12).
// Causal blocks stop at the block's last query; masked keys get p = 0.
//
// Everything works on vec4: the K tile is stored transposed with 4 keys per vec4
// (ks[d * bk4 + jj] = keys 4jj..4jj+3 at dim d) and the V tile with 4 dims per vec4, so
// one loop iteration does 16 FMAs (4 keys x 4 dims). Rows are zero-padded to a multiple
// of 4 in shared memory, so any D works. This matters on lavapipe beyond speed: llvmpipe
// stops every loop of an invocation once the invocation has run 65535 loop iterations in
// total (a hang guard, Mesa's LP_MAX_TGSI_LOOP_ITERATIONS), silently truncating the
// result; 16 FMAs per iteration keep Lk * (D + Dv) up to ~650k within it, and
// src/ops/attention_vk.c refuses larger shapes on llvmpipe instead of computing garbage.
//
// On real GPUs: q and the output row live in private vec4 arrays indexed by loop
// counters, i.e. in (L1-cached) local memory rather than registers, and the FMAs are
// scalar per query: a correct, portable baseline at a fraction of a tuned kernel's speed.
// The next step there is FlashAttention-2 style: a subgroup per 16 queries with
// cooperative-matrix (tensor core) products for S = Q K^T and P V. On lavapipe this
// layout vectorises well: private-array and shared indices are uniform across the
// workgroup, so each FMA is one SIMD op over 8 queries, and the shader stays loop-based
// (lavapipe compiles unrolled code very slowly).

layout(local_size_x = 64) in;

layout(set = 0, binding = 0, std430) writeonly buffer Out { float o_[]; };
layout(set = 0, binding = 1, std430) readonly buffer Q { float q_[]; };
layout(set = 0, binding = 2, std430) readonly buffer K { float k_[]; };
layout(set = 0, binding = 3, std430) readonly buffer V { float v_[]; };

layout(push_constant) uniform PC {
    uint B;
    uint H;
    uint Lq;
    uint Lk;
    uint D;
    uint Dv;
    float scale;
    uint causal; // key index > query index is masked (Lq == Lk)
    uint sq_b, sq_h, sq_l;
    uint sk_b, sk_h, sk_l;
    uint sv_b, sv_h, sv_l;
    uint so_b, so_h, so_l;
} pc;

const uint BQ = 64;       // queries per workgroup (= local size)
const uint MAXD4 = 64;    // largest D and Dv in vec4s (256 floats; checked on the host)
const uint MAXBK4 = 16;   // longest key tile in groups of 4 keys
const uint TILE4 = 512;   // vec4s of shared memory each for the K and the V tile (8 KiB)
const float NEG = -1.0e30; // score of a masked key: exp(NEG - m) == 0

shared vec4 ks[TILE4]; // (D4*4, bk4) of 4 keys
shared vec4 vs[TILE4]; // (bk, Dv4) of 4 dims

void main() {
    uint lid = gl_LocalInvocationID.x;
    uint h = gl_WorkGroupID.y, b = gl_WorkGroupID.z;
    uint q0 = gl_WorkGroupID.x * BQ;
    uint qi = q0 + lid;
    bool live = qi < pc.Lq;
    uint D = pc.D, Dv = pc.Dv;
    uint D4 = (D + 3) / 4, Dv4 = (Dv + 3) / 4;

    vec4 q4[MAXD4];   // scale * query row, zero-padded
    vec4 acc[MAXD4];  // unnormalised output row
    vec4 s4[MAXBK4];  // scores of the current tile, 4 keys each
    for (uint t = 0; t < D4; t++) q4[t] = vec4(0.0);
    if (live) {
        uint qb = b * pc.sq_b + h * pc.sq_h + qi * pc.sq_l;
        for (uint d = 0; d < D; d++) q4[d / 4][d % 4] = q_[qb + d] * pc.scale;
    }
    for (uint t = 0; t < Dv4; t++) acc[t] = vec4(0.0);
    float m = 0.0; // running max, valid once l > 0
    float l = 0.0; // running denominator

    uint kend = pc.Lk;
    if (pc.causal != 0) kend = min(pc.Lk, q0 + BQ);
    uint bk4 = min(MAXBK4, TILE4 / (4 * max(D4, Dv4)));
    uint bk = 4 * bk4;
    uint kb = b * pc.sk_b + h * pc.sk_h;
    uint vb = b * pc.sv_b + h * pc.sv_h;

    for (uint k0 = 0; k0 < kend; k0 += bk) {
        uint nk = min(bk, kend - k0);
        barrier(); // the previous tile has been consumed
        for (uint e = lid; e < bk * D4 * 4; e += BQ) {
            uint j = e / (D4 * 4), d = e - j * (D4 * 4);
            float x = (j < nk && d < D) ? k_[kb + (k0 + j) * pc.sk_l + d] : 0.0;
            ks[d * bk4 + j / 4][j % 4] = x;
        }
        for (uint e = lid; e < bk * Dv4 * 4; e += BQ) {
            uint j = e / (Dv4 * 4), d = e - j * (Dv4 * 4);
            float x = (j < nk && d < Dv) ? v_[vb + (k0 + j) * pc.sv_l + d] : 0.0;
            vs[j * Dv4 + d / 4][d % 4] = x;
        }
        barrier();
        uint lim = live ? nk : 0; // keys of this tile the query sees
        if (live && pc.causal != 0) lim = qi >= k0 ? min(nk, qi - k0 + 1) : 0;
        if (lim > 0) {
            uint n4 = (lim + 3) / 4;
            float tmax = NEG;
            for (uint jj = 0; jj < n4; jj++) {
                vec4 sc = vec4(0.0);
                for (uint t = 0; t < D4; t++) {
                    vec4 qv = q4[t];
                    uint i = 4 * t * bk4 + jj;
                    sc += qv.x * ks[i] + qv.y * ks[i + bk4] + qv.z * ks[i + 2 * bk4] +
                          qv.w * ks[i + 3 * bk4];
                }
                uvec4 key = uvec4(4 * jj) + uvec4(0, 1, 2, 3);
                sc = mix(sc, vec4(NEG), greaterThanEqual(key, uvec4(lim)));
                s4[jj] = sc;
                tmax = max(tmax, max(max(sc.x, sc.y), max(sc.z, sc.w)));
            }
            float mnew = l > 0.0 ? max(m, tmax) : tmax;
            float corr = l > 0.0 ? exp(m - mnew) : 0.0;
            l *= corr;
            for (uint t = 0; t < Dv4; t++) acc[t] *= corr;
            for (uint jj = 0; jj < n4; jj++) {
                vec4 p = exp(s4[jj] - mnew);
                l += (p.x + p.y) + (p.z + p.w);
                uint i = 4 * jj * Dv4;
                for (uint t = 0; t < Dv4; t++)
                    acc[t] += p.x * vs[i + t] + p.y * vs[i + Dv4 + t] + p.z * vs[i + 2 * Dv4 + t] +
                              p.w * vs[i + 3 * Dv4 + t];
            }
            m = mnew;
        }
    }
    if (live) {
        uint ob = b * pc.so_b + h * pc.so_h + qi * pc.so_l;
        float inv = 1.0 / l;
        for (uint d = 0; d < Dv; d++) o_[ob + d] = acc[d / 4][d % 4] * inv;
    }
}
