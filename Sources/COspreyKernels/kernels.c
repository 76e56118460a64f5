// The encoder's hot loops with AVX2 and FMA, chosen at run time (the Swift code keeps portable SIMD kernels for CPUs
// without them). The dense product is a 6 x 16 register block: six input rows against two panels of eight outputs,
// twelve accumulators, two weight loads and six broadcasts per step of k. Attention takes two query rows at a
// time and keeps 32 scores or 32 output dimensions of each in four registers while it walks the head's dimensions or
// the sequence; its softmax and GELU's erf are vectorized polynomials instead of one libm call per float.
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

int osprey_cpu_has_avx512_bf16(void) {
    static int cached = -1;
    if (cached < 0) {
        __builtin_cpu_init();
        cached = osprey_cpu_has_avx2_fma() && __builtin_cpu_supports("avx512f") &&
                 __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl") &&
                 __builtin_cpu_supports("avx512bf16");
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

#define BF16_TARGET __attribute__((target("avx512f,avx512bw,avx512vl,avx512bf16")))

// Rows [row_start, row_end) of x rounded to bfloat16 (to nearest, ties to even), two to a 32-bit word:
// out[(r - row_start) * pairs + k] holds x[r][2k] (low half) and x[r][2k + 1] (high half; zero past the last input).
BF16_TARGET static void rows_to_bf16(const float *x, long row_start, long row_end, long inputs, long pairs,
                                     unsigned int *out) {
    for (long r = row_start; r < row_end; r++) {
        const float *row = x + r * inputs;
        unsigned int *words = out + (r - row_start) * pairs;
        long k = 0;
        for (; k + 32 <= inputs; k += 32) {
            __m512bh rounded = _mm512_cvtne2ps_pbh(_mm512_loadu_ps(row + k + 16), _mm512_loadu_ps(row + k));
            _mm512_storeu_si512(words + k / 2, (__m512i)rounded);
        }
        if (k < inputs) {
            long left = inputs - k;
            __mmask16 low = left >= 16 ? 0xffff : (__mmask16)((1u << left) - 1);
            __mmask16 high = left <= 16 ? 0 : (__mmask16)((1u << (left - 16)) - 1);
            __m512bh rounded =
                _mm512_cvtne2ps_pbh(_mm512_maskz_loadu_ps(high, row + k + 16), _mm512_maskz_loadu_ps(low, row + k));
            _mm512_mask_storeu_epi32(words + k / 2, (__mmask16)((1u << ((left + 1) / 2)) - 1), (__m512i)rounded);
        }
    }
}

static inline __mmask16 columns_mask(long outputs, long panel) {
    long left = outputs - panel * 16;
    return left >= 16 ? 0xffff : (__mmask16)((1u << left) - 1);
}

#define BF16_STEP(n)                                                                                                   \
    s = (__m512bh)_mm512_set1_epi32((int)xr[(n) * pairs + k]);                                                       \
    a##n##0 = _mm512_dpbf16_ps(a##n##0, w0, s);                                                                        \
    a##n##1 = _mm512_dpbf16_ps(a##n##1, w1, s);

// The same 6-row x 2-panel block as the AVX2 kernel, with panels of 16 outputs and a step of two inputs: twelve
// accumulators, two weight loads and six broadcasts of a pair of rounded inputs per step.
BF16_TARGET void osprey_dense_bf16(const float *x, long row_start, long row_end, long inputs, long outputs,
                                   const unsigned short *packed, const float *bias, float *y, unsigned int *rounded) {
    long pairs = (inputs + 1) / 2, panels = (outputs + 15) / 16, rows = row_end - row_start;
    rows_to_bf16(x, row_start, row_end, inputs, pairs, rounded);
    long p = 0;
    for (; p + 2 <= panels; p += 2) {
        const unsigned short *p0 = packed + p * pairs * 32, *p1 = p0 + pairs * 32;
        __m512 b0 = _mm512_loadu_ps(bias + p * 16), b1 = _mm512_loadu_ps(bias + p * 16 + 16);
        __mmask16 m0 = columns_mask(outputs, p), m1 = columns_mask(outputs, p + 1);
        long r = 0;
        for (; r + 6 <= rows; r += 6) {
            const unsigned int *xr = rounded + r * pairs;
            __m512 a00 = b0, a01 = b1, a10 = b0, a11 = b1, a20 = b0, a21 = b1, a30 = b0, a31 = b1, a40 = b0,
                   a41 = b1, a50 = b0, a51 = b1;
            for (long k = 0; k < pairs; k++) {
                __m512bh w0 = (__m512bh)_mm512_loadu_si512(p0 + k * 32), w1 = (__m512bh)_mm512_loadu_si512(p1 + k * 32),
                         s;
                BF16_STEP(0) BF16_STEP(1) BF16_STEP(2) BF16_STEP(3) BF16_STEP(4) BF16_STEP(5)
            }
            float *y0 = y + (row_start + r) * outputs + p * 16;
            _mm512_mask_storeu_ps(y0, m0, a00), _mm512_mask_storeu_ps(y0 + 16, m1, a01);
            _mm512_mask_storeu_ps(y0 + outputs, m0, a10), _mm512_mask_storeu_ps(y0 + outputs + 16, m1, a11);
            _mm512_mask_storeu_ps(y0 + 2 * outputs, m0, a20), _mm512_mask_storeu_ps(y0 + 2 * outputs + 16, m1, a21);
            _mm512_mask_storeu_ps(y0 + 3 * outputs, m0, a30), _mm512_mask_storeu_ps(y0 + 3 * outputs + 16, m1, a31);
            _mm512_mask_storeu_ps(y0 + 4 * outputs, m0, a40), _mm512_mask_storeu_ps(y0 + 4 * outputs + 16, m1, a41);
            _mm512_mask_storeu_ps(y0 + 5 * outputs, m0, a50), _mm512_mask_storeu_ps(y0 + 5 * outputs + 16, m1, a51);
        }
        for (; r < rows; r++) {
            const unsigned int *xr = rounded + r * pairs;
            __m512 a00 = b0, a01 = b1;
            for (long k = 0; k < pairs; k++) {
                __m512bh w0 = (__m512bh)_mm512_loadu_si512(p0 + k * 32), w1 = (__m512bh)_mm512_loadu_si512(p1 + k * 32),
                         s;
                BF16_STEP(0)
            }
            float *y0 = y + (row_start + r) * outputs + p * 16;
            _mm512_mask_storeu_ps(y0, m0, a00), _mm512_mask_storeu_ps(y0 + 16, m1, a01);
        }
    }
    if (p < panels) {
        // An odd last panel: one column of sixteen outputs.
        const unsigned short *p0 = packed + p * pairs * 32;
        __m512 b0 = _mm512_loadu_ps(bias + p * 16);
        __mmask16 m0 = columns_mask(outputs, p);
        for (long r = 0; r < rows; r++) {
            const unsigned int *xr = rounded + r * pairs;
            __m512 a = b0;
            for (long k = 0; k < pairs; k++) {
                a = _mm512_dpbf16_ps(a, (__m512bh)_mm512_loadu_si512(p0 + k * 32),
                                     (__m512bh)_mm512_set1_epi32((int)xr[k]));
            }
            _mm512_mask_storeu_ps(y + (row_start + r) * outputs + p * 16, m0, a);
        }
    }
}

// e^x for eight lanes: 2^n * e^r with n = round(x / ln 2) and r = x - n ln 2 (ln 2 in two parts, so r is exact),
// e^r by Cephes' degree-6 polynomial. Relative error under 2e-7 (about one float ulp) over [-87, 88].
__attribute__((target("avx2,fma"))) static inline __m256 exp8(__m256 x) {
    x = _mm256_max_ps(_mm256_min_ps(x, _mm256_set1_ps(88.0f)), _mm256_set1_ps(-87.0f));
    __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
                               _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);
    r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
    __m256 p = _mm256_set1_ps(1.9875691500e-4f);
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.3981999507e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.3334519073e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.1665795894e-2f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.6666665459e-1f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(5.0000001201e-1f));
    p = _mm256_fmadd_ps(p, _mm256_mul_ps(r, r), _mm256_add_ps(r, _mm256_set1_ps(1.0f)));
    __m256i scale = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
    return _mm256_mul_ps(p, _mm256_castsi256_ps(scale));
}

