// Marching tetrahedra over a sampled scalar field (see mesh.h for the contract).
//
// Why tetrahedra and not the classic 256-case cube table: the cube table has ambiguous
// faces and interiors, and a table that is not built with matching face choices leaves
// cracks and holes; fixing that needs the "marching cubes 33" sub-cases. Cutting every
// cube into the 6 Kuhn tetrahedra (all sharing the cube's main diagonal) removes the
// ambiguity altogether: a tetrahedron's level set of the linear interpolant is one
// triangle (1 or 3 corners inside) or one quad (2 inside), and neighbouring cubes cut a
// shared face along the same diagonal, so the pieces meet exactly on shared lattice edges.
// Vertices are keyed by lattice edge, so they are shared and the result is a closed
// 2-manifold by construction. The price is about twice as many triangles as cube MC, which
// decimation (mesh_ops.c) takes back when it matters.
//
// The per-tetrahedron case table (6 tetrahedra x 16 sign cases) is generated at the start
// of each extraction from the geometry: which corners are inside decides the edges cut,
// and the winding is chosen so the triangle's normal points from the inside corners to
// the outside ones.
//
// The grid is walked one z-slab at a time (two planes of samples, and the vertex ids of
// the lattice edges in and between them), so N = 512 needs O(N^2) working memory beyond
// the mesh itself.
#include <float.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "nerf/mesh.h"

// The 7 lattice edge directions leaving a vertex, as corner bit masks (x = 1, y = 2, z = 4).
// In-plane ones (no z) are stored per plane, the others per slab.
static const int k_plane_dir[8] = {-1, 0, 1, 2, -1, -1, -1, -1}; // X, Y, XY
static const int k_cross_dir[8] = {-1, -1, -1, -1, 0, 1, 2, 3};  // Z, XZ, YZ, XYZ

typedef struct {
    int ntri;
    int8_t e[2][3]; // tetrahedron-local edge indices
} tcase_t;

typedef struct {
    int corner[4];     // cube corners, increasing along the diagonal chain
    int edge[6][2];    // local corner pairs (lower, higher)
    tcase_t cases[16]; // by inside mask of the local corners
} tet_t;

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec * 1e-6;
}

static void corner_xyz(int c, double p[3]) {
    p[0] = c & 1, p[1] = (c >> 1) & 1, p[2] = (c >> 2) & 1;
}

static int local_edge(const tet_t *t, int a, int b) {
    if (a > b) {
        int s = a;
        a = b, b = s;
    }
    for (int e = 0; e < 6; e++)
        if (t->edge[e][0] == a && t->edge[e][1] == b) return e;
    return -1;
}

// Orient triangle (edge ids) so its normal (at edge midpoints) points from the inside
// corners' centroid to the outside corners'. Midpoints never make a degenerate triangle.
static void orient(const tet_t *t, int mask, int8_t tri[3]) {
    double m[3][3], cin[3] = {0}, cout[3] = {0};
    int nin = 0, nout = 0;
    for (int v = 0; v < 3; v++) {
        double a[3], b[3];
        corner_xyz(t->corner[t->edge[tri[v]][0]], a);
        corner_xyz(t->corner[t->edge[tri[v]][1]], b);
        for (int d = 0; d < 3; d++) m[v][d] = 0.5 * (a[d] + b[d]);
    }
    for (int l = 0; l < 4; l++) {
        double p[3];
        corner_xyz(t->corner[l], p);
        double *acc = (mask >> l) & 1 ? cin : cout;
        for (int d = 0; d < 3; d++) acc[d] += p[d];
        if ((mask >> l) & 1)
            nin++;
        else
            nout++;
    }
    double u[3], w[3], n[3], dir = 0;
    for (int d = 0; d < 3; d++) u[d] = m[1][d] - m[0][d], w[d] = m[2][d] - m[0][d];
    n[0] = u[1] * w[2] - u[2] * w[1];
    n[1] = u[2] * w[0] - u[0] * w[2];
    n[2] = u[0] * w[1] - u[1] * w[0];
    for (int d = 0; d < 3; d++) dir += n[d] * (cout[d] / nout - cin[d] / nin);
    if (dir < 0) {
        int8_t s = tri[1];
        tri[1] = tri[2], tri[2] = s;
    }
}

