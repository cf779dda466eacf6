// Argument checks of the NeRF ops, then the backend body for the backend's kind. The op
// table of src/ stays generic; these ops pick their body here (a two-way switch is all
// the dispatch a family outside the core needs).
#include <math.h>
#include <stdint.h>

#include "nerf/nerf_ops_impl.h"
#include "ops/ops_impl.h"
#include "shading.h"

#define NERF_CALL(be, name, ...)                                                         \
    (vkd_backend_kind(be) == VKD_BACKEND_VULKAN ? name##_vk((be), __VA_ARGS__)           \
                                                : name##_cpu((be), __VA_ARGS__))

// Every index a shader computes is 32-bit: the largest buffer an op touches must stay
// below 2^31 elements.
static vkd_status_t check_count(const char *op, const char *what, int64_t n, int64_t per) {
    if (n <= 0) return vkd_fail(VKD_ERR_INVALID, "%s: %s = %lld must be positive", op, what,
                                (long long)n);
    if (n * per > INT32_MAX)
        return vkd_fail(VKD_ERR_INVALID, "%s: %s = %lld is too large (%lld elements > 2^31)", op,
                        what, (long long)n, (long long)(n * per));
    return VKD_OK;
}

static vkd_status_t check_finite(const char *op, const char *what, float v) {
    if (!isfinite(v)) return vkd_fail(VKD_ERR_INVALID, "%s: %s is not finite", op, what);
    return VKD_OK;
}

// ---- IPE ------------------------------------------------------------------------------------

static vkd_status_t check_ipe(const char *op, int P, int L, float var_add) {
    if (L < 0 || L > 16)
        return vkd_fail(VKD_ERR_INVALID, "%s: L = %d frequencies must be in [0, 16]", op, L);
    VKD_TRY(check_count(op, "P", P, vkd_nerf_ipe_dim(L)));
    if (!(var_add >= 0.0f) || !isfinite(var_add))
        return vkd_fail(VKD_ERR_INVALID, "%s: var_add = %g must be finite and >= 0", op,
                        (double)var_add);
    return VKD_OK;
}

vkd_status_t nerf_ipe_forward(vkd_backend_t *be, vkd_buf_t feat, vkd_buf_t x, vkd_buf_t var,
                              int P, int L, float var_add) {
    static const char op[] = "nerf_ipe_forward";
    VKD_TRY(check_ipe(op, P, L, var_add));
    VKD_TRY(vkd_check_buf(op, "feat", feat, (size_t)P * vkd_nerf_ipe_dim(L), 0)); // (P, F)
    VKD_TRY(vkd_check_buf(op, "x", x, (size_t)P * 3, 0));                        // (P, 3)
    VKD_TRY(vkd_check_buf(op, "var", var, (size_t)P, 1));                        // (P)
    const vkd_buf_t bufs[] = {feat, x, var};
    VKD_TRY(vkd_check_backend(op, be, bufs, 3));
    return NERF_CALL(be, nerf_ipe_forward, feat, x, var, P, L, var_add);
}

vkd_status_t nerf_ipe_backward(vkd_backend_t *be, vkd_buf_t dx, vkd_buf_t dfeat, vkd_buf_t x,
                               vkd_buf_t var, int P, int L, float var_add) {
    static const char op[] = "nerf_ipe_backward";
    VKD_TRY(check_ipe(op, P, L, var_add));
    VKD_TRY(vkd_check_buf(op, "dx", dx, (size_t)P * 3, 0));                        // (P, 3)
    VKD_TRY(vkd_check_buf(op, "dfeat", dfeat, (size_t)P * vkd_nerf_ipe_dim(L), 0)); // (P, F)
    VKD_TRY(vkd_check_buf(op, "x", x, (size_t)P * 3, 0));                          // (P, 3)
    VKD_TRY(vkd_check_buf(op, "var", var, (size_t)P, 1));                          // (P)
    const vkd_buf_t bufs[] = {dx, dfeat, x, var};
    VKD_TRY(vkd_check_backend(op, be, bufs, 4));
    return NERF_CALL(be, nerf_ipe_backward, dx, dfeat, x, var, P, L, var_add);
}

// ---- tetrahedral points -----------------------------------------------------------------

vkd_status_t nerf_tetra_points(vkd_backend_t *be, vkd_buf_t xt, vkd_buf_t vt, vkd_buf_t x,
                               vkd_buf_t var, int P, float h) {
    static const char op[] = "nerf_tetra_points";
    VKD_TRY(check_count(op, "P", P, 12));
    if (!(h > 0.0f) || !isfinite(h))
        return vkd_fail(VKD_ERR_INVALID, "%s: step h = %g must be positive", op, (double)h);
    VKD_TRY(vkd_check_buf(op, "xt", xt, (size_t)P * 12, 0)); // (P, 4, 3)
    VKD_TRY(vkd_check_buf(op, "vt", vt, (size_t)P * 4, 0));  // (P, 4)
    VKD_TRY(vkd_check_buf(op, "x", x, (size_t)P * 3, 0));    // (P, 3)
    VKD_TRY(vkd_check_buf(op, "var", var, (size_t)P, 0));    // (P)
    const vkd_buf_t bufs[] = {xt, vt, x, var};
    VKD_TRY(vkd_check_backend(op, be, bufs, 4));
    return NERF_CALL(be, nerf_tetra_points, xt, vt, x, var, P, h);
}

// ---- heads ----------------------------------------------------------------------------------

static vkd_status_t check_heads(const char *op, int P, const vkd_nerf_heads_t *hd) {
    if (!hd) return vkd_fail(VKD_ERR_INVALID, "%s: heads descriptor is NULL", op);
    VKD_TRY(check_count(op, "P", P, 4));
    if (hd->act != VKD_ACT_EXP && hd->act != VKD_ACT_SOFTPLUS)
        return vkd_fail(VKD_ERR_INVALID, "%s: density activation %d must be exp or softplus", op,
                        hd->act);
    VKD_TRY(check_finite(op, "blob_lambda", hd->blob_lambda));
    if (hd->pre_only != 0 && hd->pre_only != 1)
        return vkd_fail(VKD_ERR_INVALID, "%s: pre_only = %d must be 0 or 1", op, hd->pre_only);
    if (!(hd->blob_sigma > 0.0f) || !isfinite(hd->blob_sigma))
        return vkd_fail(VKD_ERR_INVALID, "%s: blob_sigma = %g must be positive", op,
                        (double)hd->blob_sigma);
    return VKD_OK;
}

vkd_status_t nerf_heads_forward(vkd_backend_t *be, vkd_buf_t sigma, vkd_buf_t rho, vkd_buf_t raw,
                                vkd_buf_t x, int P, const vkd_nerf_heads_t *hd) {
    static const char op[] = "nerf_heads_forward";
    VKD_TRY(check_heads(op, P, hd));
    VKD_TRY(vkd_check_buf(op, "sigma", sigma, (size_t)P, 0)); // (P)
    VKD_TRY(vkd_check_buf(op, "rho", rho, (size_t)P * 3, 1)); // (P, 3)
    VKD_TRY(vkd_check_buf(op, "raw", raw, (size_t)P * 4, 0)); // (P, 4)
    VKD_TRY(vkd_check_buf(op, "x", x, (size_t)P * 3, 0));     // (P, 3)
    if (hd->pre_only && vkd_buf_present(rho))
        return vkd_fail(VKD_ERR_INVALID, "%s: pre_only computes no albedo (rho must be NONE)", op);
    const vkd_buf_t bufs[] = {sigma, rho, raw, x};
    VKD_TRY(vkd_check_backend(op, be, bufs, 4));
    return NERF_CALL(be, nerf_heads_forward, sigma, rho, raw, x, P, hd);
}

vkd_status_t nerf_heads_backward(vkd_backend_t *be, vkd_buf_t draw, vkd_buf_t dsigma,
                                 vkd_buf_t drho, vkd_buf_t raw, vkd_buf_t x, int P,
                                 const vkd_nerf_heads_t *hd) {
    static const char op[] = "nerf_heads_backward";
    VKD_TRY(check_heads(op, P, hd));
    VKD_TRY(vkd_check_buf(op, "draw", draw, (size_t)P * 4, 0));   // (P, 4)
    VKD_TRY(vkd_check_buf(op, "dsigma", dsigma, (size_t)P, 1));   // (P)
    VKD_TRY(vkd_check_buf(op, "drho", drho, (size_t)P * 3, 1));   // (P, 3)
    VKD_TRY(vkd_check_buf(op, "raw", raw, (size_t)P * 4, 0));     // (P, 4)
    VKD_TRY(vkd_check_buf(op, "x", x, (size_t)P * 3, 0));         // (P, 3)
    if (hd->pre_only && vkd_buf_present(drho))
        return vkd_fail(VKD_ERR_INVALID, "%s: pre_only has no albedo (drho must be NONE)", op);
    const vkd_buf_t bufs[] = {draw, dsigma, drho, raw, x};
    VKD_TRY(vkd_check_backend(op, be, bufs, 5));
    if (!vkd_buf_present(dsigma) && !vkd_buf_present(drho)) return VKD_OK;
    return NERF_CALL(be, nerf_heads_backward, draw, dsigma, drho, raw, x, P, hd);
}

// ---- normals --------------------------------------------------------------------------------

static vkd_status_t check_normal(const char *op, int P, float h, float eps) {
    VKD_TRY(check_count(op, "P", P, 4));
    if (!(h > 0.0f) || !isfinite(h))
        return vkd_fail(VKD_ERR_INVALID, "%s: step h = %g must be positive", op, (double)h);
    if (!(eps > 0.0f) || !isfinite(eps))
        return vkd_fail(VKD_ERR_INVALID, "%s: eps = %g must be positive", op, (double)eps);
    return VKD_OK;
}

vkd_status_t nerf_normal_forward(vkd_backend_t *be, vkd_buf_t n, vkd_buf_t tau4, int P, float h,
                                 float eps) {
    static const char op[] = "nerf_normal_forward";
    VKD_TRY(check_normal(op, P, h, eps));
    VKD_TRY(vkd_check_buf(op, "n", n, (size_t)P * 3, 0));       // (P, 3)
    VKD_TRY(vkd_check_buf(op, "tau4", tau4, (size_t)P * 4, 0)); // (P, 4)
    const vkd_buf_t bufs[] = {n, tau4};
    VKD_TRY(vkd_check_backend(op, be, bufs, 2));
    return NERF_CALL(be, nerf_normal_forward, n, tau4, P, h, eps);
}

vkd_status_t nerf_normal_backward(vkd_backend_t *be, vkd_buf_t dtau4, vkd_buf_t dn,
                                  vkd_buf_t tau4, int P, float h, float eps) {
    static const char op[] = "nerf_normal_backward";
    VKD_TRY(check_normal(op, P, h, eps));
    VKD_TRY(vkd_check_buf(op, "dtau4", dtau4, (size_t)P * 4, 0)); // (P, 4)
    VKD_TRY(vkd_check_buf(op, "dn", dn, (size_t)P * 3, 0));       // (P, 3)
    VKD_TRY(vkd_check_buf(op, "tau4", tau4, (size_t)P * 4, 0));   // (P, 4)
    const vkd_buf_t bufs[] = {dtau4, dn, tau4};
    VKD_TRY(vkd_check_backend(op, be, bufs, 3));
    return NERF_CALL(be, nerf_normal_backward, dtau4, dn, tau4, P, h, eps);
}

// ---- shading --------------------------------------------------------------------------------

static vkd_status_t check_shade(const char *op, int P, const vkd_nerf_shade_t *sh, vkd_buf_t n) {
    if (!sh) return vkd_fail(VKD_ERR_INVALID, "%s: shading descriptor is NULL", op);
    VKD_TRY(check_count(op, "P", P, 3));
    if (sh->mode < 0 || sh->mode >= VKD_SHADE_COUNT)
        return vkd_fail(VKD_ERR_INVALID, "%s: shading mode %d out of range", op, sh->mode);
    if (sh->mode != VKD_SHADE_ALBEDO && !vkd_buf_present(n))
        return vkd_fail(VKD_ERR_INVALID, "%s: %s shading needs the normals n", op,
                        vkd_shade_mode_name((vkd_shade_mode_t)sh->mode));
    for (int k = 0; k < 3; k++) VKD_TRY(check_finite(op, "light position", sh->light[k]));
    VKD_TRY(check_finite(op, "diffuse", sh->diffuse));
    return check_finite(op, "ambient", sh->ambient);
}

vkd_status_t nerf_shade_forward(vkd_backend_t *be, vkd_buf_t c, vkd_buf_t rho, vkd_buf_t n,
                                vkd_buf_t x, int P, const vkd_nerf_shade_t *sh) {
    static const char op[] = "nerf_shade_forward";
    VKD_TRY(check_shade(op, P, sh, n));
    VKD_TRY(vkd_check_buf(op, "c", c, (size_t)P * 3, 0));     // (P, 3)
    VKD_TRY(vkd_check_buf(op, "rho", rho, (size_t)P * 3, 0)); // (P, 3)
    VKD_TRY(vkd_check_buf(op, "n", n, (size_t)P * 3, 1));     // (P, 3)
    VKD_TRY(vkd_check_buf(op, "x", x, (size_t)P * 3, 0));     // (P, 3)
    const vkd_buf_t bufs[] = {c, rho, n, x};
    VKD_TRY(vkd_check_backend(op, be, bufs, 4));
    return NERF_CALL(be, nerf_shade_forward, c, rho, n, x, P, sh);
}

vkd_status_t nerf_shade_backward(vkd_backend_t *be, vkd_buf_t drho, vkd_buf_t dn, vkd_buf_t dc,
                                 vkd_buf_t rho, vkd_buf_t n, vkd_buf_t x, int P,
                                 const vkd_nerf_shade_t *sh) {
    static const char op[] = "nerf_shade_backward";
    VKD_TRY(check_shade(op, P, sh, n));
    VKD_TRY(vkd_check_buf(op, "drho", drho, (size_t)P * 3, 1)); // (P, 3)
    VKD_TRY(vkd_check_buf(op, "dn", dn, (size_t)P * 3, 1));     // (P, 3)
    VKD_TRY(vkd_check_buf(op, "dc", dc, (size_t)P * 3, 0));     // (P, 3)
    VKD_TRY(vkd_check_buf(op, "rho", rho, (size_t)P * 3, 0));   // (P, 3)
    VKD_TRY(vkd_check_buf(op, "n", n, (size_t)P * 3, 1));       // (P, 3)
    VKD_TRY(vkd_check_buf(op, "x", x, (size_t)P * 3, 0));       // (P, 3)
    const vkd_buf_t bufs[] = {drho, dn, dc, rho, n, x};
    VKD_TRY(vkd_check_backend(op, be, bufs, 6));
    const int need_dn = vkd_buf_present(dn) && sh->mode != VKD_SHADE_ALBEDO;
    const int need_drho = vkd_buf_present(drho) && sh->mode != VKD_SHADE_TEXTURELESS;
    if (!need_dn && !need_drho) return VKD_OK;
    return NERF_CALL(be, nerf_shade_backward, need_drho ? drho : VKD_BUF_NONE,
                     need_dn ? dn : VKD_BUF_NONE, dc, rho, n, x, P, sh);
}

// ---- samples --------------------------------------------------------------------------------

static vkd_status_t check_samples(const char *op, const vkd_nerf_samples_t *sd, vkd_buf_t grid) {
    if (!sd) return vkd_fail(VKD_ERR_INVALID, "%s: samples descriptor is NULL", op);
    VKD_TRY(check_count(op, "R", sd->R, VKD_NERF_RAY_STRIDE));
    if (sd->S < 1 || sd->S > 4096)
        return vkd_fail(VKD_ERR_INVALID, "%s: S = %d samples per ray must be in [1, 4096]", op,
                        sd->S);
    VKD_TRY(check_count(op, "R * S", (int64_t)sd->R * sd->S, 3));
    if (!(sd->bound > 0.0f) || !isfinite(sd->bound))
        return vkd_fail(VKD_ERR_INVALID, "%s: bound = %g must be positive", op, (double)sd->bound);
    if (sd->grid_res < 0 || sd->grid_res > 512)
        return vkd_fail(VKD_ERR_INVALID, "%s: grid_res = %d must be in [0, 512]", op,
                        sd->grid_res);
    if (sd->grid_res > 0 && !vkd_buf_present(grid))
        return vkd_fail(VKD_ERR_INVALID, "%s: grid_res = %d but no grid buffer", op, sd->grid_res);
    if (sd->grid_res == 0 && vkd_buf_present(grid))
        return vkd_fail(VKD_ERR_INVALID, "%s: a grid buffer with grid_res = 0", op);
    VKD_TRY(check_finite(op, "grid_thresh", sd->grid_thresh));
    const size_t g = (size_t)sd->grid_res;
    return vkd_check_buf(op, "grid", grid, g * g * g, 1);
}

vkd_status_t nerf_samples_count(vkd_backend_t *be, vkd_buf_t counts, vkd_buf_t rays,
                                vkd_buf_t grid, const vkd_nerf_samples_t *sd) {
    static const char op[] = "nerf_samples_count";
    VKD_TRY(check_samples(op, sd, grid));
    VKD_TRY(vkd_check_buf(op, "counts", counts, (size_t)sd->R, 0));                   // (R)
    VKD_TRY(vkd_check_buf(op, "rays", rays, (size_t)sd->R * VKD_NERF_RAY_STRIDE, 0)); // (R, 8)
    const vkd_buf_t bufs[] = {counts, rays, grid};
    VKD_TRY(vkd_check_backend(op, be, bufs, 3));
    return NERF_CALL(be, nerf_samples_count, counts, rays, grid, sd);
}

vkd_status_t nerf_samples_write(vkd_backend_t *be, vkd_buf_t x, vkd_buf_t var, vkd_buf_t td,
                                vkd_buf_t rays, vkd_buf_t offs, vkd_buf_t grid, int P,
                                const vkd_nerf_samples_t *sd) {
    static const char op[] = "nerf_samples_write";
    VKD_TRY(check_samples(op, sd, grid));
    if (P < 0 || (int64_t)P > (int64_t)sd->R * sd->S)
        return vkd_fail(VKD_ERR_INVALID, "%s: P = %d samples outside [0, R*S = %lld]", op, P,
                        (long long)sd->R * sd->S);
    if (P == 0) return VKD_OK;
    VKD_TRY(vkd_check_buf(op, "x", x, (size_t)P * 3, 0));         // (P, 3)
    VKD_TRY(vkd_check_buf(op, "var", var, (size_t)P, 0));         // (P)
    VKD_TRY(vkd_check_buf(op, "td", td, (size_t)P * 2, 0));       // (P, 2)
    VKD_TRY(vkd_check_buf(op, "rays", rays, (size_t)sd->R * VKD_NERF_RAY_STRIDE, 0)); // (R, 8)
    VKD_TRY(vkd_check_buf(op, "offs", offs, (size_t)sd->R + 1, 0)); // (R + 1)
    const vkd_buf_t bufs[] = {x, var, td, rays, offs, grid};
    VKD_TRY(vkd_check_backend(op, be, bufs, 6));
    return NERF_CALL(be, nerf_samples_write, x, var, td, rays, offs, grid, P, sd);
}

// ---- compositing ----------------------------------------------------------------------------

static vkd_status_t check_rays(const char *op, int R) {
    VKD_TRY(check_count(op, "R", R, VKD_NERF_RAY_STRIDE));
    // The per-ray kernels run one invocation per ray, at most 65535 workgroups of 64.
    if (R > 65535 * 64)
        return vkd_fail(VKD_ERR_INVALID, "%s: R = %d rays exceeds %d", op, R, 65535 * 64);
    return VKD_OK;
}

static vkd_status_t check_comp(const char *op, int P, const vkd_nerf_composite_t *cd) {
    if (!cd) return vkd_fail(VKD_ERR_INVALID, "%s: composite descriptor is NULL", op);
    VKD_TRY(check_rays(op, cd->R));
    if (P < 0) return vkd_fail(VKD_ERR_INVALID, "%s: P = %d is negative", op, P);
    if ((int64_t)P * 3 > INT32_MAX) return vkd_fail(VKD_ERR_INVALID, "%s: P = %d too large", op, P);
    VKD_TRY(check_finite(op, "lambda_orient", cd->lambda_orient));
    VKD_TRY(check_finite(op, "lambda_opacity", cd->lambda_opacity));
    return check_finite(op, "lambda_entropy", cd->lambda_entropy);
}

vkd_status_t nerf_composite_forward(vkd_backend_t *be, vkd_buf_t rgb, vkd_buf_t opacity,
                                    vkd_buf_t depth, vkd_buf_t nmap, vkd_buf_t orient,
                                    vkd_buf_t w, vkd_buf_t sigma, vkd_buf_t c, vkd_buf_t n,
                                    vkd_buf_t td, vkd_buf_t offs, vkd_buf_t rays, int P,
                                    const vkd_nerf_composite_t *cd) {
    static const char op[] = "nerf_composite_forward";
    VKD_TRY(check_comp(op, P, cd));
    const size_t R = (size_t)cd->R, p = (size_t)P;
    const int want_n = vkd_buf_present(nmap) || vkd_buf_present(orient);
    if (want_n && (!vkd_buf_present(n) || !vkd_buf_present(rays)))
        return vkd_fail(VKD_ERR_INVALID, "%s: the normal map and orientation term need n and "
                        "rays", op);
    VKD_TRY(vkd_check_buf(op, "rgb", rgb, R * 3, 0));        // (R, 3)
    VKD_TRY(vkd_check_buf(op, "opacity", opacity, R, 0));    // (R)
    VKD_TRY(vkd_check_buf(op, "depth", depth, R, 0));        // (R)
    VKD_TRY(vkd_check_buf(op, "nmap", nmap, R * 3, 1));      // (R, 3)
    VKD_TRY(vkd_check_buf(op, "orient", orient, R, 1));      // (R)
    VKD_TRY(vkd_check_buf(op, "w", w, p, 0));                // (P)
    VKD_TRY(vkd_check_buf(op, "sigma", sigma, p, 0));        // (P)
    VKD_TRY(vkd_check_buf(op, "c", c, p * 3, 0));            // (P, 3)
    VKD_TRY(vkd_check_buf(op, "n", n, p * 3, 1));            // (P, 3)
    VKD_TRY(vkd_check_buf(op, "td", td, p * 2, 0));          // (P, 2)
    VKD_TRY(vkd_check_buf(op, "offs", offs, R + 1, 0));      // (R + 1)
    VKD_TRY(vkd_check_buf(op, "rays", rays, R * VKD_NERF_RAY_STRIDE, 1)); // (R, 8)
    const vkd_buf_t bufs[] = {rgb, opacity, depth, nmap, orient, w, sigma, c, n, td, offs, rays};
    VKD_TRY(vkd_check_backend(op, be, bufs, 12));
    return NERF_CALL(be, nerf_composite_forward, rgb, opacity, depth, want_n ? nmap : VKD_BUF_NONE,
                     want_n ? orient : VKD_BUF_NONE, w, sigma, c, want_n ? n : VKD_BUF_NONE, td,
                     offs, rays, P, cd);
}

vkd_status_t nerf_composite_backward(vkd_backend_t *be, vkd_buf_t dsigma, vkd_buf_t dc,
                                     vkd_buf_t dn, vkd_buf_t drgb, vkd_buf_t dopacity,
                                     vkd_buf_t sigma, vkd_buf_t c, vkd_buf_t n, vkd_buf_t w,
                                     vkd_buf_t td, vkd_buf_t offs, vkd_buf_t rays, int P,
                                     const vkd_nerf_composite_t *cd) {
    static const char op[] = "nerf_composite_backward";
    VKD_TRY(check_comp(op, P, cd));
    const size_t R = (size_t)cd->R, p = (size_t)P;
    const int orient = vkd_buf_present(dn) && cd->lambda_orient != 0.0f;
    if (orient && (!vkd_buf_present(n) || !vkd_buf_present(rays) || !vkd_buf_present(w)))
        return vkd_fail(VKD_ERR_INVALID, "%s: the orientation gradient dn needs n, rays and w", op);
    VKD_TRY(vkd_check_buf(op, "dsigma", dsigma, p, 0));          // (P)
    VKD_TRY(vkd_check_buf(op, "dc", dc, p * 3, 0));              // (P, 3)
    VKD_TRY(vkd_check_buf(op, "dn", dn, p * 3, 1));              // (P, 3)
    VKD_TRY(vkd_check_buf(op, "drgb", drgb, R * 3, 0));          // (R, 3)
    VKD_TRY(vkd_check_buf(op, "dopacity", dopacity, R, 1));      // (R)
    VKD_TRY(vkd_check_buf(op, "sigma", sigma, p, 0));            // (P)
    VKD_TRY(vkd_check_buf(op, "c", c, p * 3, 0));                // (P, 3)
    VKD_TRY(vkd_check_buf(op, "n", n, p * 3, 1));                // (P, 3)
    VKD_TRY(vkd_check_buf(op, "w", w, p, 1));                    // (P)
    VKD_TRY(vkd_check_buf(op, "td", td, p * 2, 0));              // (P, 2)
    VKD_TRY(vkd_check_buf(op, "offs", offs, R + 1, 0));          // (R + 1)
    VKD_TRY(vkd_check_buf(op, "rays", rays, R * VKD_NERF_RAY_STRIDE, 1)); // (R, 8)
    const vkd_buf_t bufs[] = {dsigma, dc, dn, drgb, dopacity, sigma, c, n, w, td, offs, rays};
    VKD_TRY(vkd_check_backend(op, be, bufs, 12));
    return NERF_CALL(be, nerf_composite_backward, dsigma, dc, orient ? dn : VKD_BUF_NONE, drgb,
                     dopacity, sigma, c, n, w, td, offs, rays, P, cd);
}

vkd_status_t nerf_background_forward(vkd_backend_t *be, vkd_buf_t rgb, vkd_buf_t fg,
                                     vkd_buf_t opacity, vkd_buf_t bg, int R, int per_ray) {
    static const char op[] = "nerf_background_forward";
    VKD_TRY(check_rays(op, R));
    VKD_TRY(vkd_check_buf(op, "rgb", rgb, (size_t)R * 3, 0));   // (R, 3)
    VKD_TRY(vkd_check_buf(op, "fg", fg, (size_t)R * 3, 0));     // (R, 3)
    VKD_TRY(vkd_check_buf(op, "opacity", opacity, (size_t)R, 0)); // (R)
    VKD_TRY(vkd_check_buf(op, "bg", bg, per_ray ? (size_t)R * 3 : 3, 0)); // (R, 3) or (3)
    const vkd_buf_t bufs[] = {rgb, fg, opacity, bg};
    VKD_TRY(vkd_check_backend(op, be, bufs, 4));
    return NERF_CALL(be, nerf_background_forward, rgb, fg, opacity, bg, R, per_ray != 0);
}

vkd_status_t nerf_background_backward(vkd_backend_t *be, vkd_buf_t dopacity, vkd_buf_t dbg,
                                      vkd_buf_t drgb, vkd_buf_t opacity, vkd_buf_t bg, int R,
                                      int per_ray) {
    static const char op[] = "nerf_background_backward";
    VKD_TRY(check_rays(op, R));
    if (vkd_buf_present(dbg) && !per_ray)
        return vkd_fail(VKD_ERR_INVALID, "%s: dbg needs a per-ray background", op);
    VKD_TRY(vkd_check_buf(op, "dopacity", dopacity, (size_t)R, 0)); // (R)
    VKD_TRY(vkd_check_buf(op, "dbg", dbg, (size_t)R * 3, 1));       // (R, 3)
    VKD_TRY(vkd_check_buf(op, "drgb", drgb, (size_t)R * 3, 0));     // (R, 3)
    VKD_TRY(vkd_check_buf(op, "opacity", opacity, (size_t)R, 0));   // (R)
    VKD_TRY(vkd_check_buf(op, "bg", bg, per_ray ? (size_t)R * 3 : 3, 0)); // (R, 3) or (3)
    const vkd_buf_t bufs[] = {dopacity, dbg, drgb, opacity, bg};
    VKD_TRY(vkd_check_backend(op, be, bufs, 5));
    return NERF_CALL(be, nerf_background_backward, dopacity, dbg, drgb, opacity, bg, R,
                     per_ray != 0);
}

// ---- occupancy grid -------------------------------------------------------------------------

static vkd_status_t check_grid(const char *op, int G, float bound, int cell0, int N) {
    if (G < 1 || G > 512)
        return vkd_fail(VKD_ERR_INVALID, "%s: grid resolution %d must be in [1, 512]", op, G);
    if (!(bound > 0.0f) || !isfinite(bound))
        return vkd_fail(VKD_ERR_INVALID, "%s: bound = %g must be positive", op, (double)bound);
    const int64_t cells = (int64_t)G * G * G;
    if (cell0 < 0 || N < 1 || (int64_t)cell0 + N > cells)
        return vkd_fail(VKD_ERR_INVALID, "%s: cells [%d, %lld) outside the %lld of the grid", op,
                        cell0, (long long)cell0 + N, (long long)cells);
    return VKD_OK;
}

vkd_status_t nerf_grid_points(vkd_backend_t *be, vkd_buf_t x, int G, float bound, int jitter,
                              uint64_t seed, uint64_t step, int cell0, int N) {
    static const char op[] = "nerf_grid_points";
    VKD_TRY(check_grid(op, G, bound, cell0, N));
    VKD_TRY(vkd_check_buf(op, "x", x, (size_t)N * 3, 0)); // (N, 3)
    VKD_TRY(vkd_check_backend(op, be, &x, 1));
    return NERF_CALL(be, nerf_grid_points, x, G, bound, jitter, seed, step, cell0, N);
}

vkd_status_t nerf_grid_update(vkd_backend_t *be, vkd_buf_t grid, vkd_buf_t sigma, int G,
                              float bound, float decay, int cell0, int N) {
    static const char op[] = "nerf_grid_update";
    VKD_TRY(check_grid(op, G, bound, cell0, N));
    if (!(decay >= 0.0f && decay <= 1.0f))
        return vkd_fail(VKD_ERR_INVALID, "%s: decay = %g must be in [0, 1]", op, (double)decay);
    VKD_TRY(vkd_check_buf(op, "grid", grid, (size_t)G * G * G, 0)); // (G, G, G)
    VKD_TRY(vkd_check_buf(op, "sigma", sigma, (size_t)N, 0));       // (N)
    const vkd_buf_t bufs[] = {grid, sigma};
    VKD_TRY(vkd_check_backend(op, be, bufs, 2));
    return NERF_CALL(be, nerf_grid_update, grid, sigma, G, bound, decay, cell0, N);
}
