/* A small C port of the mxnet2 RMSProp kernel that speaks the `check --cmd` protocol.
 *
 *   cc -O2 -ffp-contract=off -o port mxnet2_kernel_port.c -lm
 *   rmsprop-conformance check --cmd ./port --dtype float32 --dtype float64
 *
 * One case line (fixture format, keys sorted, no whitespace) in on stdin, one
 * results line out on stdout.  float32 and float64, centered or not, computed in
 * the case dtype with the kernel-side hyperparameters (`hp_kernel`).  Anything
 * else (float16, another dialect, a line it cannot parse) gets an "error" answer.
 * The parser is minimal: it finds keys by their quoted names and is not a JSON parser.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NHP 8
static const char *HP[NHP] = {"lr", "rho", "momentum", "epsilon", "wd", "rescale_grad", "clip_gradient",
                              "clip_weights"};
enum { LR, RHO, MOM, EPS, WD, RESCALE, CLIPG, CLIPW };
#define NIN 5
static const char *IN[NIN] = {"weight", "grad", "var", "mean", "mom"};
enum { W, G, VAR, MEAN, MOMS };

/* The end of the object or array that starts at p ('{' or '['); strings may hold brackets. */
static char *span_end(char *p) {
    int depth = 0, str = 0;
    for (; *p; p++) {
        if (str) { if (*p == '\\') p++; else if (*p == '"') str = 0; continue; }
        if (*p == '"') str = 1;
        else if (*p == '{' || *p == '[') depth++;
        else if ((*p == '}' || *p == ']') && --depth == 0) return p;
    }
    return NULL;
}

/* The value of "key" between from and to, or NULL. */
static char *find(char *from, char *to, const char *key) {
    char pat[64];
    snprintf(pat, sizeof pat, "\"%s\":", key);
    char *p = strstr(from, pat);
    return p && p < to ? p + strlen(pat) : NULL;
}

/* Bit patterns of {"bits":[...]} at p into out (n values, or -1 on error). */
static long bits(char *p, uint64_t **out) {
    if (!p || strncmp(p, "{\"bits\":[", 9)) return -1;
    char *end = span_end(p + 8);
    long n = 0;
    *out = malloc(sizeof(uint64_t) * ((end - p) / 5 + 1));
    for (p += 9; p < end; p++)
        if (*p == '"') { (*out)[n++] = strtoull(p + 1, &p, 16); }
    return n;
}

static double f64(uint64_t b) { double d; memcpy(&d, &b, 8); return d; }
static float f32(uint64_t b) { uint32_t u = (uint32_t)b; float f; memcpy(&f, &u, 4); return f; }
static uint64_t b64(double d) { uint64_t b; memcpy(&b, &d, 8); return b; }
static uint64_t b32(float f) { uint32_t u; memcpy(&u, &f, 4); return u; }

/* The mxnet2 update in type T (MXNet 2's grouping); x[k] are the inputs, updated in place. */
#define KERNEL(NAME, T, SQRT, DEC)                                                               \
    static void NAME(uint64_t **x, long n, const double *hd, int centered, int planted) {      \
        T h[NHP];                                                                              \
        for (int k = 0; k < NHP; k++) h[k] = (T)hd[k];                                         \
        T omr = (T)1 - h[RHO];                                                                 \
        for (long i = 0; i < n; i++) {                                                         \
            T w = DEC(x[W][i]), g = h[RESCALE] * DEC(x[G][i]), v = DEC(x[VAR][i]);             \
            if (h[CLIPG] >= 0) g = g > h[CLIPG] ? h[CLIPG] : (g < -h[CLIPG] ? -h[CLIPG] : g);  \
            g = g + h[WD] * w;                                                                 \
            v = omr * (g * g) + h[RHO] * v;                                                    \
            if (centered) {                                                                    \
                T m = omr * g + h[RHO] * DEC(x[MEAN][i]);                                      \
                T mo = h[MOM] * DEC(x[MOMS][i]) - (h[LR] * g) / SQRT(v - m * m + h[EPS]);      \
                w = w + mo;                                                                    \
                SET(MEAN, i, m); SET(MOMS, i, mo);                                             \
            } else {                                                                           \
                w = w - (h[LR] * g) / (planted ? SQRT(v + h[EPS]) : SQRT(v) + h[EPS]);         \
            }                                                                                  \
            if (h[CLIPW] >= 0) w = w > h[CLIPW] ? h[CLIPW] : (w < -h[CLIPW] ? -h[CLIPW] : w);  \
            SET(W, i, w); SET(VAR, i, v);                                                      \
        }                                                                                      \
    }
