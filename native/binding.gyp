# The deepgen native addon: BLAS-backed sgemm, NHWC conv2d, group norm and strided copies for the `native` backend.
# Portable flags (x86-64-v2 baseline); the built-in GEMM micro-kernel picks AVX2/FMA at run time.
{
  "targets": [
    {
      "target_name": "deepgen_native",
      "sources": ["src/addon.cc", "src/blas.cc", "src/gemm.cc", "src/conv.cc", "src/conv-direct.cc", "src/pool.cc", "src/norm.cc", "src/copy.cc", "src/bias.cc"],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": ["NAPI_VERSION=8", "NAPI_CPP_EXCEPTIONS", "NODE_ADDON_API_DISABLE_DEPRECATED"],
      "cflags!": ["-fno-exceptions", "-O2", "-O0"],
      "cflags_cc!": ["-fno-exceptions", "-fno-rtti", "-std=gnu++17", "-O2", "-O0"],
      "cflags": ["-O3", "-fno-math-errno", "-fno-trapping-math", "-pthread", "-Wno-psabi"],
      "cflags_cc": ["-O3", "-std=c++17", "-fno-math-errno", "-fno-trapping-math", "-pthread", "-Wno-psabi"],
      "libraries": ["-ldl", "-pthread"],
      "conditions": [
        ["target_arch=='x64'", {
          "cflags": ["-march=x86-64-v2", "-mtune=generic"],
          "cflags_cc": ["-march=x86-64-v2", "-mtune=generic"]
        }],
        ["OS=='mac'", {
          "xcode_settings": {
            "GCC_ENABLE_CPP_EXCEPTIONS": "YES",
            "OTHER_CPLUSPLUSFLAGS": ["-O3", "-std=c++17"]
          }
        }]
      ]
    }
  ]
}