static void build_tets(tet_t tets[6]) {
    static const int perms[6][3] = {{0, 1, 2}, {0, 2, 1}, {1, 0, 2},
                                    {1, 2, 0}, {2, 0, 1}, {2, 1, 0}};
    for (int t = 0; t < 6; t++) {
        tet_t *T = &tets[t];
        T->corner[0] = 0;
        T->corner[1] = 1 << perms[t][0];
        T->corner[2] = T->corner[1] | (1 << perms[t][1]);
        T->corner[3] = 7;
        int e = 0;
        for (int a = 0; a < 4; a++)
            for (int b = a + 1; b < 4; b++) T->edge[e][0] = a, T->edge[e][1] = b, e++;
        for (int mask = 0; mask < 16; mask++) {
            tcase_t *c = &T->cases[mask];
            int nin = __builtin_popcount(mask);
            c->ntri = 0;
            if (nin == 0 || nin == 4) continue;
            if (nin == 1 || nin == 3) {
                int lone = 0; // the corner on its own side
                for (int l = 0; l < 4; l++)
                    if ((((mask >> l) & 1) != 0) == (nin == 1)) lone = l;
                int k = 0;
                for (int l = 0; l < 4; l++)
                    if (l != lone) c->e[0][k++] = (int8_t)local_edge(T, lone, l);
                c->ntri = 1;
                orient(T, mask, c->e[0]);
            } else {
                int in[2], out[2], ni = 0, no = 0;
                for (int l = 0; l < 4; l++) {
                    if ((mask >> l) & 1)
                        in[ni++] = l;
                    else
                        out[no++] = l;
                }
                // The quad's cycle: consecutive cut edges share a corner.
                int8_t q[4] = {
                    (int8_t)local_edge(T, in[0], out[0]), (int8_t)local_edge(T, in[0], out[1]),
                    (int8_t)local_edge(T, in[1], out[1]), (int8_t)local_edge(T, in[1], out[0])};
                c->e[0][0] = q[0], c->e[0][1] = q[1], c->e[0][2] = q[2];
                c->e[1][0] = q[0], c->e[1][1] = q[2], c->e[1][2] = q[3];
                c->ntri = 2;
                orient(T, mask, c->e[0]);
                orient(T, mask, c->e[1]);
            }
        }
    }
}

typedef struct {
    vkd_field_sample_fn fn;
    void *user;
    const vkd_mc_opts_t *o;
    int N;
    double h;
    float t;
    float *dens[2];  // (N, N) planes k and k+1, [j * N + i]
    int32_t *pid[2]; // (N, N, 3) vertex ids of the in-plane edges of planes k, k+1
    int32_t *cid;    // (N, N, 4) vertex ids of the edges from plane k to k+1
    float *xyz;      // (N * N, 3) scratch for sampling a plane
    float dmin, dmax;
    double ms_sample;
    // the growing mesh
    float *pos;
    size_t nv, cap_v;
    uint32_t *idx;
    size_t nf, cap_f;
} mc_t;

static float clean(float d) {
    if (d != d) return -FLT_MAX * 0.25f; // NaN: nothing there
    if (d > FLT_MAX * 0.25f) return FLT_MAX * 0.25f;
    if (d < -FLT_MAX * 0.25f) return -FLT_MAX * 0.25f;
    return d;
}

