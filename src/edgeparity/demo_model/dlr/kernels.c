/*
 * Kernels of the edgeparity demo model, for the DLR graph runtime.
 *
 * What this is: the operator library of a hand-built DLR "graph executor" artifact
 * (model.so + model.json + model.params), the same shape of artifact SageMaker Neo or TVM
 * produce. Neo and a DLR-compatible TVM compiler cannot be had everywhere, so the demo model's
 * operators are written here in plain C and compiled by the environment's own C compiler.
 * Users point edgeparity at their own Neo output instead; nothing here is used for it.
 *
 * How the runtime calls us: the graph JSON names, per operator node, a `func_name`. libdlr's
 * embedded TVM runtime looks that symbol up with dlsym() and calls it with TVM's
 * packed-function C ABI:
 *
 *     int f(TVMValue *args, int *type_codes, int num_args,
 *           TVMValue *out_ret_value, int *out_ret_tcode, void *resource_handle);
 *
 * Every argument is a DLTensor pointer (type code 7, kTVMDLTensorHandle): first the node's
 * inputs in graph order, then its outputs. The runtime owns all memory. We return 0 on
 * success; on failure we report through the `__TVMAPISetLastError` function pointer that the
 * runtime fills in when it loads this library, and return -1.
 *
 * Numerics: float32 data, float32 accumulation in a fixed loop order. Build with
 * -ffp-contract=off so that no compiler fuses a*b+c into one FMA: every product and sum is
 * rounded on its own, whether or not the target has FMA (aarch64 has it in its base
 * instruction set, baseline x86_64 does not).
 */

#include <stdint.h>
#include <stdio.h>

/* ---- the parts of dlpack.h / TVM's c_runtime_api.h this library relies on (ABI) ---- */

typedef struct {
    int device_type; /* kDLCPU = 1 */
    int device_id;
} DemoDevice;

typedef struct {
    uint8_t code; /* kDLFloat = 2 */
    uint8_t bits;
    uint16_t lanes;
} DemoDataType;

typedef struct {
    void *data;
    DemoDevice device;
    int ndim;
    DemoDataType dtype;
    int64_t *shape;
    int64_t *strides; /* NULL means compact row-major */
    uint64_t byte_offset;
} DemoTensor;

typedef union {
    int64_t v_int64;
    double v_float64;
    void *v_handle;
    const char *v_str;
} DemoValue;

#define TYPE_CODE_DLTENSOR_HANDLE 7
#define DTYPE_CODE_FLOAT 2

/* Filled in by the TVM runtime when it loads this library (InitContextFunctions). */
#define EXPORT __attribute__((visibility("default")))
EXPORT void *__tvm_module_ctx = NULL;
EXPORT void (*__TVMAPISetLastError)(const char *msg) = NULL;

static int fail(const char *func_name, const char *what) {
    char message[256];
    snprintf(message, sizeof message, "edgeparity demo kernel %s: %s", func_name, what);
    if (__TVMAPISetLastError != NULL) {
        __TVMAPISetLastError(message);
    }
    return -1;
}

/* Check the calling convention and fetch the tensors; NULL-terminated reason on failure. */
static const char *unpack(DemoValue *args, int *type_codes, int num_args, int expected_args,
                          const int *expected_ndims, DemoTensor **tensors) {
    int i;
    if (num_args != expected_args) {
        return "wrong number of arguments";
    }
    for (i = 0; i < num_args; i++) {
        DemoTensor *t;
        if (type_codes[i] != TYPE_CODE_DLTENSOR_HANDLE) {
            return "an argument is not a DLTensor";
        }
        t = (DemoTensor *)args[i].v_handle;
        if (t->dtype.code != DTYPE_CODE_FLOAT || t->dtype.bits != 32 || t->dtype.lanes != 1) {
            return "only float32 tensors are supported";
        }
        if (t->ndim != expected_ndims[i]) {
            return "a tensor has an unexpected number of dimensions";
        }
        if (t->strides != NULL) {
            return "only compact (stride-free) tensors are supported";
        }
        tensors[i] = t;
    }
    return NULL;
}

static float *data_of(const DemoTensor *t) {
    return (float *)((char *)t->data + t->byte_offset);
}

