// Vulkan internals: the loader's function table, the context (instance, device, queue),
// kernels (pipelines built from SPIR-V embedded at build time) and the recording sequence.
//
// Four nouns, all behind this header: context, buffer (arena views, backend.h), kernel,
// sequence. Op bodies (src/ops/*_vk.c) only ever call vkd_vk_dispatch*().
#ifndef VKD_VK_H
#define VKD_VK_H

#include <vulkan/vulkan.h>

#include "backend_impl.h"
#include "shaders.h" // generated: vkd_shader_id_t, vkd_spirv[]

// ---- loader: libvulkan is opened at run time so a machine without it still runs ----
#define VKD_VK_GLOBAL_FUNCS(X)                                                           \
    X(vkCreateInstance)                                                                  \
    X(vkEnumerateInstanceLayerProperties)                                                \
    X(vkEnumerateInstanceExtensionProperties)                                            \
    X(vkEnumerateInstanceVersion)

#define VKD_VK_INSTANCE_FUNCS(X)                                                         \
    X(vkDestroyInstance)                                                                 \
    X(vkEnumeratePhysicalDevices)                                                        \
    X(vkGetPhysicalDeviceProperties)                                                     \
    X(vkGetPhysicalDeviceProperties2)                                                    \
    X(vkGetPhysicalDeviceFeatures)                                                       \
    X(vkGetPhysicalDeviceQueueFamilyProperties)                                          \
    X(vkGetPhysicalDeviceMemoryProperties)                                               \
    X(vkEnumerateDeviceExtensionProperties)                                              \
    X(vkCreateDevice)                                                                    \
    X(vkGetDeviceProcAddr)                                                               \
    X(vkCreateDebugUtilsMessengerEXT)                                                    \
    X(vkDestroyDebugUtilsMessengerEXT)

#define VKD_VK_DEVICE_FUNCS(X)                                                           \
    X(vkDestroyDevice)                                                                   \
    X(vkGetDeviceQueue)                                                                  \
    X(vkDeviceWaitIdle)                                                                  \
    X(vkAllocateMemory)                                                                  \
    X(vkFreeMemory)                                                                      \
    X(vkMapMemory)                                                                       \
    X(vkUnmapMemory)                                                                     \
    X(vkCreateBuffer)                                                                    \
    X(vkDestroyBuffer)                                                                   \
    X(vkGetBufferMemoryRequirements)                                                     \
    X(vkBindBufferMemory)                                                                \
    X(vkCreateShaderModule)                                                              \
    X(vkDestroyShaderModule)                                                             \
    X(vkCreateDescriptorSetLayout)                                                       \
    X(vkDestroyDescriptorSetLayout)                                                      \
    X(vkCreatePipelineLayout)                                                            \
    X(vkDestroyPipelineLayout)                                                           \
    X(vkCreateComputePipelines)                                                          \
    X(vkDestroyPipeline)                                                                 \
    X(vkCreateDescriptorPool)                                                            \
    X(vkDestroyDescriptorPool)                                                           \
    X(vkResetDescriptorPool)                                                             \
    X(vkAllocateDescriptorSets)                                                          \
    X(vkUpdateDescriptorSets)                                                            \
    X(vkCreateCommandPool)                                                               \
    X(vkDestroyCommandPool)                                                              \
    X(vkAllocateCommandBuffers)                                                          \
    X(vkResetCommandPool)                                                                \
    X(vkBeginCommandBuffer)                                                              \
    X(vkEndCommandBuffer)                                                                \
    X(vkCmdBindPipeline)                                                                 \
    X(vkCmdBindDescriptorSets)                                                           \
    X(vkCmdPushConstants)                                                                \
    X(vkCmdDispatch)                                                                     \
    X(vkCmdPipelineBarrier)                                                              \
    X(vkCmdCopyBuffer)                                                                   \
    X(vkCmdFillBuffer)                                                                   \
    X(vkCmdResetQueryPool)                                                               \
    X(vkCmdWriteTimestamp)                                                               \
    X(vkCreateQueryPool)                                                                 \
    X(vkDestroyQueryPool)                                                                \
    X(vkGetQueryPoolResults)                                                             \
    X(vkCreateFence)                                                                     \
    X(vkDestroyFence)                                                                    \
    X(vkResetFences)                                                                     \
    X(vkWaitForFences)                                                                   \
    X(vkQueueSubmit)

