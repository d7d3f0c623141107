// tensor.h: a tensor is a data pointer and a shape (DESIGN.md "Memory").
//
// Always contiguous and row-major; no strides. The shape is zero-terminated: ndim is the number of
// leading nonzero entries and numel their product. The data pointer is host or device memory
// depending on the arena the tensor was registered with (arena.h); the tensor itself does not know.
#ifndef PUFFER_TENSOR_H
#define PUFFER_TENSOR_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define PT_MAX_DIMS 8

typedef enum {
    PT_F32 = 0,   // matches PK_F32
    PT_BF16 = 1,  // matches PK_BF16 (stored as uint16)
    PT_I32,
    PT_U8,
    PT_F64,
    PT_U64,
    PT_BYTES,     // raw workspace, element size 1
} PtDtype;

typedef struct {
    void* data;
    int64_t shape[PT_MAX_DIMS];
    int dtype;
} PTensor;

static inline size_t pt_elem_size(int dtype) {
    switch (dtype) {
        case PT_F32: case PT_I32: return 4;
        case PT_BF16: return 2;
        case PT_F64: case PT_U64: return 8;
        default: return 1;
    }
}

static inline int pt_ndim(const PTensor* t) {
    int n = 0;
    while (n < PT_MAX_DIMS && t->shape[n] != 0) n++;
    return n;
}

static inline int64_t pt_numel(const PTensor* t) {
    int64_t n = 1;
    for (int i = 0; i < PT_MAX_DIMS && t->shape[i] != 0; i++) n *= t->shape[i];
    return n;
}

static inline size_t pt_bytes(const PTensor* t) {
    return (size_t)pt_numel(t) * pt_elem_size(t->dtype);
}

// A tensor of up to four dims (trailing zeros end the shape). data is set when an arena is created.
static inline PTensor pt_make(int dtype, int64_t d0, int64_t d1, int64_t d2, int64_t d3) {
    PTensor t;
    t.data = NULL;
    for (int i = 0; i < PT_MAX_DIMS; i++) t.shape[i] = 0;
    t.shape[0] = d0;
    t.shape[1] = d0 ? d1 : 0;
    t.shape[2] = d0 && d1 ? d2 : 0;
    t.shape[3] = d0 && d1 && d2 ? d3 : 0;
    t.dtype = dtype;
    return t;
}

// Typed access (no checks: the trainer knows what it registered).
#define PT_F(t) ((float*)(t).data)
#define PT_I(t) ((int32_t*)(t).data)
#define PT_D(t) ((double*)(t).data)

#ifdef __cplusplus
}
#endif
#endif
