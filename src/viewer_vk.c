// The viewer's presentation side: instance with the window-system extensions GLFW asks for,
// a surface, a device with one queue that can both copy and present, a swapchain whose
// images are transfer destinations, and one upload buffer the frame is copied from.
//
// Why not the compute context of vk_*.c: that instance enables no surface extensions and
// its device has no swapchain extension, and the frames here are host images anyway, so
// the presenter does not need to share a device with a renderer. The loader comes through
// GLFW (glfwGetInstanceProcAddress), the one GLFW also uses to create the surface.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <vulkan/vulkan.h>
#define GLFW_INCLUDE_NONE
#define GLFW_INCLUDE_VULKAN
#include <GLFW/glfw3.h>

#include "viewer.h"

#define PV_INSTANCE_FUNCS(X)                                                             \
    X(vkDestroyInstance)                                                                 \
    X(vkEnumeratePhysicalDevices)                                                        \
    X(vkGetPhysicalDeviceProperties)                                                     \
    X(vkGetPhysicalDeviceQueueFamilyProperties)                                          \
    X(vkGetPhysicalDeviceMemoryProperties)                                               \
    X(vkGetPhysicalDeviceSurfaceSupportKHR)                                              \
    X(vkGetPhysicalDeviceSurfaceCapabilitiesKHR)                                         \
    X(vkGetPhysicalDeviceSurfaceFormatsKHR)                                              \
    X(vkDestroySurfaceKHR)                                                               \
    X(vkCreateDevice)                                                                    \
    X(vkDestroyDevice)                                                                   \
    X(vkGetDeviceQueue)                                                                  \
    X(vkDeviceWaitIdle)                                                                  \
    X(vkCreateSwapchainKHR)                                                              \
    X(vkDestroySwapchainKHR)                                                             \
    X(vkGetSwapchainImagesKHR)                                                           \
    X(vkAcquireNextImageKHR)                                                             \
    X(vkQueuePresentKHR)                                                                 \
    X(vkQueueSubmit)                                                                     \
    X(vkCreateBuffer)                                                                    \
    X(vkDestroyBuffer)                                                                   \
    X(vkGetBufferMemoryRequirements)                                                     \
    X(vkAllocateMemory)                                                                  \
    X(vkFreeMemory)                                                                      \
    X(vkBindBufferMemory)                                                                \
    X(vkMapMemory)                                                                       \
    X(vkUnmapMemory)                                                                     \
    X(vkCreateCommandPool)                                                               \
    X(vkDestroyCommandPool)                                                              \
    X(vkAllocateCommandBuffers)                                                          \
    X(vkResetCommandBuffer)                                                              \
    X(vkBeginCommandBuffer)                                                              \
    X(vkEndCommandBuffer)                                                                \
    X(vkCmdPipelineBarrier)                                                              \
    X(vkCmdCopyBufferToImage)                                                            \
    X(vkCmdCopyImageToBuffer)                                                            \
    X(vkCreateFence)                                                                     \
    X(vkDestroyFence)                                                                    \
    X(vkWaitForFences)                                                                   \
    X(vkResetFences)                                                                     \
    X(vkCreateSemaphore)                                                                 \
    X(vkDestroySemaphore)                                                                \
    X(vkCreateDebugUtilsMessengerEXT)                                                    \
    X(vkDestroyDebugUtilsMessengerEXT)

#define PV_MAX_IMAGES 8

struct vkd_present {
    GLFWwindow *win;
    PFN_vkGetInstanceProcAddr gipa;
#define PV_DECL(f) PFN_##f f;
    PV_INSTANCE_FUNCS(PV_DECL)
#undef PV_DECL
    VkInstance instance;
    VkDebugUtilsMessengerEXT messenger;
    int messages;
    VkSurfaceKHR surface;
    VkPhysicalDevice pd;
    VkPhysicalDeviceMemoryProperties mem;
    char device_name[VK_MAX_PHYSICAL_DEVICE_NAME_SIZE];
    VkDevice device;
    uint32_t family;
    VkQueue queue;
    VkCommandPool pool;
    VkCommandBuffer cmd;
    VkFence fence;
    VkSemaphore acquired;
    // Swapchain and what is sized by it.
    VkSwapchainKHR swapchain;
    VkFormat format;
    VkExtent2D extent;
    int readable; // images can be copied from (TRANSFER_SRC)
    uint32_t n_images;
    VkImage images[PV_MAX_IMAGES];
    VkSemaphore done[PV_MAX_IMAGES]; // per image: a present may still hold the previous one
    VkBuffer upload, download;
    VkDeviceMemory upload_mem, download_mem;
    void *upload_map, *download_map;
    uint32_t image_index;
    int in_frame;
    int stale; // recreate the swapchain before the next frame
};

