// The matrix product of a dense layer with AVX2 and FMA, chosen at run time (DenseLayer keeps a portable Swift
// kernel for CPUs without them). A 6 x 16 register block: six input rows against two panels of eight outputs, twelve
// accumulators, two weight loads and six broadcasts per step of k.
#include "osprey_kernels.h"

#if defined(__x86_64__)
#include <immintrin.h>
#include <string.h>

int osprey_cpu_has_avx2_fma(void) {
    static int cached = -1;
    if (cached < 0) {
        __builtin_cpu_init();
        cached = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    }
    return cached;
}

__attribute__((target("avx2,fma"))) static inline void store(float *destination, __m256 lanes, long columns) {
    if (columns >= 8) {
        _mm256_storeu_ps(destination, lanes);
    } else if (columns > 0) {
        float spill[8];
        _mm256_storeu_ps(spill, lanes);
        memcpy(destination, spill, (size_t)columns * sizeof(float));
    }
}

static inline long columns_of(long outputs, long panel) {
    long left = outputs - panel * 8;
    return left < 8 ? left : 8;
}

#define STEP(n)                                                                                                        \
    s = _mm256_broadcast_ss(x##n + k);                                                                                 \
    a##n##0 = _mm256_fmadd_ps(v0, s, a##n##0);                                                                         \
    a##n##1 = _mm256_fmadd_ps(v1, s, a##n##1);

__attribute__((target("avx2,fma"))) void osprey_dense_avx2(const float *x, long row_start, long row_end, long inputs,
                                                           long outputs, const float *packed, const float *bias,
                                                           float *y) {
    long panels = (outputs + 7) / 8;
    long p = 0;
    for (; p + 2 <= panels; p += 2) {
        const float *w0 = packed + p * inputs * 8;
        const float *w1 = w0 + inputs * 8;
        __m256 b0 = _mm256_loadu_ps(bias + p * 8), b1 = _mm256_loadu_ps(bias + p * 8 + 8);
        long c0 = columns_of(outputs, p), c1 = columns_of(outputs, p + 1);
        long r = row_start;
        for (; r + 6 <= row_end; r += 6) {
            const float *x0 = x + r * inputs, *x1 = x0 + inputs, *x2 = x1 + inputs, *x3 = x2 + inputs,
                        *x4 = x3 + inputs, *x5 = x4 + inputs;
            __m256 a00 = b0, a01 = b1, a10 = b0, a11 = b1, a20 = b0, a21 = b1, a30 = b0, a31 = b1, a40 = b0,
                   a41 = b1, a50 = b0, a51 = b1;
            for (long k = 0; k < inputs; k++) {
                __m256 v0 = _mm256_loadu_ps(w0 + k * 8), v1 = _mm256_loadu_ps(w1 + k * 8), s;
                STEP(0) STEP(1) STEP(2) STEP(3) STEP(4) STEP(5)
            }
            float *y0 = y + r * outputs + p * 8;
            store(y0, a00, c0), store(y0 + 8, a01, c1);
            store(y0 + outputs, a10, c0), store(y0 + outputs + 8, a11, c1);
            store(y0 + 2 * outputs, a20, c0), store(y0 + 2 * outputs + 8, a21, c1);
            store(y0 + 3 * outputs, a30, c0), store(y0 + 3 * outputs + 8, a31, c1);
            store(y0 + 4 * outputs, a40, c0), store(y0 + 4 * outputs + 8, a41, c1);
            store(y0 + 5 * outputs, a50, c0), store(y0 + 5 * outputs + 8, a51, c1);
        }
        for (; r < row_end; r++) {
            const float *x0 = x + r * inputs;
            __m256 a00 = b0, a01 = b1;
            for (long k = 0; k < inputs; k++) {
                __m256 v0 = _mm256_loadu_ps(w0 + k * 8), v1 = _mm256_loadu_ps(w1 + k * 8), s;
                STEP(0)
            }
            float *y0 = y + r * outputs + p * 8;
            store(y0, a00, c0), store(y0 + 8, a01, c1);
        }
    }
    if (p < panels) {
        // An odd last panel: one column of eight outputs.
        const float *w0 = packed + p * inputs * 8;
        __m256 b0 = _mm256_loadu_ps(bias + p * 8);
        long c0 = columns_of(outputs, p);
        for (long r = row_start; r < row_end; r++) {
            const float *x0 = x + r * inputs;
            __m256 a = b0;
            for (long k = 0; k < inputs; k++) {
                a = _mm256_fmadd_ps(_mm256_loadu_ps(w0 + k * 8), _mm256_broadcast_ss(x0 + k), a);
            }
            store(y + r * outputs + p * 8, a, c0);
        }
    }
}

#else

int osprey_cpu_has_avx2_fma(void) { return 0; }

void osprey_dense_avx2(const float *x, long row_start, long row_end, long inputs, long outputs, const float *packed,
                       const float *bias, float *y) {
    (void)x, (void)row_start, (void)row_end, (void)inputs, (void)outputs, (void)packed, (void)bias, (void)y;
}

#endif
