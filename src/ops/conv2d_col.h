// im2col / col2im for the CPU convolution bodies (conv2d_cpu.c forward, conv2d_bwd_cpu.c
// backward). col (Cin*KH*KW, Ho*Wo) has row r = (ci, kh, kw), column (oh, ow), entry
// inp[ci][oh*s - pad_t + kh][ow*s - pad_l + kw] (0 where that falls in the padding).
#ifndef VKD_CONV2D_COL_H
#define VKD_CONV2D_COL_H

#include "ops.h"

// col (Cin*KH*KW, Ho*Wo) from one image x (Cin, H, W).
void vkd_conv2d_im2col(float *col, const float *x, const vkd_conv2d_t *c, int Ho, int Wo);
// dx (Cin, H, W) += col2im(col (Cin*KH*KW, Ho*Wo)): the transpose of vkd_conv2d_im2col,
// every col entry added to the input pixel it was read from (padding entries dropped).
void vkd_conv2d_col2im_add(float *dx, const float *col, const vkd_conv2d_t *c, int Ho, int Wo);
// 1x1, stride 1, unpadded: the convolution is a GEMM on the image itself (col == x).
int vkd_conv2d_is_pointwise(const vkd_conv2d_t *c);

// The image-parallel regions of the CPU bodies call vkd_sgemm from every OpenMP thread at
// once. Debian's default OpenBLAS is the pthreads build: each of those calls fans out onto
// OpenBLAS's own thread pool, whose workers busy-wait for one another (measured: 163 ms of
// CPU for a backward that takes 13-18 ms with single-threaded GEMMs). So OpenBLAS runs
// single-threaded for the duration of such a region and gets its thread count back after.
int vkd_conv2d_blas_single_begin(void);     // returns the previous thread count
void vkd_conv2d_blas_single_end(int prev);

#endif
