#ifndef OSPREY_KERNELS_H
#define OSPREY_KERNELS_H

/// Whether this CPU runs AVX2 with FMA (checked once; false on other architectures).
int osprey_cpu_has_avx2_fma(void);

/// y[r][o] = bias[o] + sum_k x[r][k] * W[o][k] for rows r in [row_start, row_end), with W packed as DenseLayer
/// packs it: panels of 8 outputs, panel p holding inputs x 8 floats (row k: the weights from input k to outputs
/// 8p ..< 8p+8), bias zero-padded to whole panels. Only call when osprey_cpu_has_avx2_fma() is true.
void osprey_dense_avx2(const float *x, long row_start, long row_end, long inputs, long outputs,
                       const float *packed, const float *bias, float *y);

/// Whether this CPU runs AVX-512 with BF16 dot products (AVX512F, AVX512BW, AVX512VL and AVX512_BF16; checked
/// once; false on other architectures). Such a CPU also runs AVX2 with FMA.
int osprey_cpu_has_avx512_bf16(void);

/// The product osprey_dense_avx2 computes, with the weights and the rows of x rounded to bfloat16 and the sums kept
/// in float (AVX-512 BF16 dot products: twice the multiply-adds of FP32 FMAs per instruction). W is packed in
/// panels of 16 outputs: panel p holds pairs = (inputs + 1) / 2 blocks of 32 bfloat16, block k the weights from
/// inputs 2k and 2k + 1 to outputs 16p ..< 16p+16, interleaved (output o's two weights at 2o and 2o + 1; zero past
/// the last input or output); bias zero-padded to whole panels. scratch holds (row_end - row_start) * pairs words
/// (the rows of x rounded). Only call when osprey_cpu_has_avx512_bf16() is true.
void osprey_dense_bf16(const float *x, long row_start, long row_end, long inputs, long outputs,
                       const unsigned short *packed, const float *bias, float *y, unsigned int *scratch);

/// Self-attention of one head of one sequence: softmax(q·kᵀ·scale)·v. Row t's query, key and value start at
/// base + t*stride, + hidden and + 2*hidden, each head_size floats (a multiple of 8); row t of the result goes to
/// out + t*out_stride. scratch holds (head_size + 2)*padded floats, padded = length rounded up to 8. Two query
/// rows are scored and weighed at a time; the softmax's exponentials are vectorized (relative error < 2e-7).
void osprey_attend_avx2(const float *base, long stride, long hidden, long head_size, long length, float scale,
                        float *out, long out_stride, float *scratch);

/// values[i] = GELU(values[i]) = values[i]/2 * (1 + erf(values[i]/sqrt 2)), with a vectorized erf (absolute error
/// < 4e-7).
void osprey_gelu_avx2(float *values, long count);

/// Runs `iterations` steps of twelve independent chains of eight-lane fused multiply-adds (192 floating-point
/// operations a step) and returns a checksum: timed, it gives the core's peak FMA rate. Only with AVX2/FMA.
float osprey_fma_peak(long iterations);

/// The same as osprey_fma_peak with sixteen-lane BF16 dot products (twelve chains, 768 floating-point operations a
/// step): the peak of the BF16 kernel. Only with AVX-512 BF16.
float osprey_bf16_peak(long iterations);

#endif