// Sample plane k into out. Samples on the grid's outer shell or outside the ball are
// forced below the threshold (mirrored about it), so the surface always closes inside the
// grid, half a cell from where it is cut.
static vkd_status_t sample_plane(mc_t *M, int k, float *out) {
    int N = M->N, P = N * N;
    double R = M->o->radius, z = -R + k * M->h;
    for (int j = 0; j < N; j++)
        for (int i = 0; i < N; i++) {
            float *p = &M->xyz[3 * ((size_t)j * N + i)];
            p[0] = (float)(-R + i * M->h), p[1] = (float)(-R + j * M->h), p[2] = (float)z;
        }
    int B = M->o->batch;
    double t0 = now_ms();
    for (int s = 0; s < P; s += B) {
        int n = P - s < B ? P - s : B;
        vkd_status_t st = M->fn(M->user, M->xyz + 3 * (size_t)s, n, out + s, NULL);
        if (st != VKD_OK) return vkd_fail_ctx(st, "sampling the field at z plane %d", k);
    }
    M->ms_sample += now_ms() - t0;
    double R2 = R * R * (1.0 + 1e-6);
    for (int j = 0; j < N; j++)
        for (int i = 0; i < N; i++) {
            size_t q = (size_t)j * N + i;
            const float *p = &M->xyz[3 * q];
            float d = out[q];
            int shell = i == 0 || j == 0 || k == 0 || i == N - 1 || j == N - 1 || k == N - 1;
            double r2 = (double)p[0] * p[0] + (double)p[1] * p[1] + (double)p[2] * p[2];
            int outside = r2 > R2;
            if (!outside && isfinite(d)) {
                if (d < M->dmin) M->dmin = d;
                if (d > M->dmax) M->dmax = d;
            }
            d = clean(d);
            if ((shell || outside) && d > M->t) d = clean(2.0f * M->t - d);
            if ((shell || outside) && d > M->t) d = M->t - 1.0f; // mirrored value rounded up
            out[q] = d;
        }
    return VKD_OK;
}

static vkd_status_t push_vertex(mc_t *M, const double p[3], int32_t *id) {
    if (M->nv >= (size_t)INT32_MAX - 1)
        return vkd_fail(VKD_ERR_NOMEM, "marching cubes: more than 2^31 vertices; lower --grid");
    if (M->nv == M->cap_v) {
        size_t nc = M->cap_v ? M->cap_v * 2 : 65536;
        float *np = realloc(M->pos, nc * 3 * sizeof(float));
        if (!np) return vkd_fail(VKD_ERR_NOMEM, "marching cubes: no memory for %zu vertices", nc);
        M->pos = np, M->cap_v = nc;
    }
    for (int d = 0; d < 3; d++) M->pos[3 * M->nv + d] = (float)p[d];
    *id = (int32_t)M->nv++;
    return VKD_OK;
}

// The vertex on the lattice edge from cube corner ca to cb (ca's bits within cb's) of the
// cube (i, j) in the current slab; created on first use.
static vkd_status_t edge_vertex(mc_t *M, int i, int j, int k, int ca, int cb, int32_t *out) {
    int N = M->N, dir = cb & ~ca;
    int si = i + (ca & 1), sj = j + ((ca >> 1) & 1), sz = (ca >> 2) & 1;
    size_t q = (size_t)sj * N + si;
    int32_t *slot;
    if (dir & 4)
        slot = &M->cid[4 * q + k_cross_dir[dir]];
    else
        slot = &M->pid[sz][3 * q + k_plane_dir[dir]];
    if (*slot >= 0) {
        *out = *slot;
        return VKD_OK;
    }
    int ei = si + (dir & 1), ej = sj + ((dir >> 1) & 1), ez = sz + ((dir >> 2) & 1);
    double d0 = M->dens[sz][q], d1 = M->dens[ez][(size_t)ej * N + ei];
    double s = ((double)M->t - d0) / (d1 - d0); // d0, d1 on opposite sides: d1 != d0
    if (!(s >= 0)) s = 0;
    if (s > 1) s = 1;
    double R = M->o->radius, a[3] = {si, sj, k + sz}, b[3] = {ei, ej, k + ez}, p[3];
    for (int d = 0; d < 3; d++) p[d] = -R + (a[d] + s * (b[d] - a[d])) * M->h;
    VKD_TRY(push_vertex(M, p, slot));
    *out = *slot;
    return VKD_OK;
}