// erf for eight lanes: the odd/even rational approximation on [-4, 4] (beyond it erf is +-1 in float) used by
// Eigen and XLA for float. Absolute error under 4e-7.
__attribute__((target("avx2,fma"))) static inline __m256 erf8(__m256 x) {
    x = _mm256_max_ps(_mm256_min_ps(x, _mm256_set1_ps(4.0f)), _mm256_set1_ps(-4.0f));
    __m256 x2 = _mm256_mul_ps(x, x);
    __m256 p = _mm256_fmadd_ps(x2, _mm256_set1_ps(-2.72614225801306e-10f), _mm256_set1_ps(2.77068142495902e-08f));
    p = _mm256_fmadd_ps(x2, p, _mm256_set1_ps(-2.10102402082508e-06f));
    p = _mm256_fmadd_ps(x2, p, _mm256_set1_ps(-5.69250639462346e-05f));
    p = _mm256_fmadd_ps(x2, p, _mm256_set1_ps(-7.34990630326855e-04f));
    p = _mm256_fmadd_ps(x2, p, _mm256_set1_ps(-2.95459980854025e-03f));
    p = _mm256_fmadd_ps(x2, p, _mm256_set1_ps(-1.60960333262415e-02f));
    p = _mm256_mul_ps(x, p);
    __m256 q = _mm256_fmadd_ps(x2, _mm256_set1_ps(-1.45660718464996e-05f), _mm256_set1_ps(-2.13374055278905e-04f));
    q = _mm256_fmadd_ps(x2, q, _mm256_set1_ps(-1.68282697438203e-03f));
    q = _mm256_fmadd_ps(x2, q, _mm256_set1_ps(-7.37332916720468e-03f));
    q = _mm256_fmadd_ps(x2, q, _mm256_set1_ps(-1.42647390514189e-02f));
    return _mm256_div_ps(p, q);
}

