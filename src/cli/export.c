// `vkdream export`: mesh a field into a .glb, .obj or .ply file: a NeRF checkpoint (through
// nerf/mesh_field.h, the same call `generate` makes for DIR/mesh.glb) or a ShapeWorld object
// from its exact SDF.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "mesh_write.h"
#include "nerf/checkpoint.h"
#include "nerf/mesh.h"
#include "nerf/mesh_field.h"
#include "shapeworld.h"

static void usage(FILE *f) {
    fprintf(f,
            "usage: vkdream export (CKPT | --shapeworld \"CAPTION\") [options]\n"
            "\n"
            "Extracts the surface of a field by marching tetrahedra (closed, crack-free) and\n"
            "writes it with normals from the density gradient and vertex colours from the\n"
            "albedo field.\n"
            "\n"
            "options:\n"
            "  --shapeworld CAPTION  mesh a ShapeWorld object (\"a red cube\") from its exact SDF\n"
            "  -o FILE               output .glb, .obj or .ply (mesh.glb)\n"
            "  --grid N              samples per axis, 8..512 (128)\n"
            "  --threshold T         surface level of the density. Default for a checkpoint:\n"
            "                        ln 2 / (2 * bound / samples), the density at which one of\n"
            "                        the renderer's sample intervals is half opaque (11.9 with\n"
            "                        the default 48 samples in a 1.4 sphere): where its renders\n"
            "                        turn solid (nerf/mesh_field.h). ShapeWorld: 0 (density = -SDF)\n"
            "  --radius R            half side of the sampled cube; outside the ball of radius\n"
            "                        R is empty (the checkpoint's bounding sphere; 1.4)\n"
            "  --largest             keep only the largest connected component (always for a\n"
            "                        checkpoint unless --all-components: floaters go)\n"
            "  --all-components      checkpoint: keep every component\n"
            "  --faces N             decimate to at most N faces (vertex clustering)\n"
            "  --device D            backend evaluating the NeRF: auto, cpu, vulkan, vulkan:N\n"
            "  -h, --help            this help\n");
}

static int usage_error(const char *fmt, const char *arg) {
    fprintf(stderr, "vkdream export: ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\n\n");
    usage(stderr);
    return 2;
}

static int export_ckpt(const char *ckpt, const char *out, const char *device,
                       const vkd_nerf_mesh_opts_t *o) {
    vkd_backend_t *be = NULL;
    vkd_field_t *f = NULL;
    vkd_nerf_ckpt_meta_t meta;
    const vkd_backend_opts_t bo = {device, -1, 1};
    vkd_nerf_mesh_info_t info;
    int rc = 1;
    if (vkd_backend_create(&bo, &be)) return cli_error(NULL);
    if (vkd_nerf_ckpt_load(ckpt, be, &f, &meta)) goto done;
    const char *name = meta.prompt[0] ? meta.prompt : "vkdream";
    if (vkd_nerf_export_mesh_file(f, o, out, name, &info)) goto done;
    printf("%s: %d vertices, %d faces (grid %d^3, threshold %g%s, density in [%g, %g]; "
           "extraction %.0f ms of which field sampling %.0f ms, total %.0f ms%s)\n",
           out, info.n_vertices, info.n_faces, o->grid, info.mc.threshold,
           info.mc.auto_threshold ? " auto" : "", info.mc.dmin, info.mc.dmax,
           info.mc.ms_extract, info.mc.ms_sample, info.ms_total,
           info.n_components > 1 ? "; kept the largest component" : "");
    rc = 0;
done:
    if (rc) cli_error(NULL);
    vkd_field_destroy(f);
    vkd_backend_destroy(be);
    return rc;
}