static vkd_status_t push_tri(mc_t *M, const int32_t v[3]) {
    if (M->nf >= (size_t)INT32_MAX / 3)
        return vkd_fail(VKD_ERR_NOMEM, "marching cubes: more than 2^31 / 3 faces; lower --grid");
    if (M->nf == M->cap_f) {
        size_t nc = M->cap_f ? M->cap_f * 2 : 131072;
        uint32_t *ni = realloc(M->idx, nc * 3 * sizeof(uint32_t));
        if (!ni) return vkd_fail(VKD_ERR_NOMEM, "marching cubes: no memory for %zu faces", nc);
        M->idx = ni, M->cap_f = nc;
    }
    for (int d = 0; d < 3; d++) M->idx[3 * M->nf + d] = (uint32_t)v[d];
    M->nf++;
    return VKD_OK;
}

static vkd_status_t slab(mc_t *M, const tet_t tets[6], int k) {
    int N = M->N;
    for (int j = 0; j + 1 < N; j++)
        for (int i = 0; i + 1 < N; i++) {
            int inside = 0;
            for (int c = 0; c < 8; c++) {
                size_t q = (size_t)(j + ((c >> 1) & 1)) * N + i + (c & 1);
                inside |= (M->dens[(c >> 2) & 1][q] > M->t) << c;
            }
            if (inside == 0 || inside == 255) continue;
            for (int t = 0; t < 6; t++) {
                const tet_t *T = &tets[t];
                int mask = 0;
                for (int l = 0; l < 4; l++) mask |= ((inside >> T->corner[l]) & 1) << l;
                const tcase_t *c = &T->cases[mask];
                for (int r = 0; r < c->ntri; r++) {
                    int32_t v[3];
                    for (int m = 0; m < 3; m++) {
                        const int *e = T->edge[c->e[r][m]];
                        VKD_TRY(edge_vertex(M, i, j, k, T->corner[e[0]], T->corner[e[1]], &v[m]));
                    }
                    VKD_TRY(push_tri(M, v));
                }
            }
        }
    return VKD_OK;
}

vkd_mc_opts_t vkd_mc_opts_default(void) {
    vkd_mc_opts_t o = {.grid = 128, .radius = 1.4f, .threshold = NAN, .batch = 65536};
    return o;
}

void vkd_mesh_free(vkd_mesh_t *m) {
    if (!m) return;
    free(m->pos), free(m->normal), free(m->rgb), free(m->idx);
    memset(m, 0, sizeof(*m));
}

static vkd_status_t run(mc_t *M) {
    tet_t tets[6];
    build_tets(tets);
    int N = M->N;
    size_t P = (size_t)N * N;
    M->dens[0] = malloc(P * sizeof(float)), M->dens[1] = malloc(P * sizeof(float));
    M->pid[0] = malloc(P * 3 * sizeof(int32_t)), M->pid[1] = malloc(P * 3 * sizeof(int32_t));
    M->cid = malloc(P * 4 * sizeof(int32_t));
    M->xyz = malloc(P * 3 * sizeof(float));
    if (!M->dens[0] || !M->dens[1] || !M->pid[0] || !M->pid[1] || !M->cid || !M->xyz)
        return vkd_fail(VKD_ERR_NOMEM, "marching cubes: no memory for a %d^2 slab", N);
    memset(M->pid[0], 0xff, P * 3 * sizeof(int32_t));
    VKD_TRY(sample_plane(M, 0, M->dens[0]));
    for (int k = 0; k + 1 < N; k++) {
        VKD_TRY(sample_plane(M, k + 1, M->dens[1]));
        memset(M->pid[1], 0xff, P * 3 * sizeof(int32_t));
        memset(M->cid, 0xff, P * 4 * sizeof(int32_t));
        VKD_TRY(slab(M, tets, k));
        float *td = M->dens[0];
        M->dens[0] = M->dens[1], M->dens[1] = td;
        int32_t *tp = M->pid[0];
        M->pid[0] = M->pid[1], M->pid[1] = tp;
    }
    return VKD_OK;
}