__attribute__((target("avx2,fma"))) static inline __m256 gelu8(__m256 x) {
    __m256 half = _mm256_mul_ps(x, _mm256_set1_ps(0.5f));
    __m256 erf = erf8(_mm256_mul_ps(x, _mm256_set1_ps(0.70710678118654752f)));
    return _mm256_fmadd_ps(half, erf, half);
}

__attribute__((target("avx2,fma"))) void osprey_gelu_avx2(float *values, long count) {
    long i = 0;
    for (; i + 8 <= count; i += 8) _mm256_storeu_ps(values + i, gelu8(_mm256_loadu_ps(values + i)));
    if (i < count) {
        float lanes[8] = {0};
        memcpy(lanes, values + i, (size_t)(count - i) * sizeof(float));
        _mm256_storeu_ps(lanes, gelu8(_mm256_loadu_ps(lanes)));
        memcpy(values + i, lanes, (size_t)(count - i) * sizeof(float));
    }
}

// The raw scores of ROWS queries (q rows at base + (t + i) * stride) against the transposed keys, 32 keys at a
// time: ROWS x 4 accumulators, four key loads and ROWS broadcasts per step of d, so the loop is bound by its
// multiply-adds rather than its loads. ROWS is a constant at each call, so the arrays live in registers: two rows
// keep every value in AVX2's sixteen (eight accumulators, four keys or values, a broadcast); three spilled and ran
// 20 % slower.
#define ATTEND_ROWS 2

// The product of ROWS rows of a (row i at a + i * a_row) with `depth` rows of b (row k at b + k * b_row), in
// `blocks` x 8 columns (4 or 1): acc[i][n] = sum over k of a[i][k] * b[k][8n .. 8n + 7]. ROWS and `blocks` are
// constants at each call, so the loops unroll and the accumulators stay in registers. Attention's scores (queries
// times transposed keys) and its weighted values (weights times values) are both this product.
__attribute__((target("avx2,fma"), always_inline)) static inline void
block_product(int rows, int blocks, const float *a, long a_row, const float *b, long b_row, long depth,
              __m256 acc[ATTEND_ROWS][4]) {
    for (int i = 0; i < rows; i++)
        for (int n = 0; n < blocks; n++) acc[i][n] = _mm256_setzero_ps();
    for (long k = 0; k < depth; k++) {
        __m256 column[4];
        for (int n = 0; n < blocks; n++) column[n] = _mm256_loadu_ps(b + k * b_row + n * 8);
        for (int i = 0; i < rows; i++) {
            __m256 x = _mm256_broadcast_ss(a + i * a_row + k);
            for (int n = 0; n < blocks; n++) acc[i][n] = _mm256_fmadd_ps(column[n], x, acc[i][n]);
        }
    }
}

