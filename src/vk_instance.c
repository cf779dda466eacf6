// Vulkan loader (dlopen), instance, validation messenger and the physical-device list.
//
// libvulkan is opened at run time rather than linked, so that a machine without a Vulkan
// loader still runs vkdream on the CPU backend with a one-line notice.
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vk.h"

static VKAPI_ATTR VkBool32 VKAPI_CALL on_validation(
    VkDebugUtilsMessageSeverityFlagBitsEXT severity, VkDebugUtilsMessageTypeFlagsEXT type,
    const VkDebugUtilsMessengerCallbackDataEXT *data, void *user) {
    (void)type;
    vkd_vk_instance_t *inst = user;
    if (severity >= VK_DEBUG_UTILS_MESSAGE_SEVERITY_WARNING_BIT_EXT) {
        inst->validation_errors++;
        fprintf(stderr, "vkdream: Vulkan validation: %s\n", data->pMessage);
    }
    return VK_FALSE;
}

const char *vkd_vk_device_type_name(VkPhysicalDeviceType t) {
    switch (t) {
    case VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU: return "discrete GPU";
    case VK_PHYSICAL_DEVICE_TYPE_INTEGRATED_GPU: return "integrated GPU";
    case VK_PHYSICAL_DEVICE_TYPE_VIRTUAL_GPU: return "virtual GPU";
    case VK_PHYSICAL_DEVICE_TYPE_CPU: return "CPU";
    default: return "other";
    }
}

static int has_layer(vkd_vk_instance_t *inst, const char *name) {
    uint32_t n = 0;
    if (inst->fn.vkEnumerateInstanceLayerProperties(&n, NULL) != VK_SUCCESS || n == 0) return 0;
    VkLayerProperties *p = calloc(n, sizeof *p);
    if (!p) return 0;
    int found = 0;
    if (inst->fn.vkEnumerateInstanceLayerProperties(&n, p) == VK_SUCCESS)
        for (uint32_t i = 0; i < n; i++) found |= strcmp(p[i].layerName, name) == 0;
    free(p);
    return found;
}

static int has_instance_ext(vkd_vk_instance_t *inst, const char *name) {
    uint32_t n = 0;
    if (inst->fn.vkEnumerateInstanceExtensionProperties(NULL, &n, NULL) != VK_SUCCESS) return 0;
    VkExtensionProperties *p = calloc(n ? n : 1, sizeof *p);
    if (!p) return 0;
    int found = 0;
    if (inst->fn.vkEnumerateInstanceExtensionProperties(NULL, &n, p) == VK_SUCCESS)
        for (uint32_t i = 0; i < n; i++) found |= strcmp(p[i].extensionName, name) == 0;
    free(p);
    return found;
}