vkd_status_t vkd_mc_extract(vkd_field_sample_fn fn, void *user, const vkd_mc_opts_t *o,
                            vkd_mesh_t *out, vkd_mc_info_t *info) {
    if (!fn || !o || !out) return vkd_fail(VKD_ERR_INVALID, "vkd_mc_extract: NULL argument");
    memset(out, 0, sizeof(*out));
    if (o->grid < 8 || o->grid > 512)
        return vkd_fail(VKD_ERR_INVALID, "marching cubes: grid %d out of range 8..512", o->grid);
    if (!(o->radius > 0) || !isfinite(o->radius))
        return vkd_fail(VKD_ERR_INVALID, "marching cubes: radius %g must be > 0", o->radius);
    if (o->batch < 1)
        return vkd_fail(VKD_ERR_INVALID, "marching cubes: batch %d must be >= 1", o->batch);
    if (isinf(o->threshold))
        return vkd_fail(VKD_ERR_INVALID, "marching cubes: threshold must be finite");
    vkd_mc_info_t inf = {0};
    double t0 = now_ms();
    float t = o->threshold;
    if (isnan(t)) {
        VKD_TRY(vkd_mesh_auto_threshold(fn, user, o->radius, 64, o->batch, &t));
        inf.auto_threshold = 1;
    }
    mc_t M = {
        .fn = fn, .user = user, .o = o, .N = o->grid, .t = t, .dmin = INFINITY, .dmax = -INFINITY};
    M.h = 2.0 * o->radius / (o->grid - 1);
    vkd_status_t s = run(&M);
    free(M.dens[0]), free(M.dens[1]), free(M.pid[0]), free(M.pid[1]), free(M.cid), free(M.xyz);
    inf.threshold = t, inf.dmin = M.dmin, inf.dmax = M.dmax, inf.ms_sample = M.ms_sample;
    inf.ms_extract = now_ms() - t0;
    if (info) *info = inf;
    if (s == VKD_OK && M.nf == 0) {
        float sug = NAN;
        vkd_status_t as = vkd_mesh_auto_threshold(fn, user, o->radius, 64, o->batch, &sug);
        if (as == VKD_OK && sug != t)
            s = vkd_fail(VKD_ERR_NUMERIC,
                         "no surface crosses threshold %g: the density over the %d^3 grid "
                         "ranges over [%g, %g]; try --threshold %g",
                         t, o->grid, M.dmin, M.dmax, sug);
        else
            s = vkd_fail(VKD_ERR_NUMERIC,
                         "no surface crosses threshold %g: the density over the %d^3 grid "
                         "ranges over [%g, %g]%s",
                         t, o->grid, M.dmin, M.dmax,
                         M.dmin < M.dmax ? "; try a threshold inside that range"
                                         : "; the field is constant (an untrained model?)");
    }
    if (s != VKD_OK) {
        free(M.pos), free(M.idx);
        return s;
    }
    out->pos = M.pos, out->idx = M.idx;
    out->n_vertices = (int)M.nv, out->n_faces = (int)M.nf;
    // Half a cell: the gradient's finite difference stays inside the cells the vertex
    // was interpolated from.
    s = vkd_mesh_field_attributes(fn, user, o->batch, 0.5 * M.h, out);
    if (s != VKD_OK) {
        vkd_mesh_free(out);
        return s;
    }
    inf.ms_total = now_ms() - t0;
    if (info) *info = inf;
    return VKD_OK;
}
