// Helpers shared by the NeRF shaders (shaders/nerf_*.comp); twins of the C code in
// nerf/nerf_ops_impl.h and nerf/nerf_*ops_cpu.c. Keep the two in step.
#ifndef VKD_NERF_GLSL
#define VKD_NERF_GLSL

const uint NERF_RAY_STRIDE = 8u;

// Corners of the regular tetrahedron (nerf_ops_impl.h VKD_NERF_TETRA).
const vec3 NERF_TETRA[4] = vec3[4](vec3(1.0, 1.0, 1.0), vec3(1.0, -1.0, -1.0),
                                   vec3(-1.0, 1.0, -1.0), vec3(-1.0, -1.0, 1.0));

// (sin a, cos a) for |a| up to ~1e4, accurate to ~1e-7 absolute: Cody-Waite reduction by
// pi/2 in three parts (k * hi is exact for k < 2^15), then Taylor polynomials on
// [-pi/4, pi/4]. The encoding needs sin(2^l x) for 2^l x up to ~200 rad; a GPU's
// built-in sin is only specified near 0 (lavapipe: ~2e-6 absolute even below 2 pi).
vec2 nerf_sincos(float a) {
    precise float k = floor(a * 0.63661975 + 0.5);
    precise float r = ((a - k * 1.5703125) - k * 4.8382679233e-04) - k * 2.5632829193e-12;
    float r2 = r * r;
    float s = r * (1.0 + r2 * (-1.0 / 6.0 + r2 * (1.0 / 120.0 + r2 * (-1.0 / 5040.0 +
                   r2 * (1.0 / 362880.0)))));
    float c = 1.0 + r2 * (-0.5 + r2 * (1.0 / 24.0 + r2 * (-1.0 / 720.0 + r2 * (1.0 / 40320.0 -
                   r2 * (1.0 / 3628800.0)))));
    uint q = uint(int(k)) & 3u; // a = q pi/2 + r
    if (q == 0u) return vec2(s, c);
    if (q == 1u) return vec2(c, -s);
    if (q == 2u) return vec2(-s, -c);
    return vec2(-c, s);
}

// 1 - exp(-s) without cancellation for small s (nerf_render_ops_cpu.c alpha_of).
float nerf_alpha(float s) {
    if (s < 0.015625) return s * (1.0 - s * (0.5 - s * (1.0 / 6.0 - s * (1.0 / 24.0))));
    return 1.0 - exp(-s);
}

// The ray/sphere interval (vkd_nerf_ray_sphere); false when the ray misses.
bool nerf_ray_sphere(vec3 o, vec3 d, float bound, out float t0, out float t1) {
    precise float b = o.x * d.x + o.y * d.y + o.z * d.z;
    precise float c = o.x * o.x + o.y * o.y + o.z * o.z - bound * bound;
    precise float disc = b * b - c;
    t0 = 0.0;
    t1 = 0.0;
    if (!(disc > 0.0)) return false;
    float sq = sqrt(disc);
    precise float hi = -b + sq;
    precise float lo = -b - sq;
    t0 = max(lo, 0.0);
    t1 = hi;
    return hi > t0;
}

// The cell of x in a G^3 grid over [-bound, bound]^3, clamped.
uint nerf_grid_cell(vec3 x, float bound, uint G) {
    precise vec3 f = floor((x + bound) / (2.0 * bound) * float(G));
    ivec3 c = clamp(ivec3(f), ivec3(0), ivec3(int(G) - 1));
    return (uint(c.x) * G + uint(c.y)) * G + uint(c.z);
}

#endif
