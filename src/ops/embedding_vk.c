// Token-embedding backward on Vulkan: shaders/embedding_bwd.comp, one dispatch per chunk
// of EMB_CHUNK token ids carried in the push constants (the ids are host memory and the
// op API has no scratch buffer to upload them to; at CLIP's 77 tokens that is 3
// dispatches). Chunks run in token order, so repeated ids add up in the same order as on
// the CPU.
#include <string.h>

#include "ops_impl.h"
#include "vk.h"

#define EMB_CHUNK 29

typedef struct {
    int32_t D;
    int32_t row0;
    int32_t count;
    int32_t ids[EMB_CHUNK];
} pc_embedding_bwd_t;
_Static_assert(sizeof(pc_embedding_bwd_t) == 128, "mirrors shaders/embedding_bwd.comp");

vkd_status_t embedding_backward_vk(vkd_backend_t *be, vkd_buf_t dweight, vkd_buf_t dout,
                                   const int32_t *ids, int N, int V, int D) {
    (void)V;
    const vkd_buf_t bufs[] = {dweight, dout}; // (V, D), (N, D)
    for (int i0 = 0; i0 < N; i0 += EMB_CHUNK) {
        pc_embedding_bwd_t pc = {.D = D, .row0 = i0};
        pc.count = N - i0 < EMB_CHUNK ? N - i0 : EMB_CHUNK;
        memcpy(pc.ids, ids + i0, sizeof(int32_t) * (size_t)pc.count);
        VKD_TRY(vkd_vk_dispatch_1d(be, VKD_SH_embedding_bwd, bufs, 2, &pc, sizeof pc,
                                   (uint64_t)D));
    }
    return VKD_OK;
}