static VKAPI_ATTR VkBool32 VKAPI_CALL on_message(VkDebugUtilsMessageSeverityFlagBitsEXT sev,
                                                 VkDebugUtilsMessageTypeFlagsEXT type,
                                                 const VkDebugUtilsMessengerCallbackDataEXT *d,
                                                 void *user) {
    (void)type;
    vkd_present_t *p = user;
    if (sev >= VK_DEBUG_UTILS_MESSAGE_SEVERITY_WARNING_BIT_EXT) {
        p->messages++;
        fprintf(stderr, "vkdream: Vulkan validation: %s\n", d->pMessage);
    }
    return VK_FALSE;
}

static vkd_status_t vk_fail(VkResult r, const char *what) {
    return vkd_fail(VKD_ERR_VULKAN, "viewer: %s failed (VkResult %d)", what, (int)r);
}

static vkd_status_t create_instance(vkd_present_t *p, int validation) {
    uint32_t n_glfw = 0;
    const char **glfw_exts = glfwGetRequiredInstanceExtensions(&n_glfw);
    if (!glfw_exts)
        return vkd_fail(VKD_ERR_NODEVICE,
                        "viewer: the Vulkan loader offers no way to present to this window "
                        "system (missing VK_KHR_surface or the platform's surface extension)");
    const char *exts[16];
    uint32_t n = 0;
    for (uint32_t i = 0; i < n_glfw && n < 15; i++) exts[n++] = glfw_exts[i];
    const char *layer = "VK_LAYER_KHRONOS_validation";
    if (validation) exts[n++] = VK_EXT_DEBUG_UTILS_EXTENSION_NAME;
    VkApplicationInfo app = {.sType = VK_STRUCTURE_TYPE_APPLICATION_INFO,
                             .pApplicationName = "vkdream view",
                             .apiVersion = VK_API_VERSION_1_1};
    VkInstanceCreateInfo ci = {.sType = VK_STRUCTURE_TYPE_INSTANCE_CREATE_INFO,
                               .pApplicationInfo = &app,
                               .enabledLayerCount = validation ? 1 : 0,
                               .ppEnabledLayerNames = &layer,
                               .enabledExtensionCount = n,
                               .ppEnabledExtensionNames = exts};
    PFN_vkCreateInstance create = (PFN_vkCreateInstance)p->gipa(NULL, "vkCreateInstance");
    if (!create) return vkd_fail(VKD_ERR_NODEVICE, "viewer: the Vulkan loader has no vkCreateInstance");
    VkResult r = create(&ci, NULL, &p->instance);
    if (r == VK_ERROR_LAYER_NOT_PRESENT)
        return vkd_fail(VKD_ERR_NODEVICE, "viewer: validation was requested but "
                                          "VK_LAYER_KHRONOS_validation is not installed "
                                          "(Debian: vulkan-validationlayers)");
    if (r != VK_SUCCESS) return vk_fail(r, "vkCreateInstance (with the surface extensions)");
#define PV_LOAD(f) p->f = (PFN_##f)p->gipa(p->instance, #f);
    PV_INSTANCE_FUNCS(PV_LOAD)
#undef PV_LOAD
    if (validation && p->vkCreateDebugUtilsMessengerEXT) {
        VkDebugUtilsMessengerCreateInfoEXT mi = {
            .sType = VK_STRUCTURE_TYPE_DEBUG_UTILS_MESSENGER_CREATE_INFO_EXT,
            .messageSeverity = VK_DEBUG_UTILS_MESSAGE_SEVERITY_WARNING_BIT_EXT |
                               VK_DEBUG_UTILS_MESSAGE_SEVERITY_ERROR_BIT_EXT,
            .messageType = VK_DEBUG_UTILS_MESSAGE_TYPE_GENERAL_BIT_EXT |
                           VK_DEBUG_UTILS_MESSAGE_TYPE_VALIDATION_BIT_EXT |
                           VK_DEBUG_UTILS_MESSAGE_TYPE_PERFORMANCE_BIT_EXT,
            .pfnUserCallback = on_message,
            .pUserData = p};
        r = p->vkCreateDebugUtilsMessengerEXT(p->instance, &mi, NULL, &p->messenger);
        if (r != VK_SUCCESS) return vk_fail(r, "vkCreateDebugUtilsMessengerEXT");
    }
    return VKD_OK;
}