// The raw scores of ROWS queries (q rows at base + (t + i) * stride) against the transposed keys, 32 keys at a
// time (then 8): ROWS x 4 accumulators, four key loads and ROWS broadcasts per step of d, so the loop is bound by its
// multiply-adds rather than its loads. Two rows keep every value in AVX2's sixteen registers (eight accumulators,
// four keys or values, a broadcast); three spilled and ran 20 % slower.
__attribute__((target("avx2,fma"), always_inline)) static inline void
score_rows(int rows, const float *base, long stride, long t, long head_size, const float *keys, long padded,
           float *scores) {
    __m256 a[ATTEND_ROWS][4];
    long j = 0;
    for (; j + 32 <= padded; j += 32) {
        block_product(rows, 4, base + t * stride, stride, keys + j, padded, head_size, a);
        for (int i = 0; i < rows; i++)
            for (int b = 0; b < 4; b++) _mm256_storeu_ps(scores + i * padded + j + b * 8, a[i][b]);
    }
    for (; j < padded; j += 8) {
        block_product(rows, 1, base + t * stride, stride, keys + j, padded, head_size, a);
        for (int i = 0; i < rows; i++) _mm256_storeu_ps(scores + i * padded + j, a[i][0]);
    }
}

// One query row's softmax over its first `length` scores (times `scale`), in place; the padding up to the next
// multiple of 8 (`padded`) is set to zero. Returns 1 / the sum of the weights.
__attribute__((target("avx2,fma"))) static inline float softmax_row(float *scores, long length, float scale) {
    __m256 largest = _mm256_set1_ps(-__builtin_inff());
    long c = 0;
    for (; c + 8 <= length; c += 8) largest = _mm256_max_ps(largest, _mm256_loadu_ps(scores + c));
    float spill[8];
    _mm256_storeu_ps(spill, largest);
    float top = spill[0];
    for (int l = 1; l < 8; l++) top = spill[l] > top ? spill[l] : top;
    for (; c < length; c++) top = scores[c] > top ? scores[c] : top;
    __m256 shift = _mm256_set1_ps(top * scale), factor = _mm256_set1_ps(scale), total = _mm256_setzero_ps();
    for (c = 0; c + 8 <= length; c += 8) {
        __m256 weight = exp8(_mm256_fmsub_ps(_mm256_loadu_ps(scores + c), factor, shift));
        _mm256_storeu_ps(scores + c, weight);
        total = _mm256_add_ps(total, weight);
    }
    float sum = 0;
    if (c < length) {
        // The last partial lane: padding lanes are forced to weight zero.
        __m256 weight = exp8(_mm256_fmsub_ps(_mm256_loadu_ps(scores + c), factor, shift));
        _mm256_storeu_ps(spill, weight);
        for (long l = 0; l < 8; l++) {
            float w = c + l < length ? spill[l] : 0;
            scores[c + l] = w;
            sum += w;
        }
    }
    _mm256_storeu_ps(spill, total);
    for (int l = 0; l < 8; l++) sum += spill[l];
    return 1 / sum;
}

// out[t + i] = (sum over c of weight[i][c] * v[c]) * inverse[i] for ROWS rows, 32 output dimensions at a time
// (then 8).
__attribute__((target("avx2,fma"), always_inline)) static inline void
weigh_rows(int rows, const float *values, long stride, long head_size, long length, const float *scores,
           long padded, const float *inverse, float *out, long out_stride) {
    __m256 a[ATTEND_ROWS][4];
    long block = 0;
    for (; block + 32 <= head_size; block += 32) {
        block_product(rows, 4, scores, padded, values + block, stride, length, a);
        for (int i = 0; i < rows; i++) {
            __m256 s = _mm256_set1_ps(inverse[i]);
            for (int b = 0; b < 4; b++)
                _mm256_storeu_ps(out + i * out_stride + block + b * 8, _mm256_mul_ps(a[i][b], s));
        }
    }
    for (; block < head_size; block += 8) {
        block_product(rows, 1, scores, padded, values + block, stride, length, a);
        for (int i = 0; i < rows; i++)
            _mm256_storeu_ps(out + i * out_stride + block, _mm256_mul_ps(a[i][0], _mm256_set1_ps(inverse[i])));
    }
}

