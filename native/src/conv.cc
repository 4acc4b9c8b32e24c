// NHWC conv2d via im2col + sgemm: forward, input gradient (also the transposed conv) and filter gradient.
// Images are processed in chunks so the column buffer stays around 16 MB; rows are (n, oh, ow), columns (kh, kw, c).
#include <algorithm>
#include <cstring>
#include <vector>

#include "kernels.h"

namespace dg {
namespace {

constexpr int64_t kColBudget = int64_t(4) << 20;  // floats

std::vector<float>& col_buffer(int64_t n) {
  static std::vector<float> buf;
  if (int64_t(buf.size()) < n) buf.resize(n);
  return buf;
}

bool is_pointwise(const ConvGeom& g) {
  return g.KH == 1 && g.KW == 1 && g.strideH == 1 && g.strideW == 1 && g.padTop == 0 && g.padLeft == 0 &&
         g.OH == g.H && g.OW == g.W;
}

int64_t images_per_chunk(const ConvGeom& g) {
  int64_t perImage = std::max<int64_t>(1, g.OH * g.OW * g.KH * g.KW * g.C);
  return std::max<int64_t>(1, std::min<int64_t>(g.N, kColBudget / perImage));
}

// cols[(n-n0)*OH*OW + oh*OW + ow, (kh*KW + kw)*C + c] = x[n, ih, iw, c] (0 outside the image).
void im2col(const ConvGeom& g, const float* x, int64_t n0, int64_t n1, float* cols) {
  const int64_t K = g.KH * g.KW * g.C, rows = (n1 - n0) * g.OH * g.OW;
  parallel_for(rows, 256, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; r++) {
      int64_t n = n0 + r / (g.OH * g.OW), rem = r % (g.OH * g.OW), oh = rem / g.OW, ow = rem % g.OW;
      float* dst = cols + r * K;
      for (int64_t kh = 0; kh < g.KH; kh++) {
        int64_t ih = oh * g.strideH - g.padTop + kh * g.dilH;
        for (int64_t kw = 0; kw < g.KW; kw++, dst += g.C) {
          int64_t iw = ow * g.strideW - g.padLeft + kw * g.dilW;
          if (ih < 0 || ih >= g.H || iw < 0 || iw >= g.W) std::memset(dst, 0, g.C * sizeof(float));
          else std::memcpy(dst, x + ((n * g.H + ih) * g.W + iw) * g.C, g.C * sizeof(float));
        }
      }
    }
  });
}

// dx[n, ih, iw, c] = sum of the cols entries that im2col would have copied from it (dx zeroed here).
void col2im(const ConvGeom& g, const float* cols, int64_t n0, int64_t n1, float* dx) {
  const int64_t K = g.KH * g.KW * g.C;
  parallel_for(n1 - n0, 1, [&](int64_t b, int64_t e) {
    for (int64_t n = n0 + b; n < n0 + e; n++) {
      float* img = dx + n * g.H * g.W * g.C;
      std::memset(img, 0, g.H * g.W * g.C * sizeof(float));
      const float* src = cols + (n - n0) * g.OH * g.OW * K;
      for (int64_t oh = 0; oh < g.OH; oh++)
        for (int64_t ow = 0; ow < g.OW; ow++) {
          for (int64_t kh = 0; kh < g.KH; kh++) {
            int64_t ih = oh * g.strideH - g.padTop + kh * g.dilH;
            for (int64_t kw = 0; kw < g.KW; kw++, src += g.C) {
              int64_t iw = ow * g.strideW - g.padLeft + kw * g.dilW;
              if (ih < 0 || ih >= g.H || iw < 0 || iw >= g.W) continue;
              float* d = img + (ih * g.W + iw) * g.C;
              for (int64_t c = 0; c < g.C; c++) d[c] += src[c];
            }
          }
        }
    }
  });
}

int g_conv_algo = 0;

}  // namespace

int conv_algo() { return g_conv_algo; }
void set_conv_algo(int algo) { g_conv_algo = algo; }

// y[rows, OC] = act(y + bias), in place (the im2col path's epilogue).
static void bias_relu(float* y, int64_t rows, int64_t OC, const float* bias, bool relu) {
  if (!bias && !relu) return;
  parallel_for(rows, 1024, [&](int64_t b, int64_t e) {
    for (int64_t r = b; r < e; r++) {
      float* row = y + r * OC;
      if (bias)
        for (int64_t j = 0; j < OC; j++) row[j] += bias[j];
      if (relu)
        for (int64_t j = 0; j < OC; j++) row[j] = row[j] > 0.f ? row[j] : 0.f;
    }
  });
}