// A device with a queue family that copies (graphics and compute imply transfer) and can
// present to the surface; a GPU is preferred to a CPU driver, though either will do.
static vkd_status_t pick_device(vkd_present_t *p) {
    VkPhysicalDevice pds[16];
    uint32_t n = 16;
    VkResult r = p->vkEnumeratePhysicalDevices(p->instance, &n, pds);
    if (r != VK_SUCCESS && r != VK_INCOMPLETE) return vk_fail(r, "vkEnumeratePhysicalDevices");
    int best_rank = -1;
    for (uint32_t i = 0; i < n; i++) {
        VkPhysicalDeviceProperties props;
        p->vkGetPhysicalDeviceProperties(pds[i], &props);
        VkQueueFamilyProperties fams[16];
        uint32_t nf = 16;
        p->vkGetPhysicalDeviceQueueFamilyProperties(pds[i], &nf, fams);
        for (uint32_t f = 0; f < nf; f++) {
            const VkQueueFlags copy = VK_QUEUE_GRAPHICS_BIT | VK_QUEUE_COMPUTE_BIT |
                                      VK_QUEUE_TRANSFER_BIT;
            VkBool32 present = VK_FALSE;
            if (!(fams[f].queueFlags & copy)) continue;
            if (p->vkGetPhysicalDeviceSurfaceSupportKHR(pds[i], f, p->surface, &present) !=
                    VK_SUCCESS ||
                !present)
                continue;
            const int rank = props.deviceType == VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU     ? 3
                             : props.deviceType == VK_PHYSICAL_DEVICE_TYPE_INTEGRATED_GPU ? 2
                             : props.deviceType == VK_PHYSICAL_DEVICE_TYPE_CPU            ? 0
                                                                                          : 1;
            if (rank > best_rank) {
                best_rank = rank;
                p->pd = pds[i];
                p->family = f;
                snprintf(p->device_name, sizeof p->device_name, "%s", props.deviceName);
            }
            break;
        }
    }
    if (best_rank < 0)
        return vkd_fail(VKD_ERR_NODEVICE,
                        "viewer: none of the %u Vulkan device(s) can present to this window "
                        "(Debian: mesa-vulkan-drivers gives lavapipe, which can); "
                        "`vkdream render` writes images without a window",
                        n);
    p->vkGetPhysicalDeviceMemoryProperties(p->pd, &p->mem);
    return VKD_OK;
}

static vkd_status_t create_device(vkd_present_t *p) {
    const float prio = 1.0f;
    VkDeviceQueueCreateInfo qi = {.sType = VK_STRUCTURE_TYPE_DEVICE_QUEUE_CREATE_INFO,
                                  .queueFamilyIndex = p->family,
                                  .queueCount = 1,
                                  .pQueuePriorities = &prio};
    const char *ext = VK_KHR_SWAPCHAIN_EXTENSION_NAME;
    VkDeviceCreateInfo ci = {.sType = VK_STRUCTURE_TYPE_DEVICE_CREATE_INFO,
                             .queueCreateInfoCount = 1,
                             .pQueueCreateInfos = &qi,
                             .enabledExtensionCount = 1,
                             .ppEnabledExtensionNames = &ext};
    VkResult r = p->vkCreateDevice(p->pd, &ci, NULL, &p->device);
    if (r != VK_SUCCESS) return vk_fail(r, "vkCreateDevice (with VK_KHR_swapchain)");
    p->vkGetDeviceQueue(p->device, p->family, 0, &p->queue);
    VkCommandPoolCreateInfo pi = {.sType = VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO,
                                  .flags = VK_COMMAND_POOL_CREATE_RESET_COMMAND_BUFFER_BIT,
                                  .queueFamilyIndex = p->family};
    if ((r = p->vkCreateCommandPool(p->device, &pi, NULL, &p->pool)) != VK_SUCCESS)
        return vk_fail(r, "vkCreateCommandPool");
    VkCommandBufferAllocateInfo ai = {.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO,
                                      .commandPool = p->pool,
                                      .level = VK_COMMAND_BUFFER_LEVEL_PRIMARY,
                                      .commandBufferCount = 1};
    if ((r = p->vkAllocateCommandBuffers(p->device, &ai, &p->cmd)) != VK_SUCCESS)
        return vk_fail(r, "vkAllocateCommandBuffers");
    VkFenceCreateInfo fi = {.sType = VK_STRUCTURE_TYPE_FENCE_CREATE_INFO};
    if ((r = p->vkCreateFence(p->device, &fi, NULL, &p->fence)) != VK_SUCCESS)
        return vk_fail(r, "vkCreateFence");
    VkSemaphoreCreateInfo si = {.sType = VK_STRUCTURE_TYPE_SEMAPHORE_CREATE_INFO};
    if ((r = p->vkCreateSemaphore(p->device, &si, NULL, &p->acquired)) != VK_SUCCESS)
        return vk_fail(r, "vkCreateSemaphore");
    return VKD_OK;
}

