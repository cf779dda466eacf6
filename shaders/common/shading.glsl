// Lambertian shading with a point light: the GLSL twin of vkd_shade in src/shading.h (same
// operations in the same order). Keep the two in step.
#ifndef VKD_SHADING_GLSL
#define VKD_SHADING_GLSL

const uint SHADE_ALBEDO = 0u;
const uint SHADE_LIT = 1u;
const uint SHADE_TEXTURELESS = 2u;

// The light term k = l_d max(0, n . (L - x) / |L - x|) + l_a, and n . l-hat (ndl) and
// l - x and |l - x| for derivatives.
float shade_k(vec3 light, float diffuse, float ambient, vec3 n, vec3 x, out float ndl,
              out vec3 l, out float len) {
    l = light - x;
    len = sqrt(l.x * l.x + l.y * l.y + l.z * l.z);
    // A light inside the surface point (len = 0) gives no direction: ambient only.
    ndl = len > 0.0 ? (n.x * l.x + n.y * l.y + n.z * l.z) / len : 0.0;
    return diffuse * max(ndl, 0.0) + ambient;
}

vec3 shade(uint mode, vec3 light, float diffuse, float ambient, vec3 rho, vec3 n, vec3 x) {
    if (mode == SHADE_ALBEDO) return rho;
    float ndl, len;
    vec3 l;
    float k = shade_k(light, diffuse, ambient, n, x, ndl, l, len);
    return mode == SHADE_TEXTURELESS ? vec3(k) : rho * k;
}

#endif