static vkd_status_t load_library(vkd_vk_instance_t *inst) {
    // VKDREAM_VULKAN_LIB names another loader (also how tests simulate a machine without one).
    const char *override = getenv("VKDREAM_VULKAN_LIB");
    const char *names[] = {"libvulkan.so.1", "libvulkan.so"};
    if (override && override[0]) inst->lib = dlopen(override, RTLD_NOW | RTLD_LOCAL);
    for (size_t i = 0; i < sizeof names / sizeof names[0] && !inst->lib && !(override && override[0]); i++)
        inst->lib = dlopen(names[i], RTLD_NOW | RTLD_LOCAL);
    if (!inst->lib)
        return vkd_fail(VKD_ERR_NODEVICE,
                        "no Vulkan loader (libvulkan.so.1) on this machine; install libvulkan1 "
                        "and a driver (mesa-vulkan-drivers) or use --device cpu");
    inst->fn.vkGetInstanceProcAddr =
        (PFN_vkGetInstanceProcAddr)dlsym(inst->lib, "vkGetInstanceProcAddr");
    if (!inst->fn.vkGetInstanceProcAddr)
        return vkd_fail(VKD_ERR_NODEVICE, "libvulkan has no vkGetInstanceProcAddr");
#define VKD_LOAD(f)                                                                        \
    inst->fn.f = (PFN_##f)inst->fn.vkGetInstanceProcAddr(NULL, #f);                      \
    if (!inst->fn.f) return vkd_fail(VKD_ERR_NODEVICE, "Vulkan loader lacks %s", #f);
    VKD_VK_GLOBAL_FUNCS(VKD_LOAD)
#undef VKD_LOAD
    return VKD_OK;
}

static void query_device(vkd_vk_instance_t *inst, VkPhysicalDevice pd, vkd_vk_device_info_t *d) {
    memset(d, 0, sizeof *d);
    d->handle = pd;
    d->driver.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_DRIVER_PROPERTIES;
    VkPhysicalDeviceProperties2 p2 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2,
                                      .pNext = &d->driver};
    inst->fn.vkGetPhysicalDeviceProperties2(pd, &p2);
    d->props = p2.properties;
    inst->fn.vkGetPhysicalDeviceMemoryProperties(pd, &d->mem);
    uint32_t nq = 0;
    inst->fn.vkGetPhysicalDeviceQueueFamilyProperties(pd, &nq, NULL);
    VkQueueFamilyProperties q[32];
    if (nq > 32) nq = 32;
    inst->fn.vkGetPhysicalDeviceQueueFamilyProperties(pd, &nq, q);
    d->compute_family = -1;
    // Prefer a compute queue family without graphics (async compute on discrete GPUs),
    // else any family with compute.
    for (uint32_t i = 0; i < nq; i++)
        if ((q[i].queueFlags & VK_QUEUE_COMPUTE_BIT) && !(q[i].queueFlags & VK_QUEUE_GRAPHICS_BIT)) {
            d->compute_family = (int)i;
            break;
        }
    if (d->compute_family < 0)
        for (uint32_t i = 0; i < nq; i++)
            if (q[i].queueFlags & VK_QUEUE_COMPUTE_BIT) {
                d->compute_family = (int)i;
                break;
            }
    d->has_timestamps = d->compute_family >= 0 &&
                        q[d->compute_family].timestampValidBits > 0 &&
                        d->props.limits.timestampPeriod > 0;
}

vkd_status_t vkd_vk_instance_create(int validation, vkd_vk_instance_t **out) {
    *out = NULL;
    vkd_vk_instance_t *inst = calloc(1, sizeof *inst);
    if (!inst) return vkd_fail(VKD_ERR_NOMEM, "out of host memory creating a Vulkan instance");
    vkd_status_t s = load_library(inst);
    if (s != VKD_OK) goto fail;

    const char *layers[1];
    uint32_t n_layers = 0;
    const char *exts[1];
    uint32_t n_exts = 0;
    if (validation) {
        if (!has_layer(inst, "VK_LAYER_KHRONOS_validation")) {
            s = vkd_fail(VKD_ERR_NODEVICE,
                         "validation was requested but VK_LAYER_KHRONOS_validation is not "
                         "installed (Debian: vulkan-validationlayers)");
            goto fail;
        }
        layers[n_layers++] = "VK_LAYER_KHRONOS_validation";
        if (has_instance_ext(inst, VK_EXT_DEBUG_UTILS_EXTENSION_NAME))
            exts[n_exts++] = VK_EXT_DEBUG_UTILS_EXTENSION_NAME;
        inst->validation = 1;
    }
    VkApplicationInfo app = {.sType = VK_STRUCTURE_TYPE_APPLICATION_INFO,
                             .pApplicationName = "vkdream",
                             .pEngineName = "vkdream",
                             .apiVersion = VK_API_VERSION_1_1};
    VkInstanceCreateInfo ci = {.sType = VK_STRUCTURE_TYPE_INSTANCE_CREATE_INFO,
                               .pApplicationInfo = &app,
                               .enabledLayerCount = n_layers,
                               .ppEnabledLayerNames = layers,
                               .enabledExtensionCount = n_exts,
                               .ppEnabledExtensionNames = exts};
    VkResult r = inst->fn.vkCreateInstance(&ci, NULL, &inst->instance);
    if (r != VK_SUCCESS) {
        s = vkd_fail(VKD_ERR_NODEVICE, "vkCreateInstance failed (VkResult %d): no usable Vulkan "
                                       "driver; use --device cpu", (int)r);
        goto fail;
    }
#define VKD_LOAD(f) inst->fn.f = (PFN_##f)inst->fn.vkGetInstanceProcAddr(inst->instance, #f);
    VKD_VK_INSTANCE_FUNCS(VKD_LOAD)
#undef VKD_LOAD
    if (!inst->fn.vkEnumeratePhysicalDevices || !inst->fn.vkCreateDevice ||
        !inst->fn.vkGetPhysicalDeviceProperties2) {
        s = vkd_fail(VKD_ERR_NODEVICE, "the Vulkan loader lacks Vulkan 1.1 entry points");
        goto fail;
    }
    if (n_exts && inst->fn.vkCreateDebugUtilsMessengerEXT) {
        VkDebugUtilsMessengerCreateInfoEXT mi = {
            .sType = VK_STRUCTURE_TYPE_DEBUG_UTILS_MESSENGER_CREATE_INFO_EXT,
            .messageSeverity = VK_DEBUG_UTILS_MESSAGE_SEVERITY_WARNING_BIT_EXT |
                               VK_DEBUG_UTILS_MESSAGE_SEVERITY_ERROR_BIT_EXT,
            .messageType = VK_DEBUG_UTILS_MESSAGE_TYPE_GENERAL_BIT_EXT |
                           VK_DEBUG_UTILS_MESSAGE_TYPE_VALIDATION_BIT_EXT |
                           VK_DEBUG_UTILS_MESSAGE_TYPE_PERFORMANCE_BIT_EXT,
            .pfnUserCallback = on_validation,
            .pUserData = inst};
        inst->fn.vkCreateDebugUtilsMessengerEXT(inst->instance, &mi, NULL, &inst->messenger);
    }
    uint32_t n = 0;
    inst->fn.vkEnumeratePhysicalDevices(inst->instance, &n, NULL);
    VkPhysicalDevice pds[VKD_VK_MAX_DEVICES];
    if (n > VKD_VK_MAX_DEVICES) n = VKD_VK_MAX_DEVICES;
    if (n) inst->fn.vkEnumeratePhysicalDevices(inst->instance, &n, pds);
    for (uint32_t i = 0; i < n; i++) query_device(inst, pds[i], &inst->devices[i]);
    inst->n_devices = (int)n;
    *out = inst;
    return VKD_OK;
fail:
    vkd_vk_instance_destroy(inst);
    return s;
}

void vkd_vk_instance_destroy(vkd_vk_instance_t *inst) {
    if (!inst) return;
    if (inst->instance) {
        if (inst->messenger && inst->fn.vkDestroyDebugUtilsMessengerEXT)
            inst->fn.vkDestroyDebugUtilsMessengerEXT(inst->instance, inst->messenger, NULL);
        inst->fn.vkDestroyInstance(inst->instance, NULL);
    }
    if (inst->lib) dlclose(inst->lib);
    free(inst);
}

static int type_rank(VkPhysicalDeviceType t) {
    switch (t) {
    case VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU: return 4;
    case VK_PHYSICAL_DEVICE_TYPE_INTEGRATED_GPU: return 3;
    case VK_PHYSICAL_DEVICE_TYPE_VIRTUAL_GPU: return 2;
    case VK_PHYSICAL_DEVICE_TYPE_CPU: return 1;
    default: return 0;
    }
}

int vkd_vk_pick_device(const vkd_vk_instance_t *inst) {
    int best = -1, best_rank = -1;
    for (int i = 0; i < inst->n_devices; i++) {
        if (inst->devices[i].compute_family < 0) continue;
        int r = type_rank(inst->devices[i].props.deviceType);
        if (r > best_rank) best = i, best_rank = r;
    }
    return best;
}

vkd_status_t vkd_vk_resolve_device(const vkd_vk_instance_t *inst, const char *spec, int *index) {
    if (inst->n_devices == 0)
        return vkd_fail(VKD_ERR_NODEVICE, "the Vulkan loader reports no devices; install a driver "
                                          "(e.g. mesa-vulkan-drivers) or use --device cpu");
    if (!spec || strcmp(spec, "vulkan") == 0) {
        *index = vkd_vk_pick_device(inst);
        if (*index < 0) return vkd_fail(VKD_ERR_NODEVICE, "no Vulkan device has a compute queue");
        return VKD_OK;
    }
    if (strncmp(spec, "vulkan:", 7) == 0) {
        char *end;
        long i = strtol(spec + 7, &end, 10);
        if (*end || end == spec + 7 || i < 0 || i >= inst->n_devices)
            return vkd_fail(VKD_ERR_INVALID, "no Vulkan device %s (there are %d; see vkdream info)",
                            spec + 7, inst->n_devices);
        if (inst->devices[i].compute_family < 0)
            return vkd_fail(VKD_ERR_NODEVICE, "Vulkan device %ld has no compute queue", i);
        *index = (int)i;
        return VKD_OK;
    }
    for (int i = 0; i < inst->n_devices; i++)
        if (strcasestr(inst->devices[i].props.deviceName, spec) &&
            inst->devices[i].compute_family >= 0) {
            *index = i;
            return VKD_OK;
        }
    return vkd_fail(VKD_ERR_INVALID,
                    "unknown device '%s': use auto, cpu, vulkan, vulkan:N or part of a device "
                    "name from `vkdream info`", spec);
}