static vkd_status_t host_buffer(vkd_present_t *p, VkDeviceSize size, VkBufferUsageFlags usage,
                                VkBuffer *buf, VkDeviceMemory *mem, void **map) {
    VkBufferCreateInfo bi = {.sType = VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO,
                             .size = size,
                             .usage = usage,
                             .sharingMode = VK_SHARING_MODE_EXCLUSIVE};
    VkResult r = p->vkCreateBuffer(p->device, &bi, NULL, buf);
    if (r != VK_SUCCESS) return vk_fail(r, "vkCreateBuffer (frame upload)");
    VkMemoryRequirements req;
    p->vkGetBufferMemoryRequirements(p->device, *buf, &req);
    const VkMemoryPropertyFlags want =
        VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT | VK_MEMORY_PROPERTY_HOST_COHERENT_BIT;
    uint32_t type = UINT32_MAX;
    for (uint32_t i = 0; i < p->mem.memoryTypeCount && type == UINT32_MAX; i++)
        if ((req.memoryTypeBits & (1u << i)) &&
            (p->mem.memoryTypes[i].propertyFlags & want) == want)
            type = i;
    if (type == UINT32_MAX)
        return vkd_fail(VKD_ERR_NODEVICE, "viewer: %s has no host-visible coherent memory",
                        p->device_name);
    VkMemoryAllocateInfo mi = {.sType = VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO,
                               .allocationSize = req.size,
                               .memoryTypeIndex = type};
    if ((r = p->vkAllocateMemory(p->device, &mi, NULL, mem)) != VK_SUCCESS)
        return vk_fail(r, "vkAllocateMemory (frame upload)");
    if ((r = p->vkBindBufferMemory(p->device, *buf, *mem, 0)) != VK_SUCCESS)
        return vk_fail(r, "vkBindBufferMemory");
    if ((r = p->vkMapMemory(p->device, *mem, 0, VK_WHOLE_SIZE, 0, map)) != VK_SUCCESS)
        return vk_fail(r, "vkMapMemory");
    return VKD_OK;
}

static void destroy_swapchain(vkd_present_t *p) {
    if (!p->device) return;
    p->vkDeviceWaitIdle(p->device);
    for (uint32_t i = 0; i < PV_MAX_IMAGES; i++) {
        if (p->done[i]) p->vkDestroySemaphore(p->device, p->done[i], NULL);
        p->done[i] = VK_NULL_HANDLE;
    }
    if (p->upload) p->vkDestroyBuffer(p->device, p->upload, NULL);
    if (p->upload_mem) p->vkFreeMemory(p->device, p->upload_mem, NULL);
    if (p->download) p->vkDestroyBuffer(p->device, p->download, NULL);
    if (p->download_mem) p->vkFreeMemory(p->device, p->download_mem, NULL);
    p->upload = p->download = VK_NULL_HANDLE;
    p->upload_mem = p->download_mem = VK_NULL_HANDLE;
    if (p->swapchain) p->vkDestroySwapchainKHR(p->device, p->swapchain, NULL);
    p->swapchain = VK_NULL_HANDLE;
    p->n_images = 0;
}