/* out = relu(conv2d(x, w, stride, pad=1) + b) for 3x3 kernels, NCHW / OIHW. */
static int conv3x3_bias_relu(const char *name, DemoValue *args, int *type_codes, int num_args,
                             int stride) {
    static const int ndims[4] = {4, 4, 1, 4};
    DemoTensor *t[4];
    const char *problem = unpack(args, type_codes, num_args, 4, ndims, t);
    int64_t n, co, ci, oy, ox, ky, kx;
    int64_t batch, in_c, in_h, in_w, out_c, out_h, out_w;
    const float *x, *w, *b;
    float *y;
    if (problem != NULL) {
        return fail(name, problem);
    }
    batch = t[0]->shape[0];
    in_c = t[0]->shape[1];
    in_h = t[0]->shape[2];
    in_w = t[0]->shape[3];
    out_c = t[1]->shape[0];
    out_h = t[3]->shape[2];
    out_w = t[3]->shape[3];
    if (t[1]->shape[1] != in_c || t[1]->shape[2] != 3 || t[1]->shape[3] != 3 ||
        t[2]->shape[0] != out_c || t[3]->shape[0] != batch || t[3]->shape[1] != out_c ||
        out_h != (in_h + 2 - 3) / stride + 1 || out_w != (in_w + 2 - 3) / stride + 1) {
        return fail(name, "tensor shapes do not fit a 3x3 convolution with padding 1");
    }
    x = data_of(t[0]);
    w = data_of(t[1]);
    b = data_of(t[2]);
    y = data_of(t[3]);
    for (n = 0; n < batch; n++) {
        for (co = 0; co < out_c; co++) {
            for (oy = 0; oy < out_h; oy++) {
                for (ox = 0; ox < out_w; ox++) {
                    float acc = 0.0f;
                    for (ci = 0; ci < in_c; ci++) {
                        for (ky = 0; ky < 3; ky++) {
                            int64_t iy = oy * stride + ky - 1;
                            if (iy < 0 || iy >= in_h) {
                                continue;
                            }
                            for (kx = 0; kx < 3; kx++) {
                                int64_t ix = ox * stride + kx - 1;
                                if (ix < 0 || ix >= in_w) {
                                    continue;
                                }
                                acc += x[((n * in_c + ci) * in_h + iy) * in_w + ix] *
                                       w[((co * in_c + ci) * 3 + ky) * 3 + kx];
                            }
                        }
                    }
                    acc += b[co];
                    y[((n * out_c + co) * out_h + oy) * out_w + ox] = acc > 0.0f ? acc : 0.0f;
                }
            }
        }
    }
    return 0;
}

EXPORT int demo_conv3x3_stride2_bias_relu(DemoValue *args, int *type_codes, int num_args,
                                          DemoValue *out_ret_value, int *out_ret_tcode,
                                          void *resource_handle) {
    (void)out_ret_value;
    (void)out_ret_tcode;
    (void)resource_handle;
    return conv3x3_bias_relu("demo_conv3x3_stride2_bias_relu", args, type_codes, num_args, 2);
}

EXPORT int demo_conv3x3_stride1_bias_relu(DemoValue *args, int *type_codes, int num_args,
                                          DemoValue *out_ret_value, int *out_ret_tcode,
                                          void *resource_handle) {
    (void)out_ret_value;
    (void)out_ret_tcode;
    (void)resource_handle;
    return conv3x3_bias_relu("demo_conv3x3_stride1_bias_relu", args, type_codes, num_args, 1);
}