#define SET(K, I, V) x[K][I] = sizeof(V) == 4 ? b32((float)(V)) : b64((double)(V))
KERNEL(kernel32, float, sqrtf, f32)
KERNEL(kernel64, double, sqrt, f64)

static int answer(char *line, int planted) {
    char *id = find(line, line + strlen(line), "id"), *end = line + strlen(line);
    if (!id || *id != '"') return printf("{\"id\":\"\",\"error\":\"no id\"}\n");
    char *id_end = id + 1;
    while (*id_end && *id_end != '"') id_end += *id_end == '\\' ? 2 : 1;
    int idlen = (int)(id_end - id + 1);
#define REFUSE(why) return printf("{\"id\":%.*s,\"error\":\"%s\"}\n", idlen, id, why)
    int wide = strstr(line, "\"dtype\":\"float64\"") != NULL;
    if (!wide && !strstr(line, "\"dtype\":\"float32\"")) REFUSE("this port implements float32 and float64 only");
    if (!strstr(line, "\"dialect\":\"mxnet2\"") || !strstr(line, "\"level\":\"kernel\""))
        REFUSE("this port implements mxnet2 kernel cases only");
    char *hp = find(line, end, "hp"), *hk = find(line, end, "hp_kernel"), *in = find(line, end, "inputs");
    if (!hp || !hk || !in) REFUSE("cannot parse the case");
    char *hp_end = span_end(hp), *hk_end = span_end(hk), *in_end = span_end(in);
    int centered = find(hp, hp_end, "centered") && !strncmp(find(hp, hp_end, "centered"), "true", 4);
    double h[NHP];
    for (int k = 0; k < NHP; k++) {
        char *v = find(hk, hk_end, HP[k]);
        if (!v || strncmp(v, "{\"bits\":\"", 9)) REFUSE("cannot parse hp_kernel");
        h[k] = f64(strtoull(v + 9, NULL, 16));
    }
    uint64_t *x[NIN] = {0};
    long n = -1, nin = centered ? NIN : 3;
    for (int k = 0; k < nin; k++) {
        long m = bits(find(in, in_end, IN[k]), &x[k]);
        if (m < 0 || (n >= 0 && m != n)) REFUSE("cannot parse the inputs");
        n = m;
    }
    (wide ? kernel64 : kernel32)(x, n, h, centered, planted);
    printf("{\"id\":%.*s,\"outputs\":{", idlen, id);
    for (int k = 0; k < nin; k++) {
        if (k == G) continue;
        printf("%s\"%s\":{\"bits\":[", k ? "," : "", IN[k]);
        for (long i = 0; i < n; i++) printf(wide ? "%s\"%016llx\"" : "%s\"%08llx\"", i ? "," : "",
                                            (unsigned long long)x[k][i]);
        printf("]}");
    }
    for (int k = 0; k < NIN; k++) free(x[k]);
    return printf("}}\n");
}

int main(int argc, char **argv) {
    int planted = argc > 1 && !strcmp(argv[1], "--eps-inside");
    size_t cap = 0;
    char *line = NULL;
    while (getline(&line, &cap, stdin) > 0) {
        answer(line, planted);
        fflush(stdout);
    }
    free(line);
    return 0;
}