// (Re)create the swapchain for the window's current size. A 0 x 0 window (minimised) gets
// none: p->extent is 0 x 0 and frames are skipped until it has a size again.
static vkd_status_t create_swapchain(vkd_present_t *p) {
    destroy_swapchain(p);
    p->stale = 0;
    p->extent.width = p->extent.height = 0;
    VkSurfaceCapabilitiesKHR caps;
    VkResult r = p->vkGetPhysicalDeviceSurfaceCapabilitiesKHR(p->pd, p->surface, &caps);
    if (r != VK_SUCCESS) return vk_fail(r, "vkGetPhysicalDeviceSurfaceCapabilitiesKHR");
    VkExtent2D ext = caps.currentExtent;
    if (ext.width == UINT32_MAX) {
        int fw = 0, fh = 0;
        glfwGetFramebufferSize(p->win, &fw, &fh);
        ext.width = (uint32_t)(fw < 0 ? 0 : fw), ext.height = (uint32_t)(fh < 0 ? 0 : fh);
        if (ext.width < caps.minImageExtent.width) ext.width = caps.minImageExtent.width;
        if (ext.height < caps.minImageExtent.height) ext.height = caps.minImageExtent.height;
        if (ext.width > caps.maxImageExtent.width) ext.width = caps.maxImageExtent.width;
        if (ext.height > caps.maxImageExtent.height) ext.height = caps.maxImageExtent.height;
    }
    if (ext.width == 0 || ext.height == 0) return VKD_OK;
    if (!(caps.supportedUsageFlags & VK_IMAGE_USAGE_TRANSFER_DST_BIT))
        return vkd_fail(VKD_ERR_UNSUPPORTED,
                        "viewer: %s cannot copy into swapchain images (no TRANSFER_DST usage)",
                        p->device_name);
    p->readable = (caps.supportedUsageFlags & VK_IMAGE_USAGE_TRANSFER_SRC_BIT) != 0;

    VkSurfaceFormatKHR fmts[64];
    uint32_t nf = 64;
    r = p->vkGetPhysicalDeviceSurfaceFormatsKHR(p->pd, p->surface, &nf, fmts);
    if (r != VK_SUCCESS && r != VK_INCOMPLETE) return vk_fail(r, "vkGetPhysicalDeviceSurfaceFormatsKHR");
    // The bytes are copied, never converted, so any 8-bit RGBA/BGRA format shows them as
    // they are: UNORM and SRGB alike (the pixels are already sRGB-encoded).
    const VkFormat ok[] = {VK_FORMAT_B8G8R8A8_UNORM, VK_FORMAT_R8G8B8A8_UNORM,
                           VK_FORMAT_B8G8R8A8_SRGB, VK_FORMAT_R8G8B8A8_SRGB};
    int chosen = -1;
    for (int k = 0; k < 4 && chosen < 0; k++)
        for (uint32_t i = 0; i < nf; i++)
            if (fmts[i].format == ok[k]) {
                chosen = (int)i;
                break;
            }
    if (chosen < 0)
        return vkd_fail(VKD_ERR_UNSUPPORTED,
                        "viewer: the window offers no 8-bit RGBA/BGRA swapchain format");
    p->format = fmts[chosen].format;

    uint32_t count = caps.minImageCount + 1;
    if (caps.maxImageCount && count > caps.maxImageCount) count = caps.maxImageCount;
    if (count > PV_MAX_IMAGES) count = PV_MAX_IMAGES;
    VkCompositeAlphaFlagBitsKHR alpha = VK_COMPOSITE_ALPHA_OPAQUE_BIT_KHR;
    if (!(caps.supportedCompositeAlpha & alpha)) {
        for (uint32_t b = 1; b; b <<= 1)
            if (caps.supportedCompositeAlpha & b) {
                alpha = (VkCompositeAlphaFlagBitsKHR)b;
                break;
            }
    }
    VkSwapchainCreateInfoKHR ci = {
        .sType = VK_STRUCTURE_TYPE_SWAPCHAIN_CREATE_INFO_KHR,
        .surface = p->surface,
        .minImageCount = count,
        .imageFormat = p->format,
        .imageColorSpace = fmts[chosen].colorSpace,
        .imageExtent = ext,
        .imageArrayLayers = 1,
        .imageUsage = VK_IMAGE_USAGE_TRANSFER_DST_BIT |
                      (p->readable ? VK_IMAGE_USAGE_TRANSFER_SRC_BIT : 0),
        .imageSharingMode = VK_SHARING_MODE_EXCLUSIVE,
        .preTransform = caps.currentTransform,
        .compositeAlpha = alpha,
        .presentMode = VK_PRESENT_MODE_FIFO_KHR, // the one mode every driver has
        .clipped = VK_TRUE};
    if ((r = p->vkCreateSwapchainKHR(p->device, &ci, NULL, &p->swapchain)) != VK_SUCCESS)
        return vk_fail(r, "vkCreateSwapchainKHR");
    p->n_images = PV_MAX_IMAGES;
    r = p->vkGetSwapchainImagesKHR(p->device, p->swapchain, &p->n_images, p->images);
    if (r != VK_SUCCESS && r != VK_INCOMPLETE) return vk_fail(r, "vkGetSwapchainImagesKHR");
    VkSemaphoreCreateInfo si = {.sType = VK_STRUCTURE_TYPE_SEMAPHORE_CREATE_INFO};
    for (uint32_t i = 0; i < p->n_images; i++)
        if ((r = p->vkCreateSemaphore(p->device, &si, NULL, &p->done[i])) != VK_SUCCESS)
            return vk_fail(r, "vkCreateSemaphore");
    const VkDeviceSize bytes = (VkDeviceSize)ext.width * ext.height * 4;
    VKD_TRY(host_buffer(p, bytes, VK_BUFFER_USAGE_TRANSFER_SRC_BIT, &p->upload, &p->upload_mem,
                        &p->upload_map));
    if (p->readable)
        VKD_TRY(host_buffer(p, bytes, VK_BUFFER_USAGE_TRANSFER_DST_BIT, &p->download,
                            &p->download_mem, &p->download_map));
    p->extent = ext;
    return VKD_OK;
}

