// op_copy_strided on the CPU: the innermost axis is the loop the compiler vectorises (a
// plain memcpy-like loop when both inner strides are 1).
#include "ops_impl.h"

vkd_status_t copy_strided_cpu(vkd_backend_t *be, vkd_buf_t out, vkd_buf_t inp,
                              const vkd_copy_strided_t *d) {
    (void)be;
    float *restrict o = out.host;       // strided view, see ops.h
    const float *restrict x = inp.host; // strided view
    const int64_t n0 = d->n[0], n1 = d->n[1], n2 = d->n[2], n3 = d->n[3];
    const int64_t so3 = d->out_stride[3], si3 = d->inp_stride[3];
    const int acc = d->accumulate;
#pragma omp parallel for collapse(2) schedule(static) if (n0 * n1 * n2 * n3 > 65536)
    for (int64_t i0 = 0; i0 < n0; i0++)
        for (int64_t i1 = 0; i1 < n1; i1++)
            for (int64_t i2 = 0; i2 < n2; i2++) {
                float *po = o + d->out_off + i0 * d->out_stride[0] + i1 * d->out_stride[1] +
                            i2 * d->out_stride[2];
                const float *px = x + d->inp_off + i0 * d->inp_stride[0] +
                                  i1 * d->inp_stride[1] + i2 * d->inp_stride[2];
                if (acc)
                    for (int64_t i3 = 0; i3 < n3; i3++) po[i3 * so3] += px[i3 * si3];
                else
                    for (int64_t i3 = 0; i3 < n3; i3++) po[i3 * so3] = px[i3 * si3];
            }
    return VKD_OK;
}
