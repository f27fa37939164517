// Batched heatmap decoding: arg-max with sub-pixel refinement, the maximum as confidence.
// One launch for the whole batch: one block per heatmap (batch * joints blocks).
//
// heatmaps: (M, H, W) float32, M = batch * joints, row-major
// xy:       (M, 2)    float32, (x, y) of the peak in heatmap pixels, refined to sub-pixel
// conf:     (M,)      float32, the heatmap's maximum value
//
// Refinement: a parabola through the peak and its two neighbours on each axis,
// offset = (l - r) / (2 (l - 2c + r)), in [-0.5, 0.5]; skipped on the border and on flat tops.
// Ties go to the smallest flat index (what numpy's argmax returns), so GPU and reference agree;
// like numpy, a NaN counts as larger than any number (the first NaN wins).
// Launch: grid = M blocks of exactly DECODE_THREADS threads (a power of two: the tree reduction
// below halves it); H, W >= 1 (the caller checks), so every heatmap has a valid arg-max.

#include <climits>
#include <cmath>

#define DECODE_THREADS 256

// Does (v, i) come before (best, best_i) in numpy's argmax order?
__device__ __forceinline__ bool beats(float v, int i, float best, int best_i) {
    const bool v_nan = isnan(v), best_nan = isnan(best);
    if (v_nan != best_nan) return v_nan;
    if (!v_nan && v != best) return v > best;
    return i < best_i;
}

__device__ __forceinline__ float parabola_offset(float l, float c, float r) {
    const float d = l - 2.0f * c + r;
    return d < 0.0f ? (l - r) / (2.0f * d) : 0.0f;
}

extern "C" __global__ void decode_heatmaps(const float* __restrict__ heatmaps, int m, int h, int w,
                                           float* __restrict__ xy, float* __restrict__ conf) {
    const int k = blockIdx.x;  // heatmap index in [0, m)
    if (k >= m) return;
    const int n = h * w;
    const float* hm = heatmaps + static_cast<size_t>(k) * n;

    // A thread with no element keeps (-inf, INT_MAX), which any element beats (even -inf, on the
    // index), so the winner is always a real index: no read at hm[INT_MAX] for all -inf heatmaps.
    float best = -INFINITY;
    int best_i = INT_MAX;
    for (int i = threadIdx.x; i < n; i += blockDim.x) {
        const float v = hm[i];
        if (beats(v, i, best, best_i)) { best = v; best_i = i; }
    }
    __shared__ float s_val[DECODE_THREADS];
    __shared__ int s_idx[DECODE_THREADS];
    s_val[threadIdx.x] = best;
    s_idx[threadIdx.x] = best_i;
    __syncthreads();
    for (int stride = blockDim.x / 2; stride > 0; stride >>= 1) {
        if (threadIdx.x < stride) {
            const float v = s_val[threadIdx.x + stride];
            const int i = s_idx[threadIdx.x + stride];
            if (beats(v, i, s_val[threadIdx.x], s_idx[threadIdx.x])) {
                s_val[threadIdx.x] = v;
                s_idx[threadIdx.x] = i;
            }
        }
        __syncthreads();
    }
    if (threadIdx.x != 0) return;
    const int i = s_idx[0];
    const int px = i % w, py = i / w;
    const float c = hm[i];
    float dx = 0.0f, dy = 0.0f;
    if (px > 0 && px < w - 1) dx = parabola_offset(hm[i - 1], c, hm[i + 1]);
    if (py > 0 && py < h - 1) dy = parabola_offset(hm[i - w], c, hm[i + w]);
    xy[2 * k] = static_cast<float>(px) + dx;
    xy[2 * k + 1] = static_cast<float>(py) + dy;
    conf[k] = c;
}
