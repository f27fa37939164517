// Per-batch normalisation kernels; one launch each for the whole batch, bounds-checked so any
// batch size works with any block size.

// Confidence normalisation, the paper's Eq. 3: c'_ij = c_ij / sum_j c_ij (row L1 norm; the
// confidences are non-negative). A row summing to <= 0 gives zeros, never NaN. The sum is
// sequential; numpy's is pairwise, so results may differ from the reference in the last bit.
// conf: (B, J) float32 -> out: (B, J) float32. One thread per row.
extern "C" __global__ void normalize_confidence(const float* __restrict__ conf, int b, int j,
                                                float* __restrict__ out) {
    const int row = blockIdx.x * blockDim.x + threadIdx.x;
    if (row >= b) return;
    const float* c = conf + static_cast<size_t>(row) * j;
    float sum = 0.0f;
    for (int k = 0; k < j; ++k) sum += c[k];
    const float inv = sum > 0.0f ? 1.0f / sum : 0.0f;
    float* o = out + static_cast<size_t>(row) * j;
    for (int k = 0; k < j; ++k) o[k] = c[k] * inv;
}

// Keypoints from pixels to the normalised screen frame (core.camera.normalize_screen):
// u_n = (2u - w)/L, v_n = (2v - h)/L, L = max(w, h) the long side (aspect kept), with each
// sample's own image size.
// uv: (B, J, 2) float32 pixels; size: (B, 2) float32 (width, height) -> out: (B, J, 2).
// One thread per keypoint.
extern "C" __global__ void normalize_keypoints(const float* __restrict__ uv, const float* __restrict__ size,
                                               int b, int j, float* __restrict__ out) {
    const int idx = blockIdx.x * blockDim.x + threadIdx.x;  // in [0, b * j)
    if (idx >= b * j) return;
    const int row = idx / j;
    const float w = size[2 * row], h = size[2 * row + 1];
    const float l = h > w ? h : w;
    const float s = 2.0f / l;
    // __fmul_rn: round the product before the subtraction (no FMA contraction), as numpy does.
    out[2 * idx] = __fmul_rn(uv[2 * idx], s) - w / l;
    out[2 * idx + 1] = __fmul_rn(uv[2 * idx + 1], s) - h / l;
}