vkd_status_t vkd_present_create(struct GLFWwindow *win, int validation, vkd_present_t **out) {
    *out = NULL;
    if (!glfwVulkanSupported())
        return vkd_fail(VKD_ERR_NODEVICE,
                        "viewer: no Vulkan loader with window-system support was found "
                        "(Debian: libvulkan1 and mesa-vulkan-drivers); `vkdream render` "
                        "writes images without a window");
    vkd_present_t *p = calloc(1, sizeof *p);
    if (!p) return vkd_fail(VKD_ERR_NOMEM, "viewer: out of memory");
    p->win = win;
    p->gipa = (PFN_vkGetInstanceProcAddr)glfwGetInstanceProcAddress(NULL, "vkGetInstanceProcAddr");
    vkd_status_t s = p->gipa ? VKD_OK
                             : vkd_fail(VKD_ERR_NODEVICE, "viewer: the Vulkan loader has no "
                                                          "vkGetInstanceProcAddr");
    if (!s) s = create_instance(p, validation);
    if (!s) {
        VkResult r = glfwCreateWindowSurface(p->instance, win, NULL, &p->surface);
        if (r != VK_SUCCESS) s = vk_fail(r, "glfwCreateWindowSurface");
    }
    if (!s) s = pick_device(p);
    if (!s) s = create_device(p);
    if (!s) s = create_swapchain(p);
    if (s) {
        vkd_present_destroy(p);
        return s;
    }
    *out = p;
    return VKD_OK;
}

void vkd_present_destroy(vkd_present_t *p) {
    if (!p) return;
    if (p->device) {
        destroy_swapchain(p);
        if (p->acquired) p->vkDestroySemaphore(p->device, p->acquired, NULL);
        if (p->fence) p->vkDestroyFence(p->device, p->fence, NULL);
        if (p->pool) p->vkDestroyCommandPool(p->device, p->pool, NULL);
        p->vkDestroyDevice(p->device, NULL);
    }
    if (p->instance) {
        if (p->surface) p->vkDestroySurfaceKHR(p->instance, p->surface, NULL);
        if (p->messenger) p->vkDestroyDebugUtilsMessengerEXT(p->instance, p->messenger, NULL);
        p->vkDestroyInstance(p->instance, NULL);
    }
    free(p);
}