int cmd_export(int argc, char **argv) {
    const char *out = "mesh.glb", *caption = NULL, *ckpt = NULL, *device = NULL;
    vkd_mc_opts_t o = vkd_mc_opts_default();
    int largest = 0, all = 0, faces = 0, radius_given = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        double x;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(a, "--largest")) {
            largest = 1;
        } else if (!strcmp(a, "--all-components")) {
            all = 1;
        } else if (!strcmp(a, "-o") || !strcmp(a, "--shapeworld") || !strcmp(a, "--grid") ||
                   !strcmp(a, "--threshold") || !strcmp(a, "--radius") || !strcmp(a, "--faces") ||
                   !strcmp(a, "--device")) {
            if (!v) return usage_error("%s needs a value", a);
            i++;
            if (!strcmp(a, "-o"))
                out = v;
            else if (!strcmp(a, "--shapeworld"))
                caption = v;
            else if (!strcmp(a, "--device"))
                device = v;
            else if (!strcmp(a, "--grid")) {
                if (!cli_parse_double(v, 8, 512, &x) || x != floor(x))
                    return usage_error("--grid: '%s' is not an integer in 8..512", v);
                o.grid = (int)x;
            } else if (!strcmp(a, "--threshold")) {
                if (!cli_parse_double(v, -1e30, 1e30, &x))
                    return usage_error("--threshold: '%s' is not a finite number", v);
                o.threshold = (float)x;
            } else if (!strcmp(a, "--radius")) {
                if (!cli_parse_double(v, 1e-3, 1e3, &x))
                    return usage_error("--radius: '%s' is not a number in 0.001..1000", v);
                o.radius = (float)x;
                radius_given = 1;
            } else {
                if (!cli_parse_double(v, 4, 2e9, &x) || x != floor(x))
                    return usage_error("--faces: '%s' is not an integer >= 4", v);
                faces = (int)x;
            }
        } else if (a[0] == '-') {
            return usage_error("unknown option '%s'", a);
        } else if (!ckpt) {
            ckpt = a;
        } else {
            return usage_error("unexpected argument '%s'", a);
        }
    }
    if (!!ckpt == !!caption) return usage_error("%s", "give either CKPT or --shapeworld CAPTION");
    if (largest && all) return usage_error("%s", "--largest and --all-components contradict");
    vkd_mesh_format_t fmt;
    if (vkd_mesh_format_of(out, &fmt) != VKD_OK) return cli_error(NULL);
    if (ckpt) {
        vkd_nerf_mesh_opts_t no = vkd_nerf_mesh_opts_default();
        no.grid = o.grid, no.threshold = o.threshold, no.max_faces = faces;
        no.radius = radius_given ? o.radius : 0.0f;
        no.largest = !all;
        return export_ckpt(ckpt, out, device, &no);
    }
    if (device) return usage_error("%s", "--device applies to a checkpoint, not --shapeworld");
    vkd_sw_object_t obj;
    if (vkd_sw_parse(caption, &obj, NULL) != VKD_OK) return cli_error(NULL);
    if (isnan(o.threshold)) o.threshold = 0.0f; // the exact surface of -SDF
    vkd_mesh_t m;
    vkd_mc_info_t info;
    if (vkd_mc_extract(vkd_sw_field_sample, &obj, &o, &m, &info) != VKD_OK) return cli_error(NULL);
    int ncomp = 1;
    vkd_status_t s = VKD_OK;
    if (largest) s = vkd_mesh_largest_component(&m, &ncomp);
    if (s == VKD_OK && faces) s = vkd_mesh_decimate(&m, faces);
    char name[64];
    snprintf(name, sizeof(name), "%s %s", vkd_sw_colour_name(obj.colour),
             vkd_sw_shape_name(obj.shape));
    if (s == VKD_OK) s = vkd_mesh_write(out, &m, name);
    if (s != VKD_OK) {
        vkd_mesh_free(&m);
        return cli_error(NULL);
    }
    printf("%s: %d vertices, %d faces (grid %d^3, threshold %g%s, density in [%g, %g]; "
           "extraction %.0f ms of which field sampling %.0f ms, total %.0f ms%s)\n",
           out, m.n_vertices, m.n_faces, o.grid, info.threshold, info.auto_threshold ? " auto" : "",
           info.dmin, info.dmax, info.ms_extract, info.ms_sample, info.ms_total,
           largest && ncomp > 1 ? "; kept the largest component" : "");
    vkd_mesh_free(&m);
    return 0;
}