typedef struct vkd_vk_fns {
    PFN_vkGetInstanceProcAddr vkGetInstanceProcAddr;
#define VKD_DECL(f) PFN_##f f;
    VKD_VK_GLOBAL_FUNCS(VKD_DECL)
    VKD_VK_INSTANCE_FUNCS(VKD_DECL)
    VKD_VK_DEVICE_FUNCS(VKD_DECL)
#undef VKD_DECL
} vkd_vk_fns_t;

// ---- devices --------------------------------------------------------------------------
typedef struct {
    VkPhysicalDevice handle;
    VkPhysicalDeviceProperties props;
    VkPhysicalDeviceDriverProperties driver;
    VkPhysicalDeviceMemoryProperties mem;
    int compute_family; // -1: no compute queue
    int has_timestamps;
} vkd_vk_device_info_t;

#define VKD_VK_MAX_DEVICES 16

// An instance plus the list of its physical devices: enough for `vkdream info` and for
// choosing a device, without creating one.
typedef struct vkd_vk_instance {
    void *lib; // dlopen handle of libvulkan
    vkd_vk_fns_t fn;
    VkInstance instance;
    VkDebugUtilsMessengerEXT messenger;
    int validation;         // layer enabled
    int validation_errors;  // messages seen (warning or error severity)
    int n_devices;
    vkd_vk_device_info_t devices[VKD_VK_MAX_DEVICES];
} vkd_vk_instance_t;

vkd_status_t vkd_vk_instance_create(int validation, vkd_vk_instance_t **out);
void vkd_vk_instance_destroy(vkd_vk_instance_t *inst);
const char *vkd_vk_device_type_name(VkPhysicalDeviceType t);
// Index chosen by "auto" rules among Vulkan devices: discrete > integrated > virtual >
// CPU. Returns -1 when there is none.
int vkd_vk_pick_device(const vkd_vk_instance_t *inst);
// Resolve a --device spec ("vulkan", "vulkan:N", name substring) to an index or fail.
vkd_status_t vkd_vk_resolve_device(const vkd_vk_instance_t *inst, const char *spec, int *index);

// ---- kernels ----------------------------------------------------------------------------
// What the SPIR-V itself declares, read from the module (so the C side's push-constant
// struct and binding count are checked against the shader, not against a copy).
typedef struct {
    int n_bindings;     // storage buffers at set 0, bindings 0..n-1
    uint32_t push_size; // bytes of the push-constant block (0: none)
    uint32_t local[3];  // local workgroup size
} vkd_spirv_info_t;

vkd_status_t vkd_spirv_reflect(const uint32_t *words, size_t n_words, vkd_spirv_info_t *out);

typedef struct {
    int ready;
    vkd_spirv_info_t info;
    VkShaderModule module;
    VkDescriptorSetLayout dsl;
    VkPipelineLayout layout;
    VkPipeline pipeline;
} vkd_vk_kernel_t;

// ---- the Vulkan backend state (context + one recording sequence) ----------------------
#define VKD_VK_MAX_BINDINGS 8
#define VKD_VK_SETS_PER_POOL 1024
#define VKD_VK_MAX_TIMESTAMPS 256

struct vkd_vk {
    vkd_vk_instance_t *inst;
    int device_index;
    vkd_vk_device_info_t *dev_info;
    VkDevice device;
    VkQueue queue;
    uint32_t queue_family;
    int host_visible_device_memory; // device-local memory that is also host-visible (UMA)
    VkCommandPool cmd_pool;
    VkCommandBuffer cmd;
    VkFence fence;
    VkDescriptorPool desc_pool;
    uint32_t sets_used;
    int recording;  // cmd is in the recording state
    uint32_t n_dispatches; // in the current recording
    VkQueryPool query_pool;
    uint32_t n_queries;
    vkd_arena_t *dummy; // bound where an op's optional buffer is absent
    vkd_arena_t *staging; // host-visible, grown on demand for uploads/downloads
    vkd_vk_kernel_t kernels[VKD_SH_COUNT];
};