vkd_status_t vkd_present_begin(vkd_present_t *p, uint8_t **pixels, int *w, int *h,
                               size_t *stride, int *bgr) {
    *pixels = NULL;
    *w = *h = 0;
    *stride = 0;
    *bgr = 0;
    if (p->in_frame) return vkd_fail(VKD_ERR_INVALID, "viewer: frame begun twice");
    int fw = 0, fh = 0;
    glfwGetFramebufferSize(p->win, &fw, &fh);
    // Minimised: X11 keeps the window's size, but there is nothing to present to.
    if (fw <= 0 || fh <= 0 || glfwGetWindowAttrib(p->win, GLFW_ICONIFIED)) return VKD_OK;
    if (p->stale || !p->swapchain || p->extent.width != (uint32_t)fw ||
        p->extent.height != (uint32_t)fh)
        VKD_TRY(create_swapchain(p));
    if (!p->swapchain) return VKD_OK;
    VkResult r = p->vkAcquireNextImageKHR(p->device, p->swapchain, UINT64_MAX, p->acquired,
                                          VK_NULL_HANDLE, &p->image_index);
    if (r == VK_ERROR_OUT_OF_DATE_KHR) {
        p->stale = 1; // the acquire signalled nothing; try again next frame
        return VKD_OK;
    }
    if (r == VK_SUBOPTIMAL_KHR) p->stale = 1; // still presentable: use it, then recreate
    else if (r != VK_SUCCESS) return vk_fail(r, "vkAcquireNextImageKHR");
    p->in_frame = 1;
    *pixels = p->upload_map;
    *w = (int)p->extent.width, *h = (int)p->extent.height;
    *stride = (size_t)p->extent.width * 4;
    *bgr = p->format == VK_FORMAT_B8G8R8A8_UNORM || p->format == VK_FORMAT_B8G8R8A8_SRGB;
    return VKD_OK;
}

static void barrier(vkd_present_t *p, VkImage img, VkImageLayout from, VkImageLayout to,
                    VkAccessFlags src_access, VkAccessFlags dst_access) {
    VkImageMemoryBarrier b = {.sType = VK_STRUCTURE_TYPE_IMAGE_MEMORY_BARRIER,
                              .srcAccessMask = src_access,
                              .dstAccessMask = dst_access,
                              .oldLayout = from,
                              .newLayout = to,
                              .srcQueueFamilyIndex = VK_QUEUE_FAMILY_IGNORED,
                              .dstQueueFamilyIndex = VK_QUEUE_FAMILY_IGNORED,
                              .image = img,
                              .subresourceRange = {VK_IMAGE_ASPECT_COLOR_BIT, 0, 1, 0, 1}};
    p->vkCmdPipelineBarrier(p->cmd, VK_PIPELINE_STAGE_TRANSFER_BIT,
                            VK_PIPELINE_STAGE_TRANSFER_BIT | VK_PIPELINE_STAGE_HOST_BIT, 0, 0,
                            NULL, 0, NULL, 1, &b);
}

