// The encoder's hot loops with AVX2 and FMA, chosen at run time (the Swift code keeps portable SIMD kernels for CPUs
// without them). The dense product is a 6 x 16 register block: six input rows against two panels of eight outputs,
// twelve accumulators, two weight loads and six broadcasts per step of k. Attention keeps 32 scores or 32 output
// dimensions in four registers while it walks the head's dimensions or the sequence.
#include "osprey_kernels.h"

#if defined(__x86_64__)
#include <immintrin.h>
#include <math.h>
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

__attribute__((target("avx2,fma"))) void osprey_attend_avx2(const float *base, long stride, long hidden,
                                                            long head_size, long length, float scale, float *out,
                                                            long out_stride, float *scratch) {
    long padded = (length + 7) / 8 * 8;
    float *keys = scratch; // transposed: keys[d * padded + j], zero past length
    float *scores = scratch + head_size * padded;
    for (long d = 0; d < head_size; d++) {
        for (long j = 0; j < padded; j++) keys[d * padded + j] = j < length ? base[j * stride + hidden + d] : 0;
    }
    for (long t = 0; t < length; t++) {
        const float *q = base + t * stride;
        long j = 0;
        for (; j + 32 <= padded; j += 32) {
            __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
            for (long d = 0; d < head_size; d++) {
                const float *k = keys + d * padded + j;
                __m256 s = _mm256_set1_ps(q[d] * scale);
                a0 = _mm256_fmadd_ps(_mm256_loadu_ps(k), s, a0);
                a1 = _mm256_fmadd_ps(_mm256_loadu_ps(k + 8), s, a1);
                a2 = _mm256_fmadd_ps(_mm256_loadu_ps(k + 16), s, a2);
                a3 = _mm256_fmadd_ps(_mm256_loadu_ps(k + 24), s, a3);
            }
            _mm256_storeu_ps(scores + j, a0);
            _mm256_storeu_ps(scores + j + 8, a1);
            _mm256_storeu_ps(scores + j + 16, a2);
            _mm256_storeu_ps(scores + j + 24, a3);
        }
        for (; j < padded; j += 8) {
            __m256 a = _mm256_setzero_ps();
            for (long d = 0; d < head_size; d++) {
                a = _mm256_fmadd_ps(_mm256_loadu_ps(keys + d * padded + j), _mm256_set1_ps(q[d] * scale), a);
            }
            _mm256_storeu_ps(scores + j, a);
        }
        float largest = -__builtin_inff(), total = 0;
        for (long c = 0; c < length; c++) largest = scores[c] > largest ? scores[c] : largest;
        for (long c = 0; c < length; c++) {
            scores[c] = expf(scores[c] - largest);
            total += scores[c];
        }
        __m256 inverse = _mm256_set1_ps(1 / total);
        float *o = out + t * out_stride;
        long block = 0;
        for (; block + 32 <= head_size; block += 32) {
            __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
            for (long c = 0; c < length; c++) {
                const float *v = base + c * stride + 2 * hidden + block;
                __m256 p = _mm256_set1_ps(scores[c]);
                a0 = _mm256_fmadd_ps(_mm256_loadu_ps(v), p, a0);
                a1 = _mm256_fmadd_ps(_mm256_loadu_ps(v + 8), p, a1);
                a2 = _mm256_fmadd_ps(_mm256_loadu_ps(v + 16), p, a2);
                a3 = _mm256_fmadd_ps(_mm256_loadu_ps(v + 24), p, a3);
            }
            _mm256_storeu_ps(o + block, _mm256_mul_ps(a0, inverse));
            _mm256_storeu_ps(o + block + 8, _mm256_mul_ps(a1, inverse));
            _mm256_storeu_ps(o + block + 16, _mm256_mul_ps(a2, inverse));
            _mm256_storeu_ps(o + block + 24, _mm256_mul_ps(a3, inverse));
        }
        for (; block < head_size; block += 8) {
            __m256 a = _mm256_setzero_ps();
            for (long c = 0; c < length; c++) {
                a = _mm256_fmadd_ps(_mm256_loadu_ps(base + c * stride + 2 * hidden + block), _mm256_set1_ps(scores[c]),
                                    a);
            }
            _mm256_storeu_ps(o + block, _mm256_mul_ps(a, inverse));
        }
    }
}

#else

int osprey_cpu_has_avx2_fma(void) { return 0; }

void osprey_attend_avx2(const float *base, long stride, long hidden, long head_size, long length, float scale,
                        float *out, long out_stride, float *scratch) {
    (void)base, (void)stride, (void)hidden, (void)head_size, (void)length, (void)scale, (void)out, (void)out_stride,
        (void)scratch;
}

void osprey_dense_avx2(const float *x, long row_start, long row_end, long inputs, long outputs, const float *packed,
                       const float *bias, float *y) {
    (void)x, (void)row_start, (void)row_end, (void)inputs, (void)outputs, (void)packed, (void)bias, (void)y;
}

#endif