__attribute__((target("avx2,fma"), always_inline)) static inline void
attend_rows(int rows, const float *base, long stride, long hidden, long head_size, long length, float scale,
            long t, const float *keys, long padded, float *scores, float *out, long out_stride) {
    score_rows(rows, base, stride, t, head_size, keys, padded, scores);
    float inverse[ATTEND_ROWS];
    for (int i = 0; i < rows; i++) inverse[i] = softmax_row(scores + i * padded, length, scale);
    weigh_rows(rows, base + 2 * hidden, stride, head_size, length, scores, padded, inverse, out + t * out_stride,
               out_stride);
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
    long t = 0;
    for (; t + ATTEND_ROWS <= length; t += ATTEND_ROWS)
        attend_rows(ATTEND_ROWS, base, stride, hidden, head_size, length, scale, t, keys, padded, scores, out,
                    out_stride);
    for (; t < length; t++)
        attend_rows(1, base, stride, hidden, head_size, length, scale, t, keys, padded, scores, out, out_stride);
}

__attribute__((target("avx2,fma"))) float osprey_fma_peak(long iterations) {
    __m256 a[12];
    for (int i = 0; i < 12; i++) a[i] = _mm256_set1_ps((float)i * 0.001f);
    __m256 x = _mm256_set1_ps(0.9999f), y = _mm256_set1_ps(0.0001f);
    for (long n = 0; n < iterations; n++) {
        for (int i = 0; i < 12; i++) a[i] = _mm256_fmadd_ps(a[i], x, y);
    }
    float lanes[8], sum = 0;
    for (int i = 0; i < 12; i++) {
        _mm256_storeu_ps(lanes, a[i]);
        sum += lanes[0];
    }
    return sum;
}

BF16_TARGET float osprey_bf16_peak(long iterations) {
    __m512 a[12];
    for (int i = 0; i < 12; i++) a[i] = _mm512_set1_ps((float)i * 0.001f);
    __m512bh x = (__m512bh)_mm512_set1_epi16(0x3f80), y = (__m512bh)_mm512_set1_epi16(0x3000); // 1 and 2^-31
    for (long n = 0; n < iterations; n++) {
        for (int i = 0; i < 12; i++) a[i] = _mm512_dpbf16_ps(a[i], x, y);
    }
    float sum = 0;
    for (int i = 0; i < 12; i++) sum += _mm512_reduce_add_ps(a[i]);
    return sum;
}

#else

int osprey_cpu_has_avx512_bf16(void) { return 0; }

float osprey_bf16_peak(long iterations) {
    (void)iterations;
    return 0;
}

void osprey_dense_bf16(const float *x, long row_start, long row_end, long inputs, long outputs,
                       const unsigned short *packed, const float *bias, float *y, unsigned int *scratch) {
    (void)x, (void)row_start, (void)row_end, (void)inputs, (void)outputs, (void)packed, (void)bias, (void)y,
        (void)scratch;
}

int osprey_cpu_has_avx2_fma(void) { return 0; }

float osprey_fma_peak(long iterations) {
    (void)iterations;
    return 0;
}

void osprey_attend_avx2(const float *base, long stride, long hidden, long head_size, long length, float scale,
                        float *out, long out_stride, float *scratch) {
    (void)base, (void)stride, (void)hidden, (void)head_size, (void)length, (void)scale, (void)out, (void)out_stride,
        (void)scratch;
}

void osprey_dense_avx2(const float *x, long row_start, long row_end, long inputs, long outputs, const float *packed,
                       const float *bias, float *y) {
    (void)x, (void)row_start, (void)row_end, (void)inputs, (void)outputs, (void)packed, (void)bias, (void)y;
}

void osprey_gelu_avx2(float *values, long count) { (void)values, (void)count; }

#endif
