// Batched heatmap decoding: arg-max with sub-pixel refinement, the maximum as confidence.
// One launch for the whole batch: one block per heatmap (batch * joints blocks).
//
// heatmaps: (M, H, W) float32, M = batch * joints, row-major
// xy:       (M, 2)    float32, (x, y) of the peak in heatmap pixels, refined to sub-pixel
// conf:     (M,)      float32, the heatmap's maximum value
//
// Refinement: a parabola through the peak and its two neighbours on each axis,
// offset = (l - r) / (2 (l - 2c + r)), in [-0.5, 0.5]; skipped on the border and on flat tops.
// Ties go to the smallest flat index (what numpy's argmax returns), so GPU and reference agree.

#include <cfloat>
#include <climits>

#define DECODE_THREADS 256

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

    float best = -FLT_MAX;
    int best_i = INT_MAX;
    for (int i = threadIdx.x; i < n; i += blockDim.x) {
        const float v = hm[i];
        if (v > best || (v == best && i < best_i)) { best = v; best_i = i; }
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
            if (v > s_val[threadIdx.x] || (v == s_val[threadIdx.x] && i < s_idx[threadIdx.x])) {
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