/* out = max over each non-overlapping 2x2 window (stride 2, no padding). */
EXPORT int demo_maxpool2x2(DemoValue *args, int *type_codes, int num_args,
                           DemoValue *out_ret_value, int *out_ret_tcode, void *resource_handle) {
    static const char *name = "demo_maxpool2x2";
    static const int ndims[2] = {4, 4};
    DemoTensor *t[2];
    const char *problem = unpack(args, type_codes, num_args, 2, ndims, t);
    int64_t planes, p, oy, ox, in_h, in_w, out_h, out_w;
    const float *x;
    float *y;
    (void)out_ret_value;
    (void)out_ret_tcode;
    (void)resource_handle;
    if (problem != NULL) {
        return fail(name, problem);
    }
    in_h = t[0]->shape[2];
    in_w = t[0]->shape[3];
    out_h = t[1]->shape[2];
    out_w = t[1]->shape[3];
    if (t[1]->shape[0] != t[0]->shape[0] || t[1]->shape[1] != t[0]->shape[1] ||
        out_h != in_h / 2 || out_w != in_w / 2) {
        return fail(name, "output shape is not the input shape halved");
    }
    planes = t[0]->shape[0] * t[0]->shape[1];
    x = data_of(t[0]);
    y = data_of(t[1]);
    for (p = 0; p < planes; p++) {
        const float *plane = x + p * in_h * in_w;
        for (oy = 0; oy < out_h; oy++) {
            for (ox = 0; ox < out_w; ox++) {
                const float *window = plane + (2 * oy) * in_w + 2 * ox;
                float m = window[0];
                if (window[1] > m) m = window[1];
                if (window[in_w] > m) m = window[in_w];
                if (window[in_w + 1] > m) m = window[in_w + 1];
                y[(p * out_h + oy) * out_w + ox] = m;
            }
        }
    }
    return 0;
}

/* out[n, c] = mean of x[n, c, :, :]  (global average pooling, then flatten). */
EXPORT int demo_global_avg_pool_flatten(DemoValue *args, int *type_codes, int num_args,
                                        DemoValue *out_ret_value, int *out_ret_tcode,
                                        void *resource_handle) {
    static const char *name = "demo_global_avg_pool_flatten";
    static const int ndims[2] = {4, 2};
    DemoTensor *t[2];
    const char *problem = unpack(args, type_codes, num_args, 2, ndims, t);
    int64_t planes, p, i, area;
    const float *x;
    float *y;
    (void)out_ret_value;
    (void)out_ret_tcode;
    (void)resource_handle;
    if (problem != NULL) {
        return fail(name, problem);
    }
    if (t[1]->shape[0] != t[0]->shape[0] || t[1]->shape[1] != t[0]->shape[1]) {
        return fail(name, "output shape is not (batch, channels)");
    }
    planes = t[0]->shape[0] * t[0]->shape[1];
    area = t[0]->shape[2] * t[0]->shape[3];
    x = data_of(t[0]);
    y = data_of(t[1]);
    for (p = 0; p < planes; p++) {
        float sum = 0.0f;
        for (i = 0; i < area; i++) {
            sum += x[p * area + i];
        }
        y[p] = sum / (float)area;
    }
    return 0;
}

/* out = x . w^T + b, with w of shape (units, features) as in MXNet FullyConnected / ONNX Gemm. */
EXPORT int demo_dense_bias(DemoValue *args, int *type_codes, int num_args,
                           DemoValue *out_ret_value, int *out_ret_tcode, void *resource_handle) {
    static const char *name = "demo_dense_bias";
    static const int ndims[4] = {2, 2, 1, 2};
    DemoTensor *t[4];
    const char *problem = unpack(args, type_codes, num_args, 4, ndims, t);
    int64_t n, u, f, batch, features, units;
    const float *x, *w, *b;
    float *y;
    (void)out_ret_value;
    (void)out_ret_tcode;
    (void)resource_handle;
    if (problem != NULL) {
        return fail(name, problem);
    }
    batch = t[0]->shape[0];
    features = t[0]->shape[1];
    units = t[1]->shape[0];
    if (t[1]->shape[1] != features || t[2]->shape[0] != units || t[3]->shape[0] != batch ||
        t[3]->shape[1] != units) {
        return fail(name, "tensor shapes do not fit a dense layer");
    }
    x = data_of(t[0]);
    w = data_of(t[1]);
    b = data_of(t[2]);
    y = data_of(t[3]);
    for (n = 0; n < batch; n++) {
        for (u = 0; u < units; u++) {
            float acc = 0.0f;
            for (f = 0; f < features; f++) {
                acc += x[n * features + f] * w[u * features + f];
            }
            y[n * units + u] = acc + b[u];
        }
    }
    return 0;
}