void conv2d_forward(const ConvGeom& g, const float* x, const float* w, float* y, const float* bias, bool relu) {
  const int64_t K = g.KH * g.KW * g.C, rowsPer = g.OH * g.OW;
  if (g.N * rowsPer * g.OC == 0) return;
  if (K == 0) {
    std::memset(y, 0, g.N * rowsPer * g.OC * sizeof(float));
    bias_relu(y, g.N * rowsPer, g.OC, bias, relu);
    return;
  }
  if (is_pointwise(g)) {
    sgemm(false, false, g.N * rowsPer, g.OC, K, 1.f, x, K, w, g.OC, 0.f, y, g.OC);
    bias_relu(y, g.N * rowsPer, g.OC, bias, relu);
    return;
  }
  if (g_conv_algo != 1 && conv2d_direct_available()) {
    conv2d_forward_direct(g, x, w, y, bias, relu);
    return;
  }
  const int64_t chunk = images_per_chunk(g);
  float* cols = col_buffer(chunk * rowsPer * K).data();
  for (int64_t n0 = 0; n0 < g.N; n0 += chunk) {
    int64_t n1 = std::min(g.N, n0 + chunk), rows = (n1 - n0) * rowsPer;
    im2col(g, x, n0, n1, cols);
    sgemm(false, false, rows, g.OC, K, 1.f, cols, K, w, g.OC, 0.f, y + n0 * rowsPer * g.OC, g.OC);
  }
  bias_relu(y, g.N * rowsPer, g.OC, bias, relu);
}

void conv2d_backprop_input(const ConvGeom& g, const float* dy, const float* w, float* dx) {
  const int64_t K = g.KH * g.KW * g.C, rowsPer = g.OH * g.OW;
  if (g.N * g.H * g.W * g.C == 0) return;
  if (K == 0 || rowsPer == 0 || g.OC == 0) {
    std::memset(dx, 0, g.N * g.H * g.W * g.C * sizeof(float));
    return;
  }
  if (is_pointwise(g)) {
    sgemm(false, true, g.N * rowsPer, K, g.OC, 1.f, dy, g.OC, w, g.OC, 0.f, dx, K);
    return;
  }
  if (g_conv_algo != 1 && g.strideH == 1 && g.strideW == 1 && conv2d_direct_available()) {
    conv2d_backprop_input_direct(g, dy, w, dx);
    return;
  }
  const int64_t chunk = images_per_chunk(g);
  float* cols = col_buffer(chunk * rowsPer * K).data();
  for (int64_t n0 = 0; n0 < g.N; n0 += chunk) {
    int64_t n1 = std::min(g.N, n0 + chunk), rows = (n1 - n0) * rowsPer;
    // cols[rows, K] = dy[rows, OC] * W[K, OC]^T
    sgemm(false, true, rows, K, g.OC, 1.f, dy + n0 * rowsPer * g.OC, g.OC, w, g.OC, 0.f, cols, K);
    col2im(g, cols, n0, n1, dx);
  }
}

void conv2d_backprop_filter(const ConvGeom& g, const float* x, const float* dy, float* dw) {
  const int64_t K = g.KH * g.KW * g.C, rowsPer = g.OH * g.OW;
  if (K * g.OC == 0) return;
  if (g.N * rowsPer == 0) {
    std::memset(dw, 0, K * g.OC * sizeof(float));
    return;
  }
  if (g_conv_algo != 1 && !is_pointwise(g) && conv2d_backprop_filter_direct_applies(g)) {
    conv2d_backprop_filter_direct(g, x, dy, dw);
    return;
  }
  // dW^T[OC, K] = dy^T * cols runs ~20% faster in OpenBLAS than dW[K, OC] = cols^T * dy (a 288x64 output);
  // the small transpose at the end is free.
  std::vector<float> dwT(K * g.OC);
  if (is_pointwise(g)) {
    sgemm(true, false, g.OC, K, g.N * rowsPer, 1.f, dy, g.OC, x, K, 0.f, dwT.data(), K);
  } else {
    const int64_t chunk = images_per_chunk(g);
    float* cols = col_buffer(chunk * rowsPer * K).data();
    for (int64_t n0 = 0; n0 < g.N; n0 += chunk) {
      int64_t n1 = std::min(g.N, n0 + chunk), rows = (n1 - n0) * rowsPer;
      im2col(g, x, n0, n1, cols);
      // dW^T[OC, K] (+)= dy[rows, OC]^T * cols[rows, K]
      sgemm(true, false, g.OC, K, rows, 1.f, dy + n0 * rowsPer * g.OC, g.OC, cols, K, n0 == 0 ? 0.f : 1.f, dwT.data(), K);
    }
  }
  for (int64_t o = 0; o < g.OC; o++)
    for (int64_t k = 0; k < K; k++) dw[k * g.OC + o] = dwT[o * K + k];
}

}  // namespace dg