vkd_status_t vkd_present_end(vkd_present_t *p, uint8_t *readback) {
    if (!p->in_frame) return vkd_fail(VKD_ERR_INVALID, "viewer: frame ended without begin");
    p->in_frame = 0;
    if (readback && !p->readable)
        return vkd_fail(VKD_ERR_UNSUPPORTED,
                        "viewer: %s cannot read swapchain images back (no TRANSFER_SRC "
                        "usage), so no screenshot",
                        p->device_name);
    VkImage img = p->images[p->image_index];
    VkResult r = p->vkResetCommandBuffer(p->cmd, 0);
    if (r != VK_SUCCESS) return vk_fail(r, "vkResetCommandBuffer");
    VkCommandBufferBeginInfo bi = {.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO,
                                   .flags = VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT};
    if ((r = p->vkBeginCommandBuffer(p->cmd, &bi)) != VK_SUCCESS)
        return vk_fail(r, "vkBeginCommandBuffer");
    // The previous contents are of no interest: UNDEFINED lets the driver drop them.
    barrier(p, img, VK_IMAGE_LAYOUT_UNDEFINED, VK_IMAGE_LAYOUT_TRANSFER_DST_OPTIMAL, 0,
            VK_ACCESS_TRANSFER_WRITE_BIT);
    VkBufferImageCopy region = {.imageSubresource = {VK_IMAGE_ASPECT_COLOR_BIT, 0, 0, 1},
                                .imageExtent = {p->extent.width, p->extent.height, 1}};
    p->vkCmdCopyBufferToImage(p->cmd, p->upload, img, VK_IMAGE_LAYOUT_TRANSFER_DST_OPTIMAL, 1,
                              &region);
    VkImageLayout layout = VK_IMAGE_LAYOUT_TRANSFER_DST_OPTIMAL;
    if (readback) {
        barrier(p, img, layout, VK_IMAGE_LAYOUT_TRANSFER_SRC_OPTIMAL,
                VK_ACCESS_TRANSFER_WRITE_BIT, VK_ACCESS_TRANSFER_READ_BIT);
        layout = VK_IMAGE_LAYOUT_TRANSFER_SRC_OPTIMAL;
        p->vkCmdCopyImageToBuffer(p->cmd, img, layout, p->download, 1, &region);
        VkBufferMemoryBarrier hb = {.sType = VK_STRUCTURE_TYPE_BUFFER_MEMORY_BARRIER,
                                    .srcAccessMask = VK_ACCESS_TRANSFER_WRITE_BIT,
                                    .dstAccessMask = VK_ACCESS_HOST_READ_BIT,
                                    .srcQueueFamilyIndex = VK_QUEUE_FAMILY_IGNORED,
                                    .dstQueueFamilyIndex = VK_QUEUE_FAMILY_IGNORED,
                                    .buffer = p->download,
                                    .size = VK_WHOLE_SIZE};
        p->vkCmdPipelineBarrier(p->cmd, VK_PIPELINE_STAGE_TRANSFER_BIT,
                                VK_PIPELINE_STAGE_HOST_BIT, 0, 0, NULL, 1, &hb, 0, NULL);
    }
    // Presentation waits on the semaphore, so no access needs making visible here.
    barrier(p, img, layout, VK_IMAGE_LAYOUT_PRESENT_SRC_KHR,
            readback ? VK_ACCESS_TRANSFER_READ_BIT : VK_ACCESS_TRANSFER_WRITE_BIT, 0);
    if ((r = p->vkEndCommandBuffer(p->cmd)) != VK_SUCCESS) return vk_fail(r, "vkEndCommandBuffer");

    const VkPipelineStageFlags wait_stage = VK_PIPELINE_STAGE_TRANSFER_BIT;
    VkSubmitInfo si = {.sType = VK_STRUCTURE_TYPE_SUBMIT_INFO,
                       .waitSemaphoreCount = 1,
                       .pWaitSemaphores = &p->acquired,
                       .pWaitDstStageMask = &wait_stage,
                       .commandBufferCount = 1,
                       .pCommandBuffers = &p->cmd,
                       .signalSemaphoreCount = 1,
                       .pSignalSemaphores = &p->done[p->image_index]};
    if ((r = p->vkQueueSubmit(p->queue, 1, &si, p->fence)) != VK_SUCCESS)
        return vk_fail(r, "vkQueueSubmit");
    VkPresentInfoKHR pi = {.sType = VK_STRUCTURE_TYPE_PRESENT_INFO_KHR,
                           .waitSemaphoreCount = 1,
                           .pWaitSemaphores = &p->done[p->image_index],
                           .swapchainCount = 1,
                           .pSwapchains = &p->swapchain,
                           .pImageIndices = &p->image_index};
    VkResult pr = p->vkQueuePresentKHR(p->queue, &pi);
    // One frame in flight: the upload buffer and the acquire semaphore are reused next
    // frame, and the renderer is far slower than the copy anyway.
    r = p->vkWaitForFences(p->device, 1, &p->fence, VK_TRUE, UINT64_MAX);
    if (r != VK_SUCCESS) return vk_fail(r, "vkWaitForFences");
    p->vkResetFences(p->device, 1, &p->fence);
    if (pr == VK_ERROR_OUT_OF_DATE_KHR || pr == VK_SUBOPTIMAL_KHR) p->stale = 1;
    else if (pr != VK_SUCCESS) return vk_fail(pr, "vkQueuePresentKHR");
    if (readback)
        memcpy(readback, p->download_map, (size_t)p->extent.width * p->extent.height * 4);
    return VKD_OK;
}

int vkd_present_validation_messages(const vkd_present_t *p) { return p ? p->messages : 0; }

const char *vkd_present_device_name(const vkd_present_t *p) { return p->device_name; }
