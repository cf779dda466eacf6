#version 450
// nerf_background_forward (mode 0): rgb = fg + (1 - A) bg; nerf_background_backward
// (mode 1): dopacity -= drgb . bg, dbg += (1 - A) drgb. bg is per ray or one colour.
// One invocation per ray, grid-stride; a single small shader for both directions (the
// mode is uniform, so the branch costs nothing).

layout(local_size_x = 64) in;

layout(set = 0, binding = 0, std430) buffer A0 { float a0[]; };          // fwd: rgb (R, 3); bwd: dopacity (R)
layout(set = 0, binding = 1, std430) buffer A1 { float a1[]; };          // fwd: fg (R, 3); bwd: dbg (R, 3) or dummy
layout(set = 0, binding = 2, std430) readonly buffer A2 { float a2[]; }; // fwd: unused (dummy); bwd: drgb (R, 3)
layout(set = 0, binding = 3, std430) readonly buffer Opa { float opacity[]; }; // (R)
layout(set = 0, binding = 4, std430) readonly buffer BG { float bg[]; };       // (R, 3) or (3)

layout(push_constant) uniform PC {
    uint R;
    uint per_ray;
    uint mode;
    uint has_dbg;
} pc;

void main() {
    uint stride = gl_NumWorkGroups.x * gl_WorkGroupSize.x;
    for (uint r = gl_GlobalInvocationID.x; r < pc.R; r += stride) {
        uint b = pc.per_ray != 0u ? 3u * r : 0u;
        float tn = 1.0 - opacity[r];
        if (pc.mode == 0u) {
            for (uint k = 0u; k < 3u; k++) a0[3u * r + k] = a1[3u * r + k] + tn * bg[b + k];
        } else {
            float dot3 = 0.0;
            for (uint k = 0u; k < 3u; k++) dot3 += a2[3u * r + k] * bg[b + k];
            a0[r] -= dot3;
            if (pc.has_dbg != 0u)
                for (uint k = 0u; k < 3u; k++) a1[3u * r + k] += tn * a2[3u * r + k];
        }
    }
}
