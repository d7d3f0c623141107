// arena.c: see arena.h.
#include "arena.h"

#include <stdlib.h>
#include <string.h>

#define PA_HOST_ALIGN 64

static void* host_alloc(size_t bytes, void* ctx) {
    (void)ctx;
    size_t rounded = (bytes + PA_HOST_ALIGN - 1) / PA_HOST_ALIGN * PA_HOST_ALIGN;
    return aligned_alloc(PA_HOST_ALIGN, rounded ? rounded : PA_HOST_ALIGN);
}

static void host_free(void* ptr, void* ctx) {
    (void)ctx;
    free(ptr);
}

PAllocator pa_host_allocator(void) {
    PAllocator a = {host_alloc, host_free, NULL};
    return a;
}

void pa_init(PArena* a, const char* name) {
    memset(a, 0, sizeof(*a));
    a->name = name;
    a->flat_dtype = -1;
    a->align = PA_HOST_ALIGN;  // bytes: fine for vector loads on CPU and 128-bit loads on GPU
}

void pa_init_flat(PArena* a, const char* name, int dtype, int64_t align_elems) {
    pa_init(a, name);
    a->flat_dtype = dtype;
    a->align = align_elems;
}

int pa_register(PArena* a, PTensor* t) {
    if (a->flat_dtype >= 0 && t->dtype != a->flat_dtype) {
        a->failed = 1;
        return -1;
    }
    if (a->count == a->capacity) {
        int cap = a->capacity ? 2 * a->capacity : 32;
        PTensor** tensors = (PTensor**)realloc(a->tensors, (size_t)cap * sizeof(PTensor*));
        size_t* offsets = tensors ? (size_t*)realloc(a->offsets, (size_t)cap * sizeof(size_t)) : NULL;
        if (tensors) a->tensors = tensors;
        if (offsets == NULL) {
            a->failed = 1;
            return -1;
        }
        a->offsets = offsets;
        a->capacity = cap;
    }
    size_t es = pt_elem_size(t->dtype);
    size_t align = a->flat_dtype >= 0 ? (size_t)a->align * es : (size_t)a->align;
    size_t offset = (a->bytes + align - 1) / align * align;
    a->tensors[a->count] = t;
    a->offsets[a->count] = offset;
    a->count++;
    a->bytes = offset + pt_bytes(t);
    return 0;
}

int64_t pa_elem_offset(const PArena* a, int i) {
    return (int64_t)(a->offsets[i] / pt_elem_size(a->flat_dtype));
}

int64_t pa_flat_numel(const PArena* a) {
    size_t es = pt_elem_size(a->flat_dtype);
    size_t align = (size_t)a->align * es;
    size_t bytes = (a->bytes + align - 1) / align * align;
    return (int64_t)(bytes / es);
}

int pa_create(PArena* a, PAllocator allocator, int (*zero)(void* ptr, size_t bytes, void* ctx)) {
    if (a->failed) return -1;
    a->allocator = allocator;
    size_t bytes = a->flat_dtype >= 0 ? (size_t)pa_flat_numel(a) * pt_elem_size(a->flat_dtype)
                                      : a->bytes;
    a->bytes = bytes;
    a->base = allocator.alloc(bytes ? bytes : 64, allocator.ctx);
    if (a->base == NULL) return -1;
    if (zero) {
        if (zero(a->base, bytes ? bytes : 64, allocator.ctx) != 0) return -1;
    } else {
        memset(a->base, 0, bytes);
    }
    for (int i = 0; i < a->count; i++) a->tensors[i]->data = (char*)a->base + a->offsets[i];
    return 0;
}

void pa_destroy(PArena* a) {
    if (a->base && a->allocator.free) a->allocator.free(a->base, a->allocator.ctx);
    a->base = NULL;
    free(a->tensors);
    free(a->offsets);
    a->tensors = NULL;
    a->offsets = NULL;
    a->count = a->capacity = 0;
}
