// ShapeWorld objects as a meshable field: the exact SDF (negated into a density) and the
// flat palette colour. Lets export run end to end without a trained model, and gives the
// mesh tests fields with known volume and topology.
#include "nerf/mesh.h"
#include "shapeworld.h"

vkd_status_t vkd_sw_field_sample(void *user, const float *xyz, int P, float *density, float *rgb) {
    const vkd_sw_object_t *o = user;
    if (!o || !xyz || !density || P < 0)
        return vkd_fail(VKD_ERR_INVALID, "ShapeWorld field: NULL argument or P = %d", P);
    if ((unsigned)o->shape >= VKD_SW_N_SHAPES || (unsigned)o->colour >= VKD_SW_N_COLOURS)
        return vkd_fail(VKD_ERR_INVALID, "ShapeWorld field: object (%d, %d) out of range",
                        (int)o->shape, (int)o->colour);
    const float *c = vkd_sw_colour_rgb(o->colour);
    // Serial on purpose: a few ns per point, so an OpenMP region per batch cost more than
    // it saved when measured on a shared 2-core machine (N = 256: 0.7 s of sampling with
    // it, 0.04 s without).
    for (int i = 0; i < P; i++) {
        density[i] = -vkd_sw_sdf(o->shape, &xyz[3 * (size_t)i]);
        if (rgb)
            for (int d = 0; d < 3; d++) rgb[3 * (size_t)i + d] = c[d];
    }
    return VKD_OK;
}
