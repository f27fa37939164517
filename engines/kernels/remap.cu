// Joint-format remap into Human3.6M-17 (core.skeleton.JointMap): each H36M joint is the mean of
// up to 4 source joints, its confidence the minimum of theirs. One launch for the whole batch,
// one thread per (sample, H36M joint).
//
// points:  (B, N, 2) float32, source keypoints
// conf:    (B, N)    float32, source confidences
// sources: (17, 4)   int32, source indices per H36M joint padded with -1 (JointMap.padded_sources)
// out_pts: (B, 17, 2) float32; out_conf: (B, 17) float32

#define H36M_JOINTS 17
#define MAX_SOURCES 4

extern "C" __global__ void remap_joints(const float* __restrict__ points, const float* __restrict__ conf,
                                        const int* __restrict__ sources, int b, int n,
                                        float* __restrict__ out_pts, float* __restrict__ out_conf) {
    const int idx = blockIdx.x * blockDim.x + threadIdx.x;  // in [0, b * 17)
    if (idx >= b * H36M_JOINTS) return;
    const int row = idx / H36M_JOINTS, joint = idx % H36M_JOINTS;
    const float* p = points + static_cast<size_t>(row) * n * 2;
    const float* c = conf + static_cast<size_t>(row) * n;
    float x = 0.0f, y = 0.0f, cmin = 3.402823466e38f;
    int count = 0;
    for (int s = 0; s < MAX_SOURCES; ++s) {
        const int src = sources[joint * MAX_SOURCES + s];
        if (src < 0) break;
        x += p[2 * src];
        y += p[2 * src + 1];
        cmin = fminf(cmin, c[src]);
        ++count;
    }
    const float inv = count > 0 ? 1.0f / static_cast<float>(count) : 0.0f;
    out_pts[2 * idx] = x * inv;
    out_pts[2 * idx + 1] = y * inv;
    out_conf[idx] = count > 0 ? cmin : 0.0f;
}