vkd_status_t vkd_vk_backend_init(vkd_backend_t *be, vkd_vk_instance_t *inst, int index);
void vkd_vk_backend_release(vkd_backend_t *be);
vkd_status_t vkd_vk_sync(vkd_backend_t *be);
// Start recording if not already (dispatch does this itself).
vkd_status_t vkd_vk_begin(vkd_backend_t *be);

// Record one dispatch of kernel `sh` with `nbufs` buffers at bindings 0..nbufs-1 and the
// push constants `pc` (pc_size bytes). Fails if nbufs or pc_size differ from what the
// shader declares, or a buffer is not of this backend. An absent buffer (VKD_BUF_NONE)
// binds a small dummy. A compute->compute barrier follows every dispatch.
vkd_status_t vkd_vk_dispatch(vkd_backend_t *be, vkd_shader_id_t sh, const vkd_buf_t *bufs,
                             int nbufs, const void *pc, size_t pc_size, uint32_t gx,
                             uint32_t gy, uint32_t gz);
// Workgroups needed to cover n invocations along axis (0..2) for kernel sh.
vkd_status_t vkd_vk_groups(vkd_backend_t *be, vkd_shader_id_t sh, int axis, uint64_t n,
                           uint32_t *groups);
// 1-D helper for grid-stride shaders: at most 65535 groups along x; the shader loops
// `for (i = gl_GlobalInvocationID.x; i < n; i += gl_NumWorkGroups.x * local_x)`.
vkd_status_t vkd_vk_dispatch_1d(vkd_backend_t *be, vkd_shader_id_t sh, const vkd_buf_t *bufs,
                                int nbufs, const void *pc, size_t pc_size, uint64_t n);

// Loop iterations one shader invocation may run in total before the driver silently ends
// all its loops: Mesa's llvmpipe (lavapipe) counts every loop entry's trip count + 1 per
// invocation and stops at 65535 (LP_MAX_TGSI_LOOP_ITERATIONS) without any error. Kernels
// whose invocations can loop longer must split the work or refuse the shape. Returns a
// margin-reduced budget there, 0 (= unlimited) on other drivers.
// The rule in detail (gallivm's lp_exec_endloop, confirmed on Mesa 22.3): one counter per
// SIMD vector of invocations (8 consecutive ones at 256 bits), set to 65535 when the
// shader starts and decremented at the end of every pass through any loop body, the
// final pass that only tests the exit condition included; a loop runs while any lane of
// the vector is active, so the vector's longest trip count is what counts. Once the
// counter reaches 0 the current loop exits and every later loop runs one pass at most.
// Loops the compiler fully unrolls (small bodies, constant bounds: the 8x8 micro-tile
// loops of the GEMMs) cost nothing; do not count on it otherwise: gemm.comp's 8-step
// BK loop (a large body) and the `s >>= 1` shared-memory trees of wg_reduce.glsl count.
// Measured with the budget off: a one-output reduce was exact up to 65524 trips of its
// main loop (plus ~11 passes elsewhere), gemm_direct.comp up to K = 262130 (65532 + 2
// trips), bias_grad.comp up to 65535 trips, gemm.comp up to K = 18721 (28 passes per
// 8-wide K slice); one more and the results were wrong.
uint32_t vkd_vk_loop_budget(const vkd_backend_t *be);
// 1 on a CPU Vulkan driver (lavapipe): workgroups are costly to start and shared memory is
// emulated, so kernels pick small grids and no shared-memory staging there.
int vkd_vk_is_cpu_device(const vkd_backend_t *be);

// Timestamps inside the current recording (GPU time between two marks, in ms after sync).
vkd_status_t vkd_vk_timestamp(vkd_backend_t *be, uint32_t *query_index);
vkd_status_t vkd_vk_elapsed_ms(vkd_backend_t *be, uint32_t q0, uint32_t q1, double *ms);

// Arena memory for the Vulkan backend (called by backend.c).
vkd_status_t vkd_vk_arena_alloc(vkd_backend_t *be, vkd_arena_t *a, int host_visible);
void vkd_vk_arena_free(vkd_arena_t *a);
vkd_status_t vkd_vk_buf_write(vkd_buf_t dst, const void *src, size_t bytes);
vkd_status_t vkd_vk_buf_read(vkd_buf_t src, void *dst, size_t bytes);

#endif
